"""Sending a slot's checked orders: look up by clOrdId, record a resting order's lifetime, send with expTime,
reconcile a lost answer, poll for fills. The rules are in executor.py's docstring (2-6, 8 and 9 are carried out
here) and, for the record written before each send, in ledger.py."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from okxcore.client import OkxClient
from okxcore.errors import (
    DuplicateClientOrderIdError,
    OkxApiError,
    OkxShieldError,
    OkxTransportError,
    ProxyError,
    RateLimitedError,
    ServiceBusyError,
)
from okxcore.models import Order
from okxcore.trading.ledger import OrderLedgerError, OrderRecord
from okxcore.trading.outcomes import (
    OK_STATUSES,
    PLACED_REASON,
    Clock,
    LegResult,
    LegStatus,
    PlannedOrder,
    Sleep,
)
from okxcore.trading.ports import GuardReader, OrderLedger
from okxcore.trading_guard import TradingGuard

# OKX's clock must be this far past a request's expTime before "no such order" counts as final.
EXPTIME_MARGIN_MS = 1500
RATE_LIMIT_BACKOFF_S = 1.0
# The second send only after an explicit 50011 refusal and a lookup confirming absence.
MAX_SENDS_PER_ORDER = 2
# OkxClient's codes for an answer it could not read (not OKX codes): the order may exist.
UNREADABLE_ANSWER_CODES = frozenset({"parse", "empty"})


def read_guard(guard: GuardReader) -> TradingGuard | str:
    try:
        return guard.trading_guard()
    except Exception as exc:  # any failure to read the guard must stop trading, whatever raised it
        return (
            f"could not read the trading guard ({exc.__class__.__name__}); failing closed, nothing was sent. "
            "Fix: check the state table and the function's permission to read it."
        )


@dataclass
class Execution:
    results: list[LegResult]
    paused_by: TradingGuard | None = None
    stopped: str = ""  # why the remaining orders were not sent
    stopped_by_error: bool = False


def execute(
    client: OkxClient,
    orders: list[PlannedOrder],
    *,
    guard: GuardReader,
    ledger: OrderLedger,
    slot_deadline: float,
    clock: Clock = time.time,
    sleep: Sleep = time.sleep,
) -> Execution:
    """Send the orders in sequence under the rules in the module docstring."""
    execution = Execution(results=[])

    def send_blocker() -> str | None:
        current = read_guard(guard)
        if isinstance(current, str):
            execution.stopped_by_error = True
            return current
        if current.paused:
            execution.paused_by = current
            return f"trading was paused before this order was sent: {current.reason} (since {current.since})"
        if clock() >= slot_deadline:
            return "the slot's caps.max_delay_s ran out before this order could be sent"
        return None

    for planned in orders:
        if execution.stopped:
            execution.results.append(LegResult.for_order(planned, LegStatus.NOT_SENT, reason=execution.stopped))
            continue
        result = _place_recorded(
            client, planned, ledger, send_blocker=send_blocker, slot_deadline=slot_deadline, clock=clock, sleep=sleep
        )
        execution.results.append(result)
        if result.status is LegStatus.NOT_SENT:
            execution.stopped = result.reason
        elif result.status not in OK_STATUSES:
            execution.stopped = (
                f"not sent: leg {planned.leg_index} ({planned.request.inst_id}) ended {result.status.value}, "
                "and no further order is sent in this run"
            )
            execution.stopped_by_error = True
    return execution


def _place_recorded(
    client: OkxClient,
    planned: PlannedOrder,
    ledger: OrderLedger,
    *,
    send_blocker: Callable[[], str | None],
    slot_deadline: float,
    clock: Clock,
    sleep: Sleep,
) -> LegResult:
    """_place_one, with a resting order's ledger record written immediately before each send (ledger.py): an
    order that cannot be recorded is not sent. The leg's result carries the record last written."""
    written: list[OrderRecord] = []

    def record(expires_at_ms: int) -> str | None:
        if planned.lifetime is None:
            return None
        entry = planned.lifetime.model_copy(update={"sent_by_ms": expires_at_ms})
        try:
            ledger.record(entry)
        except OrderLedgerError as exc:
            return exc.message
        written.append(entry)
        return None

    result = _place_one(
        client,
        planned,
        record=record,
        send_blocker=send_blocker,
        slot_deadline=slot_deadline,
        clock=clock,
        sleep=sleep,
    )
    result.record = written[-1] if written else None
    return result


def _place_one(
    client: OkxClient,
    planned: PlannedOrder,
    *,
    record: Callable[[int], str | None],
    send_blocker: Callable[[], str | None],
    slot_deadline: float,
    clock: Clock,
    sleep: Sleep,
) -> LegResult:
    request = planned.request
    earlier = _earlier_order(
        client,
        planned,
        unchecked=lambda exc: LegResult.for_order(
            planned,
            LegStatus.FAILED,
            reason=f"not sent: could not check OKX for an earlier order with this clOrdId ({exc.message})",
            hint=exc.hint,
        ),
    )
    if earlier is not None:
        return earlier
    for attempt in range(1, MAX_SENDS_PER_ORDER + 1):
        blocked = send_blocker()
        if blocked:
            return LegResult.for_order(planned, LegStatus.NOT_SENT, reason=blocked)
        ttl_ms = min(planned.expire_after_s * 1000, int((slot_deadline - clock()) * 1000))
        expires_at_ms = client.now_ms() + ttl_ms
        unrecorded = record(expires_at_ms)
        if unrecorded:
            return LegResult.for_order(
                planned,
                LegStatus.FAILED,
                reason=f"not sent: its lifetime could not be recorded ({unrecorded}), and an order without its "
                "record could outlive its lifetime",
                hint=OrderLedgerError.hint,
            )
        try:
            ack = client.place_order(request, expires_at_ms=expires_at_ms)
        except RateLimitedError as exc:
            refused = _after_rate_limit(client, planned, exc, last=attempt == MAX_SENDS_PER_ORDER, sleep=sleep)
            if refused is not None:
                return refused
            continue  # refused before processing, and confirmed absent: sent once more
        except (OkxApiError, OkxTransportError, ProxyError) as exc:
            return _after_send_error(client, planned, exc, expires_at_ms, sleep=sleep)
        return LegResult.for_order(planned, LegStatus.PLACED, ord_id=ack.ord_id, reason=PLACED_REASON)
    raise AssertionError("unreachable")  # pragma: no cover


def _earlier_order(
    client: OkxClient, planned: PlannedOrder, *, unchecked: Callable[[OkxShieldError], LegResult]
) -> LegResult | None:
    """The leg's result when OKX already has its order (EXISTING), or when it cannot be asked (`unchecked`,
    given the error); None when OKX has no order with this clOrdId, so it may be sent."""
    request = planned.request
    try:
        existing = client.get_order(request.inst_id, cl_ord_id=request.cl_ord_id)
    except OkxShieldError as exc:
        return unchecked(exc)
    return None if existing is None else _existing(planned, existing)


def _after_rate_limit(
    client: OkxClient, planned: PlannedOrder, error: RateLimitedError, *, last: bool, sleep: Sleep
) -> LegResult | None:
    """50011: OKX refused the send before processing it. The leg's result, or None to send it once more (after
    a backoff, and a lookup confirming that the order is absent)."""
    if last:
        return LegResult.for_order(
            planned, LegStatus.FAILED, reason=f"OKX refused it twice: {error.message}", hint=error.hint
        )
    sleep(RATE_LIMIT_BACKOFF_S)
    return _earlier_order(
        client,
        planned,
        unchecked=lambda lookup_error: LegResult.for_order(
            planned,
            LegStatus.FAILED,
            reason=f"OKX refused it ({error.message}); not resent because its absence could not be "
            f"confirmed ({lookup_error.message})",
            hint=error.hint,
        ),
    )


def _after_send_error(
    client: OkxClient, planned: PlannedOrder, error: OkxShieldError, expires_at_ms: int, *, sleep: Sleep
) -> LegResult:
    """The leg's result when the send raised (a rate limit aside): found, reconciled or failed."""
    if isinstance(error, DuplicateClientOrderIdError):
        return _after_duplicate(client, planned, sleep=sleep)
    if isinstance(error, OkxTransportError | ServiceBusyError):
        # Sent, and no definite answer: the order may exist. Find out; never resend here.
        return _reconcile(client, planned, expires_at_ms, cause=error, sleep=sleep)
    if isinstance(error, ProxyError):
        # The tunnel could not be opened, so the request never left: nothing can exist.
        return LegResult.for_order(planned, LegStatus.FAILED, reason=f"not sent: {error.message}", hint=error.hint)
    if isinstance(error, OkxApiError) and error.code in UNREADABLE_ANSWER_CODES:
        # OKX answered, but not legibly: it may have the order.
        return _reconcile(client, planned, expires_at_ms, cause=error, sleep=sleep)
    return LegResult.for_order(planned, LegStatus.FAILED, reason=error.message, hint=error.hint)


def _existing(planned: PlannedOrder, order: Order) -> LegResult:
    return LegResult.for_order(
        planned,
        LegStatus.EXISTING,
        order=order,
        reason="already at OKX under this slot's clOrdId (an earlier delivery placed it): not placed again",
    )


def _after_duplicate(client: OkxClient, planned: PlannedOrder, *, sleep: Sleep) -> LegResult:
    """51016: OKX has a pending order with this clOrdId. Report it; never place again."""
    request = planned.request
    problem = ""
    for _ in range(3):
        try:
            found = client.get_order(request.inst_id, cl_ord_id=request.cl_ord_id)
        except OkxShieldError as exc:
            found, problem = None, exc.message
        if found is not None:
            return _existing(planned, found)
        sleep(0.3)
    return LegResult.for_order(
        planned,
        LegStatus.UNKNOWN,
        reason="OKX answered 51016 (an order with this clOrdId is pending) but the lookup did not return it"
        + (f" ({problem})" if problem else ""),
        hint=f"Look up clOrdId {request.cl_ord_id} in OKX's order history; it was not placed again.",
    )


def _reconcile(
    client: OkxClient, planned: PlannedOrder, expires_at_ms: int, *, cause: OkxShieldError, sleep: Sleep
) -> LegResult:
    """Look the order up until it shows, or until OKX is past its expTime and still has none."""
    request = planned.request
    settled_at_ms = expires_at_ms + EXPTIME_MARGIN_MS
    delay = 0.2
    lookup_error: OkxShieldError | None = None
    while True:
        asked_at_ms = client.now_ms()
        try:
            found = client.get_order(request.inst_id, cl_ord_id=request.cl_ord_id)
            lookup_error = None
        except OkxShieldError as exc:
            found, lookup_error = None, exc
        if found is not None:
            return LegResult.for_order(
                planned,
                LegStatus.PLACED,
                order=found,
                reason=f"placed; the answer was lost ({cause.message}) and the order was found by its clOrdId",
            )
        if asked_at_ms > settled_at_ms:
            break
        sleep(max(0.05, min(delay, (settled_at_ms - client.now_ms()) / 1000 + 0.05)))
        delay = min(delay * 2, 2.0)
    if lookup_error is None:
        return LegResult.for_order(
            planned,
            LegStatus.FAILED,
            reason=f"sent without an answer ({cause.message}); OKX has no order with this clOrdId after its "
            "expTime passed, so it was not placed and cannot appear later. Not resent in this run.",
            hint="Lambda's retry of this slot places it (after looking it up again).",
        )
    return LegResult.for_order(
        planned,
        LegStatus.UNKNOWN,
        reason=f"sent without an answer ({cause.message}), and OKX could not be asked whether it has the order "
        f"({lookup_error.message}). Its expTime has passed, so it cannot be placed late.",
        hint=f"Check OKX's order history for clOrdId {request.cl_ord_id}. A retry of this slot looks it up "
        "before sending anything.",
    )


# --- after sending -------------------------------------------------------------------------------


def poll_fills(
    client: OkxClient, results: list[LegResult], *, wait_s: float, clock: Clock = time.time, sleep: Sleep = time.sleep
) -> None:
    """Refresh placed orders until each is final or `wait_s` has passed (always at least one look)."""
    pending = [r for r in results if r.status in {LegStatus.PLACED, LegStatus.EXISTING}]
    deadline = clock() + wait_s
    while pending:
        for result in list(pending):
            try:
                order = client.get_order(
                    result.inst_id, ord_id=result.ord_id or None, cl_ord_id=None if result.ord_id else result.cl_ord_id
                )
            except OkxShieldError:
                continue  # the report shows the last state known; the order itself is not in doubt
            if order is not None:
                result.order = order
                result.ord_id = order.ord_id
                if order.is_final:
                    pending.remove(result)
        remaining = deadline - clock()
        if not pending or remaining <= 0:
            return
        sleep(min(0.25, remaining))
