"""Whose orders a trade run ends (issue 18, items 1 and 2): the order ledger, not the plan's current legs.

Each scenario went wrong before: an order placed by one version of a plan outlived its lifetime once the plan was
edited (a leg inserted, removed or moved) or deleted; a rejected plan with `replace: true` had already canceled
the previous slot's bid. The trade Lambda runs end to end (handler -> real proxy -> simulator, moto for the state
table and SNS); what is asserted is the simulator's order book, the state table and the report a subscriber gets.
"""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from test_limit_lifetimes import PLAN_ID, at, booked, cl_ord_id, limit_event
from test_trade_executor import OneClient, client_for
from trade_helpers import KEY_SECRET, UID, load_event

from handlers.wiring import Wiring
from okxcore.models import OrderRequest
from okxcore.slot import Slot
from okxcore.trading.executor import LegStatus, RunStatus, run_plan
from okxcore.trading.order_ids import derive_cl_ord_id
from okxcore.trading.plan import parse_plan

MARKET_LEG = {"kind": "market", "inst_id": "BTC-USDT", "side": "buy", "quote_amount": "50"}
SWEEP = {"sweep": "expired-orders", "scheduled_time": "2026-01-05T09:15:00Z"}


def cancels(stack) -> int:
    return sum(1 for r in stack.sim.stats.requests if r.path == "/api/v5/trade/cancel-order")


def resting_by_hand(stack, cl_ord_id_: str = "byhand1") -> str:
    """An order a person placed on the same account and instrument (no okx-shield record)."""
    order = OrderRequest(
        instId="ETH-USDT", side="buy", ordType="limit", px=Decimal(2500), sz=Decimal("0.01"), clOrdId=cl_ord_id_
    )
    client_for(stack).place_order(order)
    return cl_ord_id_


def orders_listing(plan_id: str) -> str:
    from okxcli.orders import show_and_cancel

    out = io.StringIO()
    assert show_and_cancel(Wiring.from_environ(), KEY_SECRET, plan_id=plan_id, cancel=False, out=out) == 0
    return out.getvalue()


def market_first(event: dict) -> dict:
    return {**event, "legs": [MARKET_LEG, *event["legs"]]}


def limit_removed(event: dict) -> dict:
    return {**event, "legs": [MARKET_LEG]}


def limit_on_btc(event: dict) -> dict:
    leg = {**event["legs"][0], "inst_id": "BTC-USDT", "quote_amount": "100"}
    return {**event, "legs": [leg]}


@pytest.mark.parametrize("edit", [market_first, limit_removed, limit_on_btc], ids=lambda f: f.__name__)
def test_an_order_of_an_earlier_plan_version_is_ended_when_its_lifetime_is_over(stack, invoke, edit):
    # Given the plan's limit order at leg 0 (lifetime 400 s), and an order someone placed by hand
    first_slot = at(300)
    invoke(limit_event(first_slot, cancel_after_s=400))
    first = cl_ord_id(first_slot)
    by_hand = resting_by_hand(stack)
    # And the plan edited under the same plan_id, its lifetime over by OKX's clock
    stack.sim.faults.clock_offset_ms = 200_000
    listed = orders_listing(PLAN_ID)
    assert first in listed and "EXPIRED, OKX state live" in listed  # the ledger knows it, whatever the plan says now

    # When the edited plan's next slot runs
    result = invoke(edit(limit_event(at(0), cancel_after_s=400)))

    # Then the order the earlier version placed was canceled, and the one placed by hand is untouched
    orders = booked(stack)
    assert orders[first]["state"] == "canceled"
    assert orders[by_hand]["state"] == "live"
    assert [c["cl_ord_id"] for c in result["details"]["canceled"]] == [first]
    # And `okx-shield orders --plan` no longer lists it: what it lists is what is true
    assert first not in orders_listing(PLAN_ID)


def test_a_deleted_plans_expired_order_is_ended_by_the_scheduled_sweep(stack, invoke):
    # Given a plan's order (lifetime 400 s), another plan's order still within its lifetime, and one placed by hand
    first_slot = at(300)
    invoke(limit_event(first_slot, cancel_after_s=400))
    other_slot = at(10)
    invoke({**limit_event(other_slot, cancel_after_s=3600), "plan_id": "other-plan"})
    by_hand = resting_by_hand(stack)
    stack.reports()
    # And the first plan deleted (it never runs again), its order's lifetime over by OKX's clock
    stack.sim.faults.clock_offset_ms = 200_000

    # When the OrderSweep schedule runs
    result = invoke(dict(SWEEP))

    # Then only the deleted plan's expired order was canceled
    orders = booked(stack)
    assert orders[cl_ord_id(first_slot)]["state"] == "canceled"
    assert orders[derive_cl_ord_id("other-plan", Slot.parse(other_slot), 0)]["state"] == "live"
    assert orders[by_hand]["state"] == "live"
    assert result["ended"] == 1 and result["failed"] == 0
    # And one report says which plan's order was ended, and why
    [report] = stack.reports()
    assert "Order sweep" in report.subject and PLAN_ID in report.subject
    assert "its lifetime is over" in report.body
    # And a second sweep has nothing to do: no call to cancel, no report
    before = cancels(stack)
    assert invoke(dict(SWEEP))["ended"] == 0
    assert cancels(stack) == before and stack.reports() == []


def test_an_order_sent_just_before_a_crash_is_found_from_its_record(stack, invoke):
    # Given a run that dies right after OKX accepted its limit order (before it could note anything)
    class Crash(Exception):
        pass

    def die_after_the_order(_label: str) -> None:
        last = stack.sim.stats.requests[-1]
        if last.method == "POST" and last.path == "/api/v5/trade/order":
            raise Crash("the function died")

    slot = at(300)
    plan = parse_plan(limit_event(slot, cancel_after_s=400))
    with pytest.raises(Crash):
        run_plan(plan, OneClient(client_for(stack, die_after_the_order)))
    assert booked(stack)[cl_ord_id(slot)]["state"] == "live"
    # Then its record was in the ledger before the order could exist, with its lifetime
    [record] = Wiring.from_environ().orders.open_records(PLAN_ID)
    assert record.cl_ord_id == cl_ord_id(slot) and record.expires_ms == Slot.parse(slot).epoch_ms + 400_000

    # And when the plan is gone and the order's lifetime is over, the sweep ends it
    stack.sim.faults.clock_offset_ms = 200_000
    assert invoke(dict(SWEEP))["ended"] == 1
    assert booked(stack)[cl_ord_id(slot)]["state"] == "canceled"
    assert Wiring.from_environ().orders.open_records(PLAN_ID) == []


def test_an_order_whose_lifetime_cannot_be_recorded_is_not_sent(stack):
    from okxcore.aws.order_ledger import DynamoOrderLedger
    from okxcore.trading.ledger import OrderLedgerError

    class RefusingLedger(DynamoOrderLedger):
        """The stack's ledger, whose writes the state table refuses (reads work)."""

        def record(self, record):  # type: ignore[no-untyped-def]
            raise OrderLedgerError("recording order failed: ProvisionedThroughputExceededException (injected)")

    plan = parse_plan(limit_event(at(0)))
    wiring = OneClient(client_for(stack), orders=RefusingLedger(Wiring.from_environ().settings.state_table_name))

    run = run_plan(plan, wiring)

    assert booked(stack) == {}  # OKX never saw the order
    [leg] = run.legs
    assert leg.status is LegStatus.FAILED and "could not be recorded" in leg.reason
    assert run.status is RunStatus.FAILED and run.must_retry


def with_unknown_second_leg(event: dict) -> dict:
    return {**event, "legs": [*event["legs"], {**MARKET_LEG, "inst_id": "NOPE-USDT"}]}


def test_a_rejected_plan_cancels_nothing_it_would_have_replaced(stack, invoke):
    # Given last slot's resting bid, replace: true, well within its lifetime
    first_slot = at(300)
    invoke(limit_event(first_slot, replace=True))
    stack.reports()
    before = cancels(stack)

    # When the next slot's plan names an unknown instrument in its second leg
    with pytest.raises(Exception, match="rejected"):
        invoke(with_unknown_second_leg(limit_event(at(0), replace=True)))

    # Then OKX saw no cancel and no order: the previous bid still rests
    assert cancels(stack) == before
    assert booked(stack)[cl_ord_id(first_slot)]["state"] == "live" and len(booked(stack)) == 1
    [report] = stack.reports()
    assert "nothing was sent and no order was replaced" in report.body


def test_a_rejected_plan_still_ends_expired_orders_and_says_so(stack, invoke):
    first_slot = at(300)
    invoke(limit_event(first_slot, cancel_after_s=400))
    stack.reports()
    stack.sim.faults.clock_offset_ms = 200_000

    with pytest.raises(Exception, match="rejected"):
        invoke(with_unknown_second_leg(limit_event(at(0), cancel_after_s=400)))

    assert booked(stack)[cl_ord_id(first_slot)]["state"] == "canceled"
    [report] = stack.reports()
    assert "1 order(s) of this plan past their lifetime were ended all the same" in report.body


def test_replace_follows_the_instrument_and_side_not_the_leg_position(stack, invoke):
    # Given last slot's bid placed by leg 0
    first_slot = at(300)
    invoke(limit_event(first_slot, replace=True))
    # When the plan now has a market leg first, the same replace bid at leg 1
    second_slot = at(0)
    invoke(market_first(limit_event(second_slot, replace=True)))
    # Then the old bid made way for the new one
    orders = booked(stack)
    assert orders[cl_ord_id(first_slot)]["state"] == "canceled"
    assert orders[derive_cl_ord_id(PLAN_ID, Slot.parse(second_slot), 1)]["state"] == "live"


def test_replace_counts_the_funds_the_replaced_order_frees_and_cancels_it_only_then(stack, invoke):
    # Given 400 USDT, 300 of them frozen by last slot's bid
    stack.sim.set_balance(UID, "USDT", "400")
    first_slot = at(300)
    invoke(limit_event(first_slot, replace=True))
    assert stack.sim.available_balances(UID)["USDT"] < 300
    # When the next slot replaces it
    second_slot = at(0)
    result = invoke(limit_event(second_slot, replace=True))
    # Then the checks counted the bid's 300 USDT as available, canceled it, then placed the new bid
    assert result["status"] == "DONE"
    orders = booked(stack)
    assert (orders[cl_ord_id(first_slot)]["state"], orders[cl_ord_id(second_slot)]["state"]) == ("canceled", "live")
    posts = [r.path for r in stack.sim.stats.requests if r.method == "POST"]
    assert posts[-2:] == ["/api/v5/trade/cancel-order", "/api/v5/trade/order"]


def test_a_market_plan_records_nothing(stack, invoke):
    invoke(load_event("trade-dca.json"))
    assert Wiring.from_environ().orders.open_records() == []


def test_a_slot_delivered_again_with_an_edited_plan_places_no_second_order_for_a_leg(stack):
    # Given slot S placed by the plan as it was: a bid on ETH at leg 0, since filled (so OKX itself would take
    # another order under its clOrdId: only pending orders must have unique ones)
    slot = at(60)
    run_plan(parse_plan(limit_event(slot)), OneClient(client_for(stack)))
    stack.sim.fill_order(cl_ord_id(slot))
    # When slot S runs again with the plan edited so that leg 0 bids on BTC (a failed slot delivered again
    # after the edit: the idempotency record was released, so only the ledger stands in the way)
    edited = limit_event(slot)
    edited["legs"][0].update(inst_id="BTC-USDT", quote_amount="100")
    run = run_plan(parse_plan(edited), OneClient(client_for(stack)))
    # Then OKX has one order for the slot's leg 0, the first; the edited leg was not sent and says why
    assert [o["instId"] for o in stack.sim.orders(UID) if o["clOrdId"] == cl_ord_id(slot)] == ["ETH-USDT"]
    [leg] = run.legs
    assert leg.status is LegStatus.FAILED and "another version of the plan" in leg.reason
