"""Ending recorded orders, under the ledger's rules (ledger.py): a run's expired and replaced orders, the scheduled
sweep of every plan's expired orders, and closing a record once OKX's answer settles how its order ended.

Only records are ever canceled, by their clOrdId: what the ledger does not hold (an order placed by hand) is
never looked at. A record names its key by the key's secret, so a plan whose key_secret changed still ends the
orders it placed with the old key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict

from okxcore.client import OkxClient
from okxcore.errors import OkxShieldError
from okxcore.slot import OptionalScheduledTime, Slot, slot_of
from okxcore.trading.ledger import OrderLedgerError, OrderRecord
from okxcore.trading.lifetimes import REASON_EXPIRED, Canceled, cancel_recorded
from okxcore.trading.outcomes import LegResult
from okxcore.trading.plan import LimitLeg, TradePlan
from okxcore.trading.ports import OrderLedger, TradeWiring

# The scheduled sweep reads the records due by this machine's clock plus this much, then decides by OKX's clock
# (the one every lifetime is counted in): a key is asked for OKX's time only when one of its orders is near due.
CLOCK_TOLERANCE_MS = 5 * 60 * 1000
SWEEP_EVENT_VALUE = "expired-orders"


class SweepEvent(BaseModel):
    """The OrderSweep schedule's Input (template.yaml): end every plan's expired orders."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sweep: Literal["expired-orders"]
    scheduled_time: OptionalScheduledTime = None  # "<aws.scheduler.scheduled-time>": names the sweep in logs

    @property
    def slot(self) -> Slot | None:
        return slot_of(self.scheduled_time)


class KeyClients:
    """The OKX client of each key secret a record names, made once (its clock synced with OKX's) per run."""

    def __init__(self, wiring: TradeWiring, first: tuple[str, OkxClient] | None = None) -> None:
        self._wiring = wiring
        self._clients: dict[str, OkxClient] = dict([first]) if first is not None else {}

    def __call__(self, key_secret: str) -> OkxClient:
        if key_secret not in self._clients:
            client = self._wiring.client(self._wiring.load_key(key_secret), key_name=key_secret)
            client.sync_clock()
            self._clients[key_secret] = client
        return self._clients[key_secret]


def end_recorded(
    ledger: OrderLedger,
    clients: Callable[[str], OkxClient],
    records: Iterable[OrderRecord],
    reason: str,
    *,
    dry_run: bool,
) -> list[Canceled]:
    """Cancel each recorded order and close the records whose end OKX confirmed (none in a dry run)."""
    done = []
    for record in records:
        try:
            client = clients(record.key_secret)
        except OkxShieldError as exc:
            done.append(_not_reached(record, reason, exc))
            continue
        canceled = cancel_recorded(client, record, reason, dry_run=dry_run)
        done.append(canceled if dry_run else close_ended(ledger, canceled, client.now_ms()))
    return done


def close_ended(ledger: OrderLedger, canceled: Canceled, now_ms: int) -> Canceled:
    """Close the record when OKX's answer settled how the order ended; a record left open is looked at again."""
    if not canceled.ended or canceled.record is None:
        return canceled
    try:
        ledger.close(canceled.record, canceled.ended, now_ms)
    except OrderLedgerError as exc:
        note = f"; its record stays open ({exc.message}), so the next sweep looks at it again"
        return dataclasses.replace(canceled, outcome=canceled.outcome + note)
    return canceled


def close_settled(ledger: OrderLedger, results: list[LegResult], now_ms: int) -> None:
    """After a run: close the records of the orders it saw end (filled, or canceled by OKX)."""
    for result in results:
        if result.record is not None and result.order is not None and result.order.is_final:
            try:
                ledger.close(result.record, result.order.state, now_ms)
            except OrderLedgerError:
                continue  # the record stays open: the sweep finds the order final at its expiry and closes it


def replaced_by(plan: TradePlan, records: Iterable[OrderRecord], now_ms: int) -> list[OrderRecord]:
    """The plan's open orders that this slot's `replace: true` legs take the place of: earlier slots', not yet
    expired, on a replace leg's instrument and side, whatever leg position placed them."""
    wanted = {(leg.inst_id, leg.side) for leg in plan.legs if isinstance(leg, LimitLeg) and leg.replace}
    return [
        r
        for r in records
        if r.plan_id == plan.plan_id
        and not r.expired(now_ms)
        and r.slot_ms < plan.slot.epoch_ms
        and (r.inst_id, r.side) in wanted
    ]


def releasing(client: OkxClient, plan: TradePlan, records: Iterable[OrderRecord]) -> dict[str, Decimal]:
    """What canceling `records` would make available in the plan's account, per currency (the unfilled rest of
    each order as OKX shows it now; nothing for one it cannot show)."""
    out: dict[str, Decimal] = {}
    for record in records:
        if record.key_secret != plan.key_secret:
            continue  # another key's orders free another account's funds
        try:
            order = client.get_order(record.inst_id, cl_ord_id=record.cl_ord_id)
        except OkxShieldError:
            continue
        remaining = order.remaining_sz if order is not None and order.is_pending else None
        if order is None or not remaining:
            continue
        base, _, quote = record.inst_id.partition("-")
        if record.side == "buy" and order.px is not None:
            out[quote] = out.get(quote, Decimal(0)) + remaining * order.px
        elif record.side == "sell":
            out[base] = out.get(base, Decimal(0)) + remaining
    return out


def sweep_expired(
    ledger: OrderLedger, clients: Callable[[str], OkxClient], *, now_ms: int, plan_id: str | None = None
) -> list[Canceled]:
    """End every expired recorded order (of one plan, or of all): the OrderSweep schedule and `okx-shield orders
    --cancel-expired`. Expired means by OKX's clock, asked per key only for records near due by `now_ms`."""
    due = ledger.open_records(plan_id, expired_by_ms=now_ms + CLOCK_TOLERANCE_MS)
    done: list[Canceled] = []
    for key_secret in sorted({r.key_secret for r in due}):
        mine = [r for r in due if r.key_secret == key_secret]
        try:
            okx_now = clients(key_secret).now_ms()
        except OkxShieldError as exc:
            done.extend(_not_reached(r, REASON_EXPIRED, exc) for r in mine)
            continue
        expired = [r for r in mine if r.expired(okx_now)]
        done.extend(end_recorded(ledger, clients, expired, REASON_EXPIRED, dry_run=False))
    return done


def _not_reached(record: OrderRecord, reason: str, error: OkxShieldError) -> Canceled:
    return Canceled.of(
        record, reason, f"cancel failed: its key secret {record.key_secret} could not be used: {error.describe()}"
    )
