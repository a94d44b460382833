"""The IP-verification probe Lambda: is the egress Shield's, and is every key bound to it?

Runs on an EventBridge Scheduler schedule (or by hand). Thin: parse the event, run okxcore.probe, record
metrics, publish the report, return it. A run that could not do its job (proxy down, bad configuration,
invalid event) publishes its CRITICAL report first and then fails the invocation, so Lambda's error
metric, alarms and the DLQ see it as well.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.observability import add_metrics, logger, metrics
from handlers.wiring import Wiring, result_for
from okxcore.aws.probe_keys import SecretBatches, list_key_secret_names
from okxcore.errors import InvalidInputError
from okxcore.probe import ProbeEvent, invalid_event_report, parse_probe_event, run_probe

EVENT_MODEL = ProbeEvent


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.set_correlation_id(context.aws_request_id)
    wiring = Wiring.from_environ()
    try:
        request = parse_probe_event(event)
    except InvalidInputError as exc:
        wiring.publish(invalid_event_report(exc, environment=wiring.settings.environment))
        raise
    if request.slot is not None:  # every retry of the slot, in whatever spelling, groups under one id
        logger.set_correlation_id(f"probe:{request.slot.iso}")

    # The key checks' budget is the invocation's remaining time less a reserve for the report (okxcore.probe.fleet).
    time_left_s = context.get_remaining_time_in_millis() / 1000 or None
    outcome = run_probe(
        request,
        wiring,
        list_key_secrets=list_key_secret_names,
        load_keys=SecretBatches(wiring),
        time_left_s=time_left_s,
    )

    # No extra dimension: the template's alarm and dashboard read these by `service` alone.
    add_metrics(outcome.metrics)
    wiring.publish(outcome.report)  # logs the full report first: an SNS failure loses nothing, then raises
    outcome.raise_if_failed()
    return result_for(outcome.report, trading=outcome.trading)
