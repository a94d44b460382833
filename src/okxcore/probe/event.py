"""The probe's input: the Scheduler event (every field optional) and the function settings it overrides."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator

from okxcore.egress import (
    DEFAULT_ECHO_URLS,
    EchoResult,
    EchoUrlError,
    validate_echo_urls,
)
from okxcore.errors import InvalidInputError
from okxcore.inputs import WholeNumber, input_error
from okxcore.keys.repair.modes import RepairMode
from okxcore.slot import OptionalScheduledTime, Slot, slot_of
from okxcore.transport import DEFAULT_POOL_SIZE

if TYPE_CHECKING:
    from okxcore.egress import EchoResult  # noqa: F401

PROBE_EVENT_HINT = (
    "Known fields: scheduled_time, echo_urls (2+ https URLs), key_secret_names (list), "
    "direct_echo_for_contrast (true/false), repair_mode (off, plan, apply), max_workers (1-16)."
)
# What one run holds in memory and one report lists; the time budget usually ends a run first (bench/RESULTS.md §7).
MAX_KEYS_PER_RUN = 10_000
# Keys checked at once, each over its own tunnel through Shield: the audit's ceiling too (16 tunnels per run).
DEFAULT_WORKERS = 16
MAX_WORKERS = 16

# --- the event --------------------------------------------------------------------------------------


class ProbeEvent(BaseModel):
    """What EventBridge Scheduler (or a person) sends. Every field is optional: `{}` is a valid run."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    # Scheduler's "<aws.scheduler.scheduled-time>", parsed to its instant here: every retry of one slot, in whatever
    # spelling, groups under one correlation id (the canonical slot's).
    scheduled_time: OptionalScheduledTime = None
    # Override ECHO_URLS / the defaults for this run.
    echo_urls: tuple[str, ...] | None = None
    # Override KEY_SECRET_NAMES / KEY_SECRET_PREFIX for this run.
    key_secret_names: tuple[str, ...] | None = Field(default=None, max_length=MAX_KEYS_PER_RUN)
    # One non-proxied echo call to show the rotating Lambda IP next to Shield's. Never touches OKX.
    direct_echo_for_contrast: StrictBool = False
    # IP-binding repair of the sub-account keys this run finds unbound or missing a Shield IP (okxcore.probe.repair).
    # Omitted: KEY_REPAIR_MODE (default off).
    repair_mode: RepairMode | None = None
    # Keys checked at once; 1 checks them one after another.
    max_workers: WholeNumber = Field(default=DEFAULT_WORKERS, ge=1, le=MAX_WORKERS)

    @field_validator("echo_urls")
    @classmethod
    def _echo_urls(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        try:
            return validate_echo_urls(value, source="probe event", field="echo_urls")
        except EchoUrlError as exc:
            # pydantic names the list; the entry's index is only known here.
            raise ValueError(exc.problem if exc.field == "echo_urls" else f"{exc.field} {exc.problem}") from None

    @field_validator("key_secret_names")
    @classmethod
    def _key_names(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        names = tuple(dict.fromkeys(name.strip() for name in value))
        if not names or any(not name or len(name) > 512 for name in names):
            raise ValueError("must list one or more non-empty secret names (at most 512 characters each)")
        return names

    @property
    def slot(self) -> Slot | None:
        """The canonical instant of scheduled_time; None for a run without one (a manual run)."""
        return slot_of(self.scheduled_time)


def parse_probe_event(event: object) -> ProbeEvent:
    """The validated event; an InvalidInputError naming the first bad field otherwise (never its value)."""
    if event is None:
        event = {}
    if not isinstance(event, Mapping):
        raise InvalidInputError(
            "probe event", "(whole event)", "is not a JSON object", hint='Send a JSON object, e.g. {} or {"...": ..}.'
        )
    try:
        return ProbeEvent.model_validate(dict(event))
    except ValidationError as exc:
        raise input_error(exc, source="probe event", hint=PROBE_EVENT_HINT) from None


class ProbeSettings(Protocol):
    """The function settings the probe reads (handlers.settings.RuntimeSettings has them all)."""

    @property
    def environment(self) -> str: ...
    @property
    def shield_secret_name(self) -> str: ...
    @property
    def key_secret_names(self) -> str: ...
    @property
    def key_secret_prefix(self) -> str: ...
    @property
    def key_secret_tag(self) -> str: ...
    @property
    def echo_urls(self) -> str: ...
    @property
    def okx_ca_bundle(self) -> str | None: ...
    @property
    def key_repair_mode(self) -> RepairMode: ...
    @property
    def master_key_secret_name(self) -> str: ...
    def other_regions_reachable(self) -> bool: ...  # may a key that got 50119 be tried at the other regions?


@dataclass(frozen=True)
class ProbeConfig:
    environment: str
    echo_urls: tuple[str, ...]
    key_secret_names: tuple[str, ...]  # explicit names; empty: discover by prefix
    key_names_source: str
    key_secret_prefix: str
    key_secret_tag: str
    shield_secret_name: str
    direct_echo_for_contrast: bool = False
    direct_echo_ca_bundle: str | None = None
    repair_mode: RepairMode = "off"
    master_secret: str = ""  # the main account's key, which repairs sub-account keys
    max_workers: int = DEFAULT_WORKERS

    @property
    def pool_maxsize(self) -> int:
        """Tunnels kept by the run's one Shield session (echoes, key checks, repair): one per worker at least."""
        return max(self.max_workers, DEFAULT_POOL_SIZE)


def probe_config(event: ProbeEvent, settings: ProbeSettings) -> ProbeConfig:
    """The event's choices over the function's settings over the defaults. Bad ECHO_URLS raise, naming it."""
    if event.echo_urls is not None:
        echo_urls = event.echo_urls
    elif settings.echo_urls.strip():
        parts = [part for part in settings.echo_urls.split(",") if part.strip()]
        echo_urls = validate_echo_urls(parts, source="function environment", field="ECHO_URLS")
    else:
        echo_urls = DEFAULT_ECHO_URLS
    if event.key_secret_names is not None:
        names, source = event.key_secret_names, "the event's key_secret_names"
    else:
        names = tuple(dict.fromkeys(p.strip() for p in settings.key_secret_names.split(",") if p.strip()))
        source = "KEY_SECRET_NAMES" if names else ""
    return ProbeConfig(
        environment=settings.environment,
        echo_urls=echo_urls,
        key_secret_names=names,
        key_names_source=source,
        key_secret_prefix=settings.key_secret_prefix,
        key_secret_tag=settings.key_secret_tag,
        shield_secret_name=settings.shield_secret_name,
        direct_echo_for_contrast=event.direct_echo_for_contrast,
        direct_echo_ca_bundle=settings.okx_ca_bundle,
        repair_mode=event.repair_mode or settings.key_repair_mode,
        master_secret=settings.master_key_secret_name,
        max_workers=event.max_workers,
    )
