"""The scheduled trade Lambda: one slot of a DCA / limit / rebalance plan, placed exactly once.

Input: the EventBridge Scheduler Input, EVENT_MODEL (okxcore.trading.plan.TradePlan), with
"scheduled_time": "<aws.scheduler.scheduled-time>" in the schedule; examples in events/trade-*.json.
The exactly-once rules are in okxcore/trading/executor.py; this module adds Powertools idempotency.

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
  any spelling of the instant is the same slot (okxcore/trading/slot.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.observability import logger, metrics
from handlers.wiring import Wiring
from okxcore.errors import OkxShieldError
from okxcore.trading import (
    IDEMPOTENCY_KEY_JMESPATH,
    IDEMPOTENCY_PAYLOAD_JMESPATH,
    PlanValidationError,
    RunStatus,
    TradePlan,
    conflicting_plan_report,
    crash_report,
    invalid_plan_report,
    parse_plan,
    run_plan,
    trade_report,
)

EVENT_MODEL = TradePlan

# Scheduler may deliver up to 24 h late and Lambda holds async events up to 6 h: remember slots longer.
IDEMPOTENCY_TTL_S = 2 * 24 * 3600
IDEMPOTENCY_KEY_PREFIX = "trade-slot"
# Outside Lambda the context cannot tell its remaining time (it says 0, which would let a concurrent
# duplicate take over at once): hold the slot as long as a Lambda invocation can last.
LOCAL_REMAINING_MS = 15 * 60 * 1000


class TradePlanRejectedError(OkxShieldError):
    hint = "See the trade report: fix the plan (or top up the account); nothing was sent."


class TradePlanConflictError(OkxShieldError):
    hint = "See the trade report: the slot already ran with another plan; nothing was sent."


class TradeRunFailedError(OkxShieldError):
    hint = "See the trade report. Lambda retries this slot; orders already placed are not placed twice."


@dataclass
class _Ran:
    """Set by the idempotent function when it really runs (not when Powertools replays a stored result)."""

    ran: bool = False


class _RemainingTime:
    """The Lambda context as Powertools' idempotency sees it, with a fallback outside Lambda."""

    def __init__(self, context: LambdaContext) -> None:
        self._context = context

    def get_remaining_time_in_millis(self) -> int:
        remaining = int(self._context.get_remaining_time_in_millis() or 0)
        return remaining if remaining > 0 else LOCAL_REMAINING_MS


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    wiring = Wiring.from_environ()
    environment = wiring.settings.environment
    try:
        plan = parse_plan(event)
    except PlanValidationError as exc:
        logger.set_correlation_id(context.aws_request_id)
        logger.error("invalid trade plan", extra={"problems": exc.problems})
        metrics.add_metric(name="TradePlanInvalid", unit=MetricUnit.Count, value=1)
        wiring.publish(invalid_plan_report(exc, environment=environment, event=event))
        raise
    logger.set_correlation_id(plan.slot_label)
    logger.append_keys(plan_id=plan.plan_id, slot=plan.slot.iso, dry_run=plan.dry_run)

    # Imported here, not at module level: the idempotency package loads boto3's DynamoDB layer, which only a
    # valid plan needs (an invalid one is reported without it), and module import is the cold start.
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyPersistenceLayerError,
        IdempotencyValidationError,
    )

    ran = _Ran()
    try:
        result = _run_slot_once(plan, wiring, context, ran)
    except IdempotencyAlreadyInProgressError:
        logger.warning("another invocation is running this slot; this one sends nothing")
        return {
            "status": "IN_PROGRESS",
            "plan_id": plan.plan_id,
            "slot": plan.slot.iso,
            "message": "Another invocation is placing this slot; this delivery sent no order.",
        }
    except IdempotencyValidationError:
        logger.error("this slot already ran with a different plan; this delivery is refused and sends nothing")
        metrics.add_metric(name="TradePlanConflict", unit=MetricUnit.Count, value=1)
        wiring.publish(conflicting_plan_report(plan, environment=environment))
        raise TradePlanConflictError(
            f"trade plan {plan.slot_label}: the slot already ran with a different plan; nothing was sent"
        ) from None
    except IdempotencyPersistenceLayerError as exc:
        report = crash_report(
            plan,
            exc,
            environment=environment,
            message="the state table could not record this slot, so exactly-once cannot be guaranteed"
            + ("" if ran.ran else "; no order was sent"),
        )
        wiring.publish(report)
        raise
    if not ran.ran:
        logger.info("duplicate delivery: returning the slot's stored result; nothing was sent")
        metrics.add_metric(name="TradeSlotReplayed", unit=MetricUnit.Count, value=1)
    if result.get("status") == RunStatus.REJECTED.value:
        raise TradePlanRejectedError(f"trade plan {plan.slot_label} was rejected before any order was sent")
    return result


def _run_slot_once(plan: TradePlan, wiring: Wiring, context: LambdaContext, ran: _Ran) -> dict[str, Any]:
    # Built per invocation: the persistence layer makes its boto3 client on construction (moto must be active).
    import boto3
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    config = IdempotencyConfig(
        event_key_jmespath=IDEMPOTENCY_KEY_JMESPATH,
        payload_validation_jmespath=IDEMPOTENCY_PAYLOAD_JMESPATH,
        raise_on_no_idempotency_key=True,
        expires_after_seconds=IDEMPOTENCY_TTL_S,
    )
    config.register_lambda_context(_RemainingTime(context))  # type: ignore[arg-type]
    # A client of boto3's default session: Powertools would otherwise build a new Session per invocation, whose
    # endpoint data takes ~0.3 s to load each time.
    store = DynamoDBPersistenceLayer(
        table_name=wiring.settings.state_table_name, key_attr="id", boto3_client=boto3.client("dynamodb")
    )
    once = idempotent_function(
        trade_slot,
        data_keyword_argument="slot_record",
        persistence_store=store,
        config=config,
        key_prefix=IDEMPOTENCY_KEY_PREFIX,
    )
    result: dict[str, Any] = once(slot_record=plan.idempotency_record(), plan=plan, wiring=wiring, ran=ran)
    return result


def trade_slot(slot_record: dict[str, Any], plan: TradePlan, wiring: Wiring, ran: _Ran) -> dict[str, Any]:
    """Runs at most once per slot at a time. Raising releases the slot for a retry; returning stores the result.

    `slot_record` is what Powertools keys and validates (TradePlan.idempotency_record); the plan itself is
    passed as the model it already is.
    """
    ran.ran = True
    model = plan
    environment = wiring.settings.environment
    try:
        run = run_plan(model, wiring)
    except Exception as exc:
        logger.exception("trade run crashed")
        wiring.publish(crash_report(model, exc, environment=environment))
        raise
    report = trade_report(run, environment=environment)
    wiring.publish(report)
    metrics.add_metric(name="TradeOrdersPlaced", unit=MetricUnit.Count, value=run.orders_sent)
    if run.status is not RunStatus.DONE and run.status is not RunStatus.DRY_RUN:
        metrics.add_metric(name=f"TradeRun{run.status.value.title().replace('_', '')}", unit=MetricUnit.Count, value=1)
    if run.must_retry:
        raise TradeRunFailedError(f"trade plan {model.slot_label}: {report.title}")
    return {
        **report.as_result(),
        "status": run.status.value,
        "plan_id": model.plan_id,
        "slot": model.slot.iso,
        "orders_sent": run.orders_sent,
    }
