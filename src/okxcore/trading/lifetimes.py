"""Limit orders that end: each resting order's lifetime, the tag that carries it for people, and canceling one
recorded order.

OKX keeps a resting limit order until it fills or is canceled (expTime only bounds the request), so a weekly
post-only order that never fills would freeze its funds for good, and the next slot would place another beside
it. Each limit order therefore gets a lifetime (`cancel_after_s`, by default until the plan's next slot, never
over the stack-wide ceiling), recorded in the order ledger before the order is sent (ledger.py: whose orders
these are, and why nothing else is ever canceled). What outlived it is ended (sweep.py):
- at the start of every run: the plan's recorded orders past their lifetime, whatever version placed them;
- with `replace: true`, once the plan has passed its checks: the plan's earlier slots' open orders on that
  leg's instrument and side, so that at most one of them is open;
- at the end of the polling window: an order whose lifetime is short enough to wait out in the run itself;
- every 15 minutes (the OrderSweep schedule): every plan's expired orders, for plans deleted or renamed.
Partial fills stay filled: only the unfilled rest is canceled, and the report says how much.

The OKX `tag` (at most 16 letters and digits) carries the slot and the lifetime, "ol" + the slot's epoch ms
(9 base-36 digits) + the lifetime in seconds (base 36), so that a person looking at OKX sees them. It decides
nothing: anyone can write a tag, and only the ledger says whose an order is.
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
from okxcore.slot import Slot
from okxcore.trading.ledger import RESTING_ORDER_TYPES, OrderRecord
from okxcore.trading.outcomes import LegResult, PlannedOrder
from okxcore.trading.plan import LimitLeg, TradePlan

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
    """The planned orders, each limit order tagged with its slot and lifetime and given the ledger record that
    execute.py writes before sending it (ledger.py)."""
    slot_ms = plan.slot.epoch_ms
    fingerprint = plan.fingerprint()
    tagged = []
    for planned in orders:
        leg = plan.legs[planned.leg_index]
        if isinstance(leg, LimitLeg) and planned.request.ord_type in RESTING_ORDER_TYPES:
            life = lifetime_s(leg, plan, max_lifetime_s)
            request = planned.request.model_copy(update={"tag": order_tag(slot_ms, life)})
            record = OrderRecord(
                cl_ord_id=request.cl_ord_id,
                plan_id=plan.plan_id,
                fingerprint=fingerprint,
                key_secret=plan.key_secret,
                inst_id=request.inst_id,
                side=request.side,
                slot_ms=slot_ms,
                leg_index=planned.leg_index,
                expires_ms=slot_ms + life * 1000,
                sent_by_ms=0,  # set by each send (execute.py)
            )
            planned = dataclasses.replace(planned, request=request, lifetime=record)
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
class Canceled:
    """One recorded order that a run or the sweep canceled (or, in a dry run, would cancel)."""

    leg_index: int  # where its leg stood when it was placed
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
    plan_id: str = ""
    ended: str = ""  # how the order ended, when OKX's answer settles it ("" keeps its record open)
    record: OrderRecord | None = dataclasses.field(default=None, compare=False)  # the ledger's, as read

    @property
    def ok(self) -> bool:
        return not self.outcome.startswith("cancel failed")

    @classmethod
    def of(cls, record: OrderRecord, reason: str, outcome: str = "") -> Canceled:
        """A recorded order's cancel, before (or without) OKX's answer."""
        return cls(
            leg_index=record.leg_index,
            inst_id=record.inst_id,
            side=record.side,
            cl_ord_id=record.cl_ord_id,
            slot=Slot(record.slot_ms).iso,
            reason=reason,
            outcome=outcome,
            plan_id=record.plan_id,
            record=record,
        )


def cancel_recorded(client: OkxClient, record: OrderRecord, reason: str, *, dry_run: bool) -> Canceled:
    """Cancel one recorded order by its clOrdId (the unfilled rest; a fill stays), and say how it ended."""
    base = Canceled.of(record, reason)
    if dry_run:
        found = _lookup(client, record)
        would = "would cancel (dry run)" if found is None or found.is_pending else f"already {found.state}"
        done = dataclasses.replace(base, outcome=would)
        return _with_amounts(done, found) if found is not None else done
    try:
        outcome = client.cancel_order(record.inst_id, cl_ord_id=record.cl_ord_id)
        after = _final(client, outcome)
    except OkxShieldError as exc:
        return dataclasses.replace(base, outcome=f"cancel failed: {exc.describe()}")
    if outcome.state == "not_found":
        # No such order: final only once no send of it can still arrive (ledger.py).
        settled = "" if record.may_still_appear(client.now_ms()) else "not placed"
        return dataclasses.replace(base, outcome="not found at OKX", ended=settled)
    if after is None:
        return dataclasses.replace(base, outcome="cancel requested; OKX does not show it yet")
    if after.state == "filled":
        return dataclasses.replace(
            base,
            outcome="filled before the cancel",
            filled=after.acc_fill_sz,
            remaining=Decimal(0),
            order=after,
            ended="filled",
        )
    ended = after.state if after.is_final else ""
    return _with_amounts(dataclasses.replace(base, outcome=after.state or "canceled", order=after, ended=ended), after)


def _lookup(client: OkxClient, record: OrderRecord) -> Order | None:
    try:
        return client.get_order(record.inst_id, cl_ord_id=record.cl_ord_id)
    except OkxShieldError:
        return None


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


def end_short_lived(client: OkxClient, results: list[LegResult]) -> list[Canceled]:
    """After polling: cancel the orders this run placed whose lifetime is over (short lifetimes)."""
    now_ms = client.now_ms()
    done = []
    for result in results:
        order, record = result.order, result.record
        if record is None or order is None or not order.is_pending or not record.expired(now_ms):
            continue
        canceled = cancel_recorded(client, record, REASON_SHORT, dry_run=False)
        done.append(canceled)
        result.order = canceled.order or order
    return done


def short_wait_s(results: list[LegResult], now_ms: int) -> float:
    """How long to keep polling so that short lifetimes end inside the run (0 when none is short)."""
    ends = [
        result.record.expires_ms
        for result in results
        if result.record is not None
        and result.order is not None
        and result.order.is_pending
        and result.record.expires_ms - result.record.slot_ms <= SHORT_LIFETIME_S * 1000
    ]
    return max(0.0, (max(ends) - now_ms) / 1000) if ends else 0.0
