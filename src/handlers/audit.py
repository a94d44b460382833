"""Lambda: the scheduled key-age audit of a fleet of OKX keys (deletion countdown, IPs, permissions, age, use).

Parse the Scheduler Input, run `okxcore.audit.run_audit`, publish the one report, emit metrics, return the full
result. A bad event or a bad Shield secret is reported (naming the field) and then raised, so that the failed
run is also visible to Lambda's retries and alarms.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.fanout_settings import FanoutSettings
from handlers.observability import add_metrics, logger, metrics
from handlers.wiring import Wiring
from okxcore.audit import AuditRequest, AuditSources, audit_invalid_input_report, metric_points, run_audit
from okxcore.audit.event import AuditEvent, parse_event
from okxcore.audit.fanout import FanoutStart, run_id_for, start_if_large
from okxcore.audit.reporting import compact_result
from okxcore.aws.audit_sources import audit_sources
from okxcore.aws.executions import start_execution
from okxcore.errors import InvalidInputError
from okxcore.slot import Slot

EVENT_MODEL = AuditEvent


def _fan_out_if_large(
    request: AuditRequest, sources: AuditSources, fanout: FanoutSettings, slot: Slot | None, context: LambdaContext
) -> FanoutStart:
    return start_if_large(
        request,
        sources.list_secrets,
        lambda name, payload: start_execution(fanout.state_machine_arn, name, payload),
        run_id=run_id_for(slot, context.aws_request_id),
        keys_per_shard=fanout.keys_per_shard,
        call_latency_s=fanout.call_latency_s,
        # Outside Lambda (tests, okx-shield invoke) there is no deadline: only the fleet's size decides.
        timeout_s=(context.get_remaining_time_in_millis() / 1000) or float("inf"),
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.set_correlation_id(f"audit:{context.aws_request_id}")  # until the slot is known
    wiring = Wiring.from_environ()
    try:
        parsed = parse_event(event, wiring.settings)
        request = parsed.request
        fanout = FanoutSettings.from_environ()
        wiring.shield()  # a malformed Shield secret stops the run here, named, instead of failing every key
    except InvalidInputError as exc:
        wiring.publish(audit_invalid_input_report(exc, environment=wiring.settings.environment))
        raise
    if parsed.slot is not None:  # every retry of the slot, in whatever spelling, groups under one id
        logger.set_correlation_id(f"audit:{parsed.slot.iso}")
    with audit_sources(wiring, request.max_workers) as sources:
        if fanout.state_machine_arn:  # a fleet too large for one run goes to the state machine (docs/functions.md)
            started = _fan_out_if_large(request, sources, fanout, parsed.slot, context)
            if started.fanned_out:
                logger.info("fanned out", extra=started.model_dump())
                return started.model_dump()
        report = run_audit(request, sources)
    add_metrics(metric_points(report))
    wiring.publish(report)
    return compact_result(report)
