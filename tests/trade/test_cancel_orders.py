"""The client's cancel-order and orders-pending against the simulator, through the real proxy.

Every assertion is on what the simulator booked (order states, frozen funds), not on our own return values
alone: a cancel that only looked right in our code would fail here.
"""

from __future__ import annotations

from decimal import Decimal

from test_trade_executor import client_for
from trade_helpers import UID

from okxcore.models import OrderRequest


def resting_buy(cl_ord_id: str, px: str = "50000", sz: str = "0.01") -> OrderRequest:
    # 50000 is under the simulator's ask (60010): the order rests and freezes px * sz USDT.
    return OrderRequest(
        instId="BTC-USDT", side="buy", ordType="limit", sz=Decimal(sz), px=Decimal(px), clOrdId=cl_ord_id
    )


def test_pending_orders_lists_resting_orders_and_a_cancel_releases_their_funds(stack):
    client = client_for(stack)
    before = stack.sim.available_balances(UID)["USDT"]
    client.place_order(resting_buy("cancelme1"))
    client.place_order(resting_buy("keepme1", px="49000"))
    assert stack.sim.available_balances(UID)["USDT"] == before - 500 - 490

    pending = client.pending_orders("BTC-USDT")
    assert [o.cl_ord_id for o in pending] == ["keepme1", "cancelme1"]  # newest first, as OKX lists them

    outcome = client.cancel_order("BTC-USDT", cl_ord_id="cancelme1")
    assert outcome.state == "requested" and outcome.ord_id
    booked = {o["clOrdId"]: o for o in stack.sim.orders(UID)}
    assert booked["cancelme1"]["state"] == "canceled"
    assert booked["keepme1"]["state"] == "live"
    assert stack.sim.available_balances(UID)["USDT"] == before - 490
    assert [o.cl_ord_id for o in client.pending_orders()] == ["keepme1"]


def test_cancelling_a_filled_canceled_or_unknown_order_is_a_state_not_an_error(stack):
    client = client_for(stack)
    client.place_order(resting_buy("twice1"))
    assert client.cancel_order("BTC-USDT", cl_ord_id="twice1").state == "requested"

    again = client.cancel_order("BTC-USDT", cl_ord_id="twice1")  # a retried cancel
    assert again.state == "already_final" and again.order is not None and again.order.state == "canceled"

    client.place_order(resting_buy("filled1"))
    stack.sim.fill_order("filled1")
    filled = client.cancel_order("BTC-USDT", cl_ord_id="filled1")
    assert filled.state == "already_final" and filled.order is not None and filled.order.state == "filled"

    assert client.cancel_order("BTC-USDT", cl_ord_id="neverplaced1").state == "not_found"
    cancels = [r for r in stack.sim.stats.requests if r.path == "/api/v5/trade/cancel-order"]
    assert [r.code for r in cancels] == ["0", "1", "1", "1"]  # OKX's answers: one accepted, three 51400


def test_a_partly_filled_order_keeps_its_fill_when_the_rest_is_canceled(stack):
    client = client_for(stack)
    client.place_order(resting_buy("partial1", sz="0.01"))
    stack.sim.fill_order("partial1", "0.004")

    assert client.cancel_order("BTC-USDT", cl_ord_id="partial1").state == "requested"
    order = client.get_order("BTC-USDT", cl_ord_id="partial1")
    assert order is not None and order.state == "canceled"
    assert order.acc_fill_sz == Decimal("0.004") and order.remaining_sz == Decimal("0.006")
    booked = next(o for o in stack.sim.orders(UID) if o["clOrdId"] == "partial1")
    assert (booked["state"], booked["accFillSz"]) == ("canceled", "0.004")


def test_a_lost_cancel_answer_is_reconciled_by_looking_the_order_up(stack):
    client = client_for(stack)
    client.place_order(resting_buy("lost1"))
    stack.sim.faults.drop_after_cancel = 1  # OKX cancels, then the answer never arrives

    outcome = client.cancel_order("BTC-USDT", cl_ord_id="lost1")

    assert outcome.state == "already_final" and outcome.order is not None and outcome.order.state == "canceled"
    seen = [
        (r.method, r.path.split("?")[0])
        for r in stack.sim.stats.requests
        if "trade/order" in r.path or "cancel" in r.path
    ]
    assert seen[-2:] == [("POST", "/api/v5/trade/cancel-order"), ("GET", "/api/v5/trade/order")]
