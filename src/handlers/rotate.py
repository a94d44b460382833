"""The key-rotation Lambda: the key secrets' Secrets Manager rotation function, plus the hourly cleanup.

Thin: parse the event, run one step (or the cleanup) in okxcore.keys.rotation, publish the report, return or raise.
A failed step publishes its HIGH report first and then fails the invocation, so that Secrets Manager
retries it and marks the rotation failed, and Lambda's error metric and alarm see it.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.observability import logger, metrics
from handlers.rotation_wiring import rotator_for
from handlers.wiring import Wiring
from okxcore.errors import InvalidInputError
from okxcore.invalid_input import invalid_input_report
from okxcore.keys.rotation.model import RotateEvent, RotationStepEvent
from okxcore.keys.rotation.run import failure_report, parse_rotate_event, run_rotation

EVENT_MODEL = RotateEvent


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics()  # the report's metrics (RunFailed, CriticalFindings, ShieldRequests), flushed per invocation
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.set_correlation_id(context.aws_request_id)
    wiring = Wiring.from_environ()
    environment = wiring.settings.environment
    try:
        request = parse_rotate_event(event)
    except InvalidInputError as exc:
        wiring.publish(
            invalid_input_report(
                "rotation", exc, environment=environment, not_done="No rotation step ran and nothing was changed."
            )
        )
        raise
    if isinstance(request, RotationStepEvent):
        # One id for the four steps of one rotation (the token is the new version's id, not a secret).
        logger.set_correlation_id(f"rotate:{request.token}")
        logger.append_keys(rotation_step=request.step)
    elif request.slot is not None:  # every retry of one hourly cleanup, in whatever spelling, under one id
        logger.set_correlation_id(f"rotate-cleanup:{request.slot.iso}")
    try:
        rotator = rotator_for(wiring)
    except Exception as exc:
        wiring.publish(failure_report(getattr(request, "secret_id", "cleanup"), "setup", exc, environment=environment))
        raise
    outcome = run_rotation(request, rotator, environment=environment, shield_requests=wiring.shield_requests)
    logger.info("rotation", extra={"rotation": outcome.result})
    if outcome.report is not None:
        wiring.publish(outcome.report)
    outcome.raise_if_failed()
    return outcome.result
