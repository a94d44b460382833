"""Lambda: the scheduled key-age audit of a fleet of OKX keys (deletion countdown, IPs, permissions, age, use).

Parse the Scheduler Input, run `okxcore.audit.run_audit`, publish the one report, emit metrics, return the full
result. A bad event or a bad Shield secret is reported (naming the field) and then raised, so that the failed
run is also visible to Lambda's retries and alarms.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from handlers.fanout_settings import FanoutSettings
from handlers.observability import logger, metrics
from handlers.settings import RuntimeSettings
from handlers.wiring import Wiring
from okxcore.audit import AuditRequest, AuditSources, Thresholds, invalid_input_report, metric_points, run_audit
from okxcore.audit.fanout import FanoutStart, run_id_for, start_if_large
from okxcore.audit.reporting import compact_result
from okxcore.aws.executions import start_execution
from okxcore.aws.fleet_secrets import SecretMetadata, TagSelector, describe_secret, list_secrets
from okxcore.aws.rotation_state import DynamoRotationLedger
from okxcore.client import OkxClient
from okxcore.credentials import OkxKeySecret
from okxcore.errors import InvalidInputError
from okxcore.inputs import WHOLE_EVENT, WholeNumber, input_error
from okxcore.keys.modes import RepairMode
from okxcore.transport import DEFAULT_POOL_SIZE

EVENT_SOURCE = "audit event"
AUDIT_HINT = "See events/audit*.json for valid Scheduler Inputs."


class AuditEvent(BaseModel):
    """The Scheduler Input. Omitted selectors fall back to KEY_SECRET_TAG / KEY_SECRET_PREFIX /
    MASTER_KEY_SECRET_NAME; an explicit "" switches one off. Tag and prefix both set: a secret needs both."""

    model_config = ConfigDict(extra="forbid")

    scheduled_time: str = ""  # "<aws.scheduler.scheduled-time>": the slot, used as correlation id
    key_secret_tag: str | None = None  # "key=value" or "key"
    key_secret_prefix: str | None = None
    # A main account's key: its sub-accounts' keys are audited too. Omitted: MASTER_KEY_SECRET_NAME.
    master_secret: str | None = None
    thresholds: Thresholds = Thresholds()
    max_workers: WholeNumber = Field(default=8, ge=1, le=16)
    # IP-binding repair of the master's sub-account keys. Omitted: KEY_REPAIR_MODE (default off).
    repair_mode: RepairMode | None = None


EVENT_MODEL = AuditEvent


def _invalid(exc: ValidationError, *, source: str = EVENT_SOURCE) -> InvalidInputError:
    # A model-level problem of the merged request: no key selector is left.
    return input_error(exc, source=source, hint=AUDIT_HINT, whole="key_secret_tag / key_secret_prefix / master_secret")


def parse_request(event: Any, settings: RuntimeSettings) -> AuditRequest:
    """The event merged with the function's defaults; errors name the field, never its value."""
    if not isinstance(event, dict):
        raise InvalidInputError(EVENT_SOURCE, WHOLE_EVENT, "is not a JSON object", hint=AUDIT_HINT)
    try:
        parsed = AuditEvent.model_validate(event)
    except ValidationError as exc:
        raise _invalid(exc) from None
    try:
        return AuditRequest(
            environment=settings.environment,
            key_secret_tag=parsed.key_secret_tag if parsed.key_secret_tag is not None else settings.key_secret_tag,
            key_secret_prefix=(
                parsed.key_secret_prefix if parsed.key_secret_prefix is not None else settings.key_secret_prefix
            ),
            master_secret=(
                parsed.master_secret if parsed.master_secret is not None else settings.master_key_secret_name
            ),
            thresholds=parsed.thresholds,
            max_workers=parsed.max_workers,
            repair_mode=parsed.repair_mode or settings.key_repair_mode,
        )
    except ValidationError as exc:
        raise _invalid(exc) from None


@contextmanager
def audit_sources(wiring: Wiring, workers: int) -> Iterator[AuditSources]:
    """What the audit reads and calls, built in this thread: boto3 clients are created here, before the pool's
    threads share them (creating them concurrently is not thread-safe)."""
    import boto3

    _shield, endpoint = wiring.shield()
    settings = wiring.settings
    # A pool smaller than the workers would open and drop tunnels; the pooled session outlives the invocation.
    session = wiring.session(pool_maxsize=max(workers, DEFAULT_POOL_SIZE))
    state = wiring.state
    secrets_client = boto3.client("secretsmanager")
    base_url = settings.okx_target()
    ledger = DynamoRotationLedger(settings.state_table_name)

    def client_for(key: OkxKeySecret, _secret_name: str) -> OkxClient:
        # Not recorded as the key's use: the record must show the bots' use, or a daily audit would hide a dead
        # bot from every later audit. (OKX does count this call as use; the report says so.)
        return OkxClient(session, key=key, base_url=base_url, allow_other_hosts=settings.local_overrides)

    def selected(tag: TagSelector | None, prefix: str) -> list[SecretMetadata]:
        return list_secrets(tag=tag, prefix=prefix, client=secrets_client)

    yield AuditSources(
        list_secrets=selected,
        describe_secret=lambda name: describe_secret(name, client=secrets_client),
        load_key=wiring.load_key,
        client_for=client_for,
        last_key_use_ms=state.last_key_use,
        rotation_record=ledger.load,
        rotation_records=ledger.load_many,
        load_keys=lambda names: wiring.load_keys(names, client=secrets_client),
        last_key_uses_ms=state.last_key_uses,
        expected_ips=endpoint.expected_ips,  # the secret's, or SHIELD_EXPECTED_IPS when it lists none
        repair_recorder=state,
    )


def _fan_out_if_large(
    request: AuditRequest, sources: AuditSources, fanout: FanoutSettings, event: Any, context: LambdaContext
) -> FanoutStart:
    slot = event.get("scheduled_time") if isinstance(event, dict) else None
    return start_if_large(
        request,
        sources.list_secrets,
        lambda name, payload: start_execution(fanout.state_machine_arn, name, payload),
        run_id=run_id_for(slot if isinstance(slot, str) else "", context.aws_request_id),
        keys_per_shard=fanout.keys_per_shard,
        call_latency_s=fanout.call_latency_s,
        # Outside Lambda (tests, okx-shield invoke) there is no deadline: only the fleet's size decides.
        timeout_s=(context.get_remaining_time_in_millis() / 1000) or float("inf"),
    )


def _correlation_id(event: Any, context: LambdaContext) -> str:
    slot = event.get("scheduled_time") if isinstance(event, dict) else None
    return f"audit:{slot}" if isinstance(slot, str) and slot else f"audit:{context.aws_request_id}"


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.set_correlation_id(_correlation_id(event, context))
    wiring = Wiring.from_environ()
    try:
        request = parse_request(event, wiring.settings)
        fanout = FanoutSettings.from_environ()
        wiring.shield()  # a malformed Shield secret stops the run here, named, instead of failing every key
    except InvalidInputError as exc:
        wiring.publish(invalid_input_report(exc, environment=wiring.settings.environment))
        raise
    with audit_sources(wiring, request.max_workers) as sources:
        if fanout.state_machine_arn:  # a fleet too large for one run goes to the state machine (README)
            started = _fan_out_if_large(request, sources, fanout, event, context)
            if started.fanned_out:
                logger.info("fanned out", extra=started.model_dump())
                return started.model_dump()
        report = run_audit(request, sources)
    for point in metric_points(report):
        metrics.add_metric(name=point.name, unit=MetricUnit(point.unit), value=point.value)
    wiring.publish(report)
    return compact_result(report)
