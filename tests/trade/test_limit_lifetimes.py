"""Limit orders that end: lifetimes, cancel of this plan's expired or replaced orders, partial fills kept.

The trade Lambda runs end to end (handler -> real proxy -> simulator, moto for the rest). What is asserted
is the simulator's own order book and balances, and the SNS report a subscriber receives.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from test_trade_executor import client_for
from trade_helpers import UID, load_event

from okxcore.models import OrderRequest
from okxcore.slot import Slot
from okxcore.trading.lifetimes import lifetime_s, order_tag, parse_tag
from okxcore.trading.order_ids import derive_cl_ord_id
from okxcore.trading.plan import parse_plan

PLAN_ID = "eth-dip-bid"  # events/trade-limit.json: post-only buy of 300 USDT of ETH, 0.5% under the bid


def at(seconds_ago: int) -> str:
    moment = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=seconds_ago)
    return moment.isoformat().replace("+00:00", "Z")


def limit_event(scheduled_time: str, **leg_changes: object) -> dict:
    event = load_event("trade-limit.json", fill_wait_s="0.2", scheduled_time=scheduled_time)
    event["legs"][0].update(leg_changes)
    return event


def cl_ord_id(scheduled_time: str) -> str:
    return derive_cl_ord_id(PLAN_ID, Slot.parse(scheduled_time), 0)


def booked(stack) -> dict[str, dict]:
    return {o["clOrdId"]: o for o in stack.sim.orders(UID)}


def test_lifetime_defaults_to_the_next_slot_and_never_passes_the_ceiling():
    plan = parse_plan(limit_event(at(0)))
    leg = plan.legs[0]
    assert lifetime_s(leg, plan, 3600) == 3600  # nothing said: the stack's ceiling
    weekly = plan.model_copy(update={"slot_interval_s": 7 * 86_400})
    assert lifetime_s(leg, weekly, 30 * 86_400) == 7 * 86_400  # until the next slot
    assert lifetime_s(leg, weekly, 86_400) == 86_400  # capped
    own = leg.model_copy(update={"cancel_after_s": 900})
    assert lifetime_s(own, weekly, 86_400) == 900
    assert parse_tag(order_tag(1_767_603_600_000, 900)) == (1_767_603_600_000, 900)
    assert len(order_tag(10**13 - 1, 2_592_000)) <= 16 and parse_tag("6b9ad766b55dBCDE") is None


def test_an_expired_order_is_canceled_at_the_next_run_keeping_its_partial_fill(stack, invoke):
    # Given last slot's order (lifetime 400 s) that filled in part, and someone else's order with a look-alike tag
    first_slot = at(300)
    invoke(limit_event(first_slot, cancel_after_s=400))
    first = cl_ord_id(first_slot)
    stack.sim.fill_order(first, "0.04")
    stack.reports()
    foreign_tag = booked(stack)[first]["tag"]
    foreign = OrderRequest(
        instId="ETH-USDT", side="buy", ordType="limit", px=Decimal(2000), sz=Decimal("0.01"), clOrdId="notours1"
    )
    client_for(stack).place_order(foreign.model_copy(update={"tag": foreign_tag}))
    usdt_before = stack.sim.available_balances(UID)["USDT"]
    # When the next slot runs after that lifetime is over (OKX's clock is 200 s further on)
    stack.sim.faults.clock_offset_ms = 200_000
    second_slot = at(0)
    result = invoke(limit_event(second_slot, cancel_after_s=400))
    # Then the expired order is canceled with its fill kept, the new one rests, the foreign one is untouched
    orders = booked(stack)
    assert (orders[first]["state"], orders[first]["accFillSz"]) == ("canceled", "0.04")
    assert orders[cl_ord_id(second_slot)]["state"] == "live"
    assert orders["notours1"]["state"] == "live"
    [canceled] = result["details"]["canceled"]
    assert (canceled["cl_ord_id"], canceled["filled"], canceled["outcome"]) == (first, "0.04", "canceled")
    remaining = Decimal(orders[first]["sz"]) - Decimal("0.04")
    assert Decimal(canceled["remaining"]) == remaining
    released = remaining * Decimal(orders[first]["px"])
    assert canceled["released"] == f"{released.normalize():f} USDT"
    # And the released funds paid for this slot's order (available USDT: + released - the new order's 300)
    new = orders[cl_ord_id(second_slot)]
    assert stack.sim.available_balances(UID)["USDT"] == usdt_before + released - Decimal(new["sz"]) * Decimal(new["px"])
    [report] = stack.reports()
    assert "Limit orders ended" in report.text and f"released {canceled['released']}" in report.text
    assert "still open" in report.text and "canceled if unfilled at" in report.text


def test_replace_cancels_the_previous_slots_order_before_placing_this_ones(stack, invoke):
    first_slot = at(300)
    invoke(limit_event(first_slot, replace=True))
    second_slot = at(0)
    invoke(limit_event(second_slot, replace=True))
    orders = booked(stack)
    assert orders[cl_ord_id(first_slot)]["state"] == "canceled"
    assert orders[cl_ord_id(second_slot)]["state"] == "live"
    posts = [r.path for r in stack.sim.stats.requests if r.method == "POST"]
    assert posts[-2:] == ["/api/v5/trade/cancel-order", "/api/v5/trade/order"]  # cancel first, then place


def test_without_replace_the_previous_order_stays_until_its_lifetime_is_over(stack, invoke):
    first_slot = at(300)
    invoke(limit_event(first_slot))
    invoke(limit_event(at(0)))
    assert [o["state"] for o in stack.sim.orders(UID)] == ["live", "live"]


def test_a_short_lifetime_is_waited_out_and_canceled_by_the_run_itself(stack, invoke):
    slot = at(0)
    result = invoke(limit_event(slot, cancel_after_s=2))
    order = booked(stack)[cl_ord_id(slot)]
    assert order["state"] == "canceled" and order["cancelSource"] == "1"  # canceled by us, through the API
    [canceled] = result["details"]["canceled"]
    assert canceled["reason"] == "its lifetime ended during this run"


def test_a_dry_run_cancels_nothing_and_says_what_it_would_cancel(stack, invoke):
    first_slot = at(300)
    invoke(limit_event(first_slot, replace=True))
    result = invoke({**limit_event(at(0), replace=True), "dry_run": True})
    assert [o["state"] for o in stack.sim.orders(UID)] == ["live"]
    assert [c["outcome"] for c in result["details"]["canceled"]] == ["would cancel (dry run)"]


@pytest.mark.parametrize("bad", [0, -5, 30 * 86_400 + 1, "soon"])
def test_cancel_after_s_is_checked_naming_the_field(bad):
    from okxcore.trading.plan import PlanValidationError

    with pytest.raises(PlanValidationError, match=r"legs\[0\]\.cancel_after_s"):
        parse_plan(limit_event(at(0), cancel_after_s=bad))


def test_okx_shield_orders_lists_the_plans_orders_and_cancels_only_its_expired_ones(stack, invoke):
    import io

    from trade_helpers import KEY_SECRET

    from handlers.wiring import Wiring
    from okxcli.orders import show_and_cancel

    old_slot, new_slot = at(300), at(0)
    invoke(limit_event(old_slot, cancel_after_s=400))
    invoke(limit_event(new_slot, cancel_after_s=400))
    stack.sim.faults.clock_offset_ms = 150_000  # the old order is past its lifetime, the new one is not
    out = io.StringIO()

    assert show_and_cancel(Wiring.from_environ(), KEY_SECRET, plan_id=PLAN_ID, cancel=True, out=out) == 0

    orders = booked(stack)
    assert (orders[cl_ord_id(old_slot)]["state"], orders[cl_ord_id(new_slot)]["state"]) == ("canceled", "live")
    text = out.getvalue()
    assert f"Open orders of plan {PLAN_ID}, key {KEY_SECRET}: 2" in text
    assert "EXPIRED" in text and "Canceled (expired): 1" in text and cl_ord_id(old_slot) in text
    other = io.StringIO()
    show_and_cancel(Wiring.from_environ(), KEY_SECRET, plan_id="another-plan", cancel=True, out=other)
    assert (
        "Open orders of plan another-plan" in other.getvalue() and booked(stack)[cl_ord_id(new_slot)]["state"] == "live"
    )


def test_okx_shield_orders_refuses_to_cancel_without_a_plan(capsys):
    from okxcli.main import main

    assert main(["orders", "--key-secret", "okx-shield/keys/bot-main", "--cancel-expired"]) == 2
    assert "--plan" in capsys.readouterr().err
