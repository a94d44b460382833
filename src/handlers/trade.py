"""The scheduled trade Lambda: one slot of a DCA / limit / rebalance plan, placed exactly once.

Input: the EventBridge Scheduler Input, EVENT_MODEL (okxcore.trading.plan.TradePlan), with
"scheduled_time": "<aws.scheduler.scheduled-time>" in the schedule; examples in events/trade-*.json.
The exactly-once rules are in okxcore/trading/executor.py; Powertools idempotency runs a slot once
(handlers/trade_slots.py), and what each way a delivery ends means is okxcore/trading/delivery.py.

What raises (Scheduler invokes asynchronously, so a raise means two Lambda retries, then the DLQ):
- Invalid event: CRITICAL report, then PlanValidationError. Retries cannot fix it and repeat the report
  (at most three); none of them touches OKX.
- Plan rejected by a pre-check (unknown instrument, size under minSz, caps, balance, demo mismatch): CRITICAL
  report; the result is stored as the slot's outcome and TradePlanRejectedError is raised. A retry replays
  the stored result and raises again, with no new report and no OKX call.
- Trading paused, or the delivery came after caps.max_delay_s: CRITICAL report, stored, returned (no
  raise): deliberate skips that retrying cannot change.
- Run failed (proxy down, key secret malformed, an order refused or of unknown outcome): CRITICAL report,
  then TradeRunFailedError raised inside the idempotent section, which releases the slot: Lambda's retry
  runs it again, and every order is looked up by clOrdId before anything is sent.
- A concurrent duplicate (IdempotencyAlreadyInProgressError): sends nothing, publishes nothing (the running
  invocation reports), returns status IN_PROGRESS.
- The same slot with a changed plan (IdempotencyValidationError: the record's fingerprint differs): CRITICAL
  report, then TradePlanConflictError; nothing is sent. Duplicates are recognised by the canonical slot, so
  any spelling of the instant is the same slot (okxcore/slot.py).

The OrderSweep schedule's Input, {"sweep": "expired-orders", ...} (okxcore.trading.sweep.SweepEvent), ends every
plan's limit orders past their lifetime from the order ledger (okxcore/trading/ledger.py), plans deleted or
renamed included. It reports only when it ended or failed to end something (a run with nothing due is a Query),
does nothing while trading is paused, and never raises: the next sweep, 15 minutes later, tries again.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import RootModel, ValidationError

from handlers.observability import add_metrics, logger, metrics
from handlers.trade_slots import IdempotentSlots
from handlers.wiring import Wiring
from okxcore.errors import OkxShieldError
from okxcore.inputs import input_error
from okxcore.report import MetricPoint
from okxcore.trading.delivery import deliver
from okxcore.trading.execute import read_guard
from okxcore.trading.lifetime_report import sweep_report
from okxcore.trading.plan import PlanValidationError, TradePlan, parse_plan
from okxcore.trading.reporting import invalid_plan_report
from okxcore.trading.sweep import SWEEP_EVENT_VALUE, KeyClients, SweepEvent, sweep_expired


class TradeEvent(RootModel[TradePlan | SweepEvent]):
    """What the trade function accepts: a plan's slot, or the OrderSweep schedule's sweep."""


EVENT_MODEL = TradeEvent


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.set_correlation_id(context.aws_request_id)
    wiring = Wiring.from_environ()
    if isinstance(event, dict) and "sweep" in event:
        return _sweep(event, wiring)
    try:
        plan = parse_plan(event)
    except PlanValidationError as exc:
        logger.error("invalid trade plan", extra={"problems": exc.problems})
        add_metrics([MetricPoint("TradePlanInvalid", "Count", 1)])
        wiring.publish(invalid_plan_report(exc, environment=wiring.settings.environment))
        raise
    # The slot, not the request: every retry and duplicate delivery of one slot groups under one id.
    logger.set_correlation_id(plan.slot_label)
    logger.append_keys(plan_id=plan.plan_id, slot=plan.slot.iso, dry_run=plan.dry_run)

    # Reports are published inside (before the slot's result is stored), so an SNS failure releases the slot.
    outcome = deliver(plan, wiring, IdempotentSlots(wiring.settings.state_table_name, context), log=logger)

    add_metrics(outcome.metrics)
    return outcome.result_or_raise()


def _sweep(event: dict[str, Any], wiring: Wiring) -> dict[str, Any]:
    """The OrderSweep schedule: end every plan's expired limit orders (see the module docstring)."""
    try:
        parsed = SweepEvent.model_validate(event)
    except ValidationError as exc:
        invalid = input_error(
            exc, source="order sweep event", hint="See events/trade-sweep.json.", error_class=PlanValidationError
        )
        wiring.publish(invalid_plan_report(invalid, environment=wiring.settings.environment))
        raise invalid from None
    logger.set_correlation_id(f"order-sweep:{parsed.slot.iso if parsed.slot else 'manual'}")
    guard = read_guard(wiring.state)
    if isinstance(guard, str) or guard.paused:
        logger.warning("trading is paused or the guard is unreadable: the sweep sends nothing")
        return {"sweep": SWEEP_EVENT_VALUE, "status": "PAUSED", "ended": 0, "failed": 0}
    error = ""
    try:
        canceled = sweep_expired(wiring.orders, KeyClients(wiring), now_ms=int(time.time() * 1000))
    except OkxShieldError as exc:  # the ledger could not be read: nothing was canceled
        canceled, error = [], exc.describe()
    if canceled or error:
        wiring.publish(sweep_report(canceled, environment=wiring.settings.environment, error=error))
    ended = sum(1 for c in canceled if c.ok)
    add_metrics([MetricPoint("ExpiredOrdersEnded", "Count", ended)])
    result: dict[str, Any] = {"sweep": SWEEP_EVENT_VALUE, "status": "ERROR" if error else "DONE", "ended": ended}
    return {**result, "failed": len(canceled) - ended, **({"error": error} if error else {})}
