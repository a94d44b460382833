"""One delivery of a scheduled slot: run the slot at most once (rule 1 in executor.py), and turn each way
that can end into its report, its metrics and the result or exception that handlers/trade.py's docstring
promises ("What raises"). The store that runs it once is the handler's (ports.SlotStore)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from okxcore.errors import OkxShieldError
from okxcore.report import MetricPoint
from okxcore.trading.executor import run_plan
from okxcore.trading.outcomes import RunStatus
from okxcore.trading.plan import TradePlan
from okxcore.trading.ports import SlotStatus, SlotStore, SlotWiring, TradeLog
from okxcore.trading.reporting import conflicting_plan_report, crash_report, trade_report


class TradePlanRejectedError(OkxShieldError):
    hint = "See the trade report: fix the plan (or top up the account); nothing was sent."


class TradePlanConflictError(OkxShieldError):
    hint = "See the trade report: the slot already ran with another plan; nothing was sent."


class TradeRunFailedError(OkxShieldError):
    hint = "See the trade report. Lambda retries this slot; orders already placed are not placed twice."


@dataclass
class Delivery:
    result: dict[str, Any] | None = None
    metrics: list[MetricPoint] = field(default_factory=list)
    failure: BaseException | None = None  # raised once the metrics are recorded (its report is published)

    def result_or_raise(self) -> dict[str, Any]:
        if self.failure is not None:
            raise self.failure
        assert self.result is not None
        return self.result


def deliver(plan: TradePlan, wiring: SlotWiring, slots: SlotStore, *, log: TradeLog) -> Delivery:
    """One delivery of `plan`'s slot. A crash of the run itself is reported and propagates as it is."""
    environment = wiring.settings.environment
    delivery = Delivery()
    ran = False

    def work() -> dict[str, Any]:
        nonlocal ran
        ran = True  # not set when the store replays a stored result
        return run_slot(plan, wiring, delivery.metrics, log=log)

    try:
        attempt = slots.run_once(plan.idempotency_record(), work)
    except TradeRunFailedError as failed:  # raised inside the store, so that it released the slot for the retry
        delivery.failure = failed
        return delivery
    if attempt.status is SlotStatus.IN_PROGRESS:
        log.warning("another invocation is running this slot; this one sends nothing")
        delivery.result = {
            "status": "IN_PROGRESS",
            "plan_id": plan.plan_id,
            "slot": plan.slot.iso,
            "message": "Another invocation is placing this slot; this delivery sent no order.",
        }
    elif attempt.status is SlotStatus.CONFLICT:
        log.error("this slot already ran with a different plan; this delivery is refused and sends nothing")
        delivery.metrics.append(MetricPoint("TradePlanConflict", "Count", 1))
        wiring.publish(conflicting_plan_report(plan, environment=environment))
        delivery.failure = TradePlanConflictError(
            f"trade plan {plan.slot_label}: the slot already ran with a different plan; nothing was sent"
        )
    elif attempt.status is SlotStatus.STORE_FAILED:
        assert attempt.error is not None
        message = "the state table could not record this slot, so exactly-once cannot be guaranteed"
        wiring.publish(
            crash_report(
                plan, attempt.error, environment=environment, message=message + ("" if ran else "; no order was sent")
            )
        )
        delivery.failure = attempt.error
    else:
        if not ran:
            log.info("duplicate delivery: returning the slot's stored result; nothing was sent")
            delivery.metrics.append(MetricPoint("TradeSlotReplayed", "Count", 1))
        delivery.result = attempt.result
        if delivery.result is not None and delivery.result.get("status") == RunStatus.REJECTED.value:
            delivery.failure = TradePlanRejectedError(
                f"trade plan {plan.slot_label} was rejected before any order was sent"
            )
    return delivery


def run_slot(plan: TradePlan, wiring: SlotWiring, metrics: list[MetricPoint], *, log: TradeLog) -> dict[str, Any]:
    """The slot's work, run at most once at a time: raising releases the slot for a retry; returning stores
    the result."""
    environment = wiring.settings.environment
    try:
        run = run_plan(plan, wiring)
    except Exception as exc:
        log.exception("trade run crashed")
        wiring.publish(crash_report(plan, exc, environment=environment))
        raise
    report = trade_report(run, environment=environment, simulator=wiring.settings.simulator_host())
    wiring.publish(report)
    metrics.append(MetricPoint("TradeOrdersPlaced", "Count", run.orders_sent))
    if run.status is not RunStatus.DONE and run.status is not RunStatus.DRY_RUN:
        metrics.append(MetricPoint(f"TradeRun{run.status.value.title().replace('_', '')}", "Count", 1))
    if run.must_retry:
        raise TradeRunFailedError(f"trade plan {plan.slot_label}: {report.title}")
    return {
        **report.as_result(),
        "status": run.status.value,
        "plan_id": plan.plan_id,
        "slot": plan.slot.iso,
        "orders_sent": run.orders_sent,
    }
