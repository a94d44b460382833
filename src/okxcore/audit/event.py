"""The audit's input: the Scheduler event, merged with the function's defaults into an AuditRequest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from okxcore.audit.models import AuditRequest, Thresholds
from okxcore.errors import InvalidInputError
from okxcore.inputs import WHOLE_EVENT, WholeNumber, input_error
from okxcore.keys.repair.modes import RepairMode
from okxcore.slot import OptionalScheduledTime, Slot, slot_of

EVENT_SOURCE = "audit event"
AUDIT_HINT = "See events/audit*.json for valid Scheduler Inputs."


class AuditEvent(BaseModel):
    """The Scheduler Input. Omitted selectors fall back to KEY_SECRET_TAG / KEY_SECRET_PREFIX /
    MASTER_KEY_SECRET_NAME; an explicit "" switches one off. Tag and prefix both set: a secret needs both."""

    model_config = ConfigDict(extra="forbid")

    # "<aws.scheduler.scheduled-time>": the slot. Parsed to its instant here, at the boundary: the correlation id
    # and the fan-out's run id come from the canonical slot (trading's Slot), never from the text, so one slot in
    # two spellings is one run and starts one execution.
    scheduled_time: OptionalScheduledTime = None
    key_secret_tag: str | None = None  # "key=value" or "key"
    key_secret_prefix: str | None = None
    # A main account's key: its sub-accounts' keys are audited too. Omitted: MASTER_KEY_SECRET_NAME.
    master_secret: str | None = None
    thresholds: Thresholds = Thresholds()
    max_workers: WholeNumber = Field(default=8, ge=1, le=16)
    # IP-binding repair of the master's sub-account keys. Omitted: KEY_REPAIR_MODE (default off).
    repair_mode: RepairMode | None = None


class AuditSettings(Protocol):
    """The function settings the audit's defaults come from (handlers.settings.RuntimeSettings has them)."""

    @property
    def environment(self) -> str: ...
    @property
    def key_secret_tag(self) -> str: ...
    @property
    def key_secret_prefix(self) -> str: ...
    @property
    def master_key_secret_name(self) -> str: ...
    @property
    def key_repair_mode(self) -> RepairMode: ...


def _invalid(exc: ValidationError) -> InvalidInputError:
    # A model-level problem of the merged request: no key selector is left.
    return input_error(
        exc, source=EVENT_SOURCE, hint=AUDIT_HINT, whole="key_secret_tag / key_secret_prefix / master_secret"
    )


@dataclass(frozen=True)
class ParsedAuditEvent:
    request: AuditRequest
    slot: Slot | None  # None: no scheduled_time (a manual run)


def parse_request(event: Any, settings: AuditSettings) -> AuditRequest:
    """The event merged with the function's defaults; errors name the field, never its value."""
    return parse_event(event, settings).request


def parse_event(event: Any, settings: AuditSettings) -> ParsedAuditEvent:
    """The request (parse_request) and the slot, the canonical instant of scheduled_time."""
    if not isinstance(event, dict):
        raise InvalidInputError(EVENT_SOURCE, WHOLE_EVENT, "is not a JSON object", hint=AUDIT_HINT)
    try:
        parsed = AuditEvent.model_validate(event)
    except ValidationError as exc:
        raise _invalid(exc) from None

    def chosen(value: str | None, default: str) -> str:
        return value if value is not None else default

    slot = slot_of(parsed.scheduled_time)
    try:
        request = AuditRequest(
            environment=settings.environment,
            key_secret_tag=chosen(parsed.key_secret_tag, settings.key_secret_tag),
            key_secret_prefix=chosen(parsed.key_secret_prefix, settings.key_secret_prefix),
            master_secret=chosen(parsed.master_secret, settings.master_key_secret_name),
            thresholds=parsed.thresholds,
            max_workers=parsed.max_workers,
            repair_mode=parsed.repair_mode or settings.key_repair_mode,
        )
    except ValidationError as exc:
        raise _invalid(exc) from None
    return ParsedAuditEvent(request, slot)
