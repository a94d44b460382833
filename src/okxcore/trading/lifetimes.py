"""Limit orders that end: each resting order's lifetime, the tag that carries it, and canceling this plan's
own expired or replaced orders.

OKX keeps a resting limit order until it fills or is canceled (expTime only bounds the request), so a
weekly post-only order that never fills would freeze its funds for good, and the next slot would place
another beside it. Each limit order therefore gets a lifetime (`cancel_after_s`, by default until the plan's
next slot, never over the stack-wide ceiling), and the trade run cancels what outlived it:
- at the start of every run: this plan's orders that are past their lifetime, and with `replace: true` the
  previous slots' orders of that leg (so at most one order per leg is open);
- at the end of the polling window, an order whose lifetime is short enough to wait out in the run itself.
Partial fills stay filled: only the unfilled rest is canceled, and the report says how much.

How an order is known to be this plan's: its OKX `tag` (at most 16 letters and digits) carries the slot
and the lifetime, "ol" + the slot's epoch ms (9 base-36 digits) + the lifetime in seconds (base 36). A tag
proves nothing by itself (anyone can write one), so an order counts as this plan's only when its clOrdId
equals the one order_ids.py derives for this plan, that slot and one of the plan's limit legs. No other
order is ever canceled.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from okxcore.client import OkxClient
from okxcore.errors import OkxShieldError
from okxcore.models import CancelOutcome, Order
from okxcore.trading.order_ids import derive_cl_ord_id
from okxcore.trading.outcomes import LegResult, LegStatus, PlannedOrder
from okxcore.trading.plan import MAX_LEGS, LimitLeg, TradePlan
from okxcore.trading.slot import Slot

TAG_PREFIX = "ol"
_SLOT_DIGITS = 9  # base-36 epoch ms: enough until the year 4000
_TAG_RE = re.compile(rf"^{TAG_PREFIX}([0-9a-z]{{{_SLOT_DIGITS}}})([0-9a-z]{{1,5}})$")
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Stack-wide ceiling on a limit order's lifetime when the stack sets none (LIMIT_ORDER_MAX_LIFETIME_S).
DEFAULT_MAX_LIFETIME_S = 7 * 86_400
# A lifetime this short ends while the run is still there: the run waits it out and cancels the rest.
SHORT_LIFETIME_S = 20

REASON_EXPIRED = "its lifetime is over"
REASON_REPLACED = "replace: true, this slot's order takes its place"
REASON_SHORT = "its lifetime ended during this run"


def lifetime_s(leg: LimitLeg, plan: TradePlan, max_lifetime_s: int) -> int:
    """The leg's own cancel_after_s, else until the plan's next slot, never over the ceiling."""
    wanted = leg.cancel_after_s or plan.slot_interval_s or max_lifetime_s
    return min(wanted, max_lifetime_s)


def _base36(value: int) -> str:
    text = ""
    while True:
        value, digit = divmod(value, 36)
        text = _DIGITS[digit] + text
        if not value:
            return text


def order_tag(slot_ms: int, lifetime: int) -> str:
    return TAG_PREFIX + _base36(slot_ms).rjust(_SLOT_DIGITS, "0") + _base36(lifetime)


def parse_tag(tag: str) -> tuple[int, int] | None:
    """(slot epoch ms, lifetime s) from one of our tags; None for any other tag."""
    match = _TAG_RE.fullmatch(tag)
    return (int(match.group(1), 36), int(match.group(2), 36)) if match else None


def with_lifetimes(orders: list[PlannedOrder], plan: TradePlan, max_lifetime_s: int) -> list[PlannedOrder]:
    """The planned orders, each limit order tagged with its slot and lifetime."""
    slot_ms = plan.slot.epoch_ms
    tagged = []
    for planned in orders:
        leg = plan.legs[planned.leg_index]
        if isinstance(leg, LimitLeg):
            tag = order_tag(slot_ms, lifetime_s(leg, plan, max_lifetime_s))
            planned = dataclasses.replace(planned, request=planned.request.model_copy(update={"tag": tag}))
        tagged.append(planned)
    return tagged


def expiry_ms(order: Order) -> int | None:
    parsed = parse_tag(order.tag)
    return None if parsed is None else parsed[0] + parsed[1] * 1000


def slot_time(slot_ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=slot_ms)


def iso_ms(epoch_ms: int) -> str:
    return slot_time(epoch_ms).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class OwnOrder:
    order: Order
    leg_index: int
    slot_ms: int
    expires_at_ms: int


def own_orders(plan_id: str, legs: dict[int, str] | None, pending: list[Order]) -> list[OwnOrder]:
    """The orders among `pending` whose clOrdId re-derives from this plan (legs: leg index -> instId; None:
    any leg of any instrument, when only the plan's id is known)."""
    mine = []
    for order in pending:
        parsed = parse_tag(order.tag)
        if parsed is None:
            continue
        slot_ms, life = parsed
        candidates = legs if legs is not None else dict.fromkeys(range(MAX_LEGS), order.inst_id)
        for index, inst_id in candidates.items():
            if inst_id == order.inst_id and derive_cl_ord_id(plan_id, Slot(slot_ms), index) == order.cl_ord_id:
                mine.append(OwnOrder(order, index, slot_ms, slot_ms + life * 1000))
                break
    return mine


def limit_legs(plan: TradePlan) -> dict[int, str]:
    return {index: leg.inst_id for index, leg in enumerate(plan.legs) if isinstance(leg, LimitLeg)}


@dataclass(frozen=True)
class Canceled:
    """One of this plan's orders that a run canceled (or, in a dry run, would cancel)."""

    leg_index: int
    inst_id: str
    side: str
    cl_ord_id: str
    slot: str
    reason: str
    outcome: str  # "canceled", "filled before the cancel", "not found", "would cancel (dry run)", or the error
    filled: Decimal | None = None
    remaining: Decimal | None = None
    released: str = ""  # e.g. "250 USDT" freed for other orders
    order: Order | None = dataclasses.field(default=None, compare=False)  # as OKX reports it afterwards

    @property
    def ok(self) -> bool:
        return not self.outcome.startswith("cancel failed")


def cancel_own(client: OkxClient, own: OwnOrder, reason: str, *, dry_run: bool) -> Canceled:
    order = own.order
    base = Canceled(
        leg_index=own.leg_index,
        inst_id=order.inst_id,
        side=order.side,
        cl_ord_id=order.cl_ord_id,
        slot=Slot(own.slot_ms).iso,
        reason=reason,
        outcome="",
    )
    if dry_run:
        return _with_amounts(dataclasses.replace(base, outcome="would cancel (dry run)"), order)
    try:
        outcome = client.cancel_order(order.inst_id, cl_ord_id=order.cl_ord_id)
        after = _final(client, outcome) or order
    except OkxShieldError as exc:
        return dataclasses.replace(base, outcome=f"cancel failed: {exc.describe()}")
    if outcome.state == "not_found":
        return dataclasses.replace(base, outcome="not found at OKX")
    if after.state == "filled":
        return dataclasses.replace(
            base, outcome="filled before the cancel", filled=after.acc_fill_sz, remaining=Decimal(0), order=after
        )
    return _with_amounts(dataclasses.replace(base, outcome=after.state or "canceled", order=after), after)


def _final(client: OkxClient, outcome: CancelOutcome) -> Order | None:
    """The order after the cancel, as OKX reports it (a cancel answer alone says nothing of fills)."""
    if outcome.order is not None and outcome.order.is_final:
        return outcome.order
    if outcome.state == "not_found":
        return None
    return client.get_order(outcome.inst_id, cl_ord_id=outcome.cl_ord_id)


def _with_amounts(canceled: Canceled, order: Order) -> Canceled:
    """Filled and remaining size, and the funds the unfilled rest had frozen."""
    remaining = order.remaining_sz
    released = ""
    if remaining is not None and remaining > 0:
        base, _, quote = order.inst_id.partition("-")
        if order.side == "buy" and order.px is not None:
            released = f"{(remaining * order.px).normalize():f} {quote}"
        elif order.side == "sell":
            released = f"{remaining.normalize():f} {base}"
    filled = order.acc_fill_sz or Decimal(0)
    return dataclasses.replace(canceled, filled=filled, remaining=remaining, released=released)


def sweep(client: OkxClient, plan: TradePlan, *, dry_run: bool) -> list[Canceled]:
    """At the start of a run: cancel this plan's expired orders, and the earlier slots' orders of `replace` legs."""
    legs = limit_legs(plan)
    if not legs:
        return []
    pending = [order for inst_id in sorted(set(legs.values())) for order in client.pending_orders(inst_id)]
    now_ms = client.now_ms()
    this_slot = plan.slot.epoch_ms
    done = []
    for own in own_orders(plan.plan_id, legs, pending):
        leg = plan.legs[own.leg_index]
        assert isinstance(leg, LimitLeg)
        if own.expires_at_ms <= now_ms:
            done.append(cancel_own(client, own, REASON_EXPIRED, dry_run=dry_run))
        elif leg.replace and own.slot_ms < this_slot:
            done.append(cancel_own(client, own, REASON_REPLACED, dry_run=dry_run))
    return done


def end_short_lived(client: OkxClient, plan: TradePlan, results: list[LegResult]) -> list[Canceled]:
    """After polling: cancel the orders this run placed whose lifetime is over (short lifetimes)."""
    legs = limit_legs(plan)
    now_ms = client.now_ms()
    done = []
    for result in results:
        order = result.order
        if result.leg_index not in legs or result.status not in {LegStatus.PLACED, LegStatus.EXISTING}:
            continue
        if order is None or not order.is_pending:
            continue
        expires = expiry_ms(order)
        if expires is not None and expires <= now_ms:
            own = OwnOrder(order, result.leg_index, plan.slot.epoch_ms, expires)
            canceled = cancel_own(client, own, REASON_SHORT, dry_run=False)
            done.append(canceled)
            result.order = canceled.order or order
    return done


def short_wait_s(plan: TradePlan, results: list[LegResult], now_ms: int) -> float:
    """How long to keep polling so that short lifetimes end inside the run (0 when none is short)."""
    ends = [
        expires
        for result in results
        if result.order is not None
        and result.order.is_pending
        and (expires := expiry_ms(result.order)) is not None
        and expires - plan.slot.epoch_ms <= SHORT_LIFETIME_S * 1000
    ]
    return max(0.0, (max(ends) - now_ms) / 1000) if ends else 0.0
