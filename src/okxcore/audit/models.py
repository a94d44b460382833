"""The audit's input (request, thresholds) and the facts it gathers about each key, free of credentials.

A `KeySubject` is everything the rules may look at for one key: it never holds the API key, secret or
passphrase, only labels, permissions, bound IPs and times. Keys come from two places: a Secrets Manager
secret (the product holds the credentials and audits them with a signed call), or a master key's listing of
sub-account keys (OKX tells perm, ip and creation time; nobody here can sign with them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, field_validator, model_validator

from okxcore.audit.rotation_rules import RotationView
from okxcore.errors import InvalidInputError
from okxcore.key_secrets import TagSelector
from okxcore.keys.repair.modes import RepairMode
from okxcore.report import Finding, Severity, worst_severity

# OKX's own numbers (okx.md): unbound trade/withdraw keys are deleted after 14 days; 50 keys per account,
# 20 IPs per key.
OKX_UNBOUND_DELETION_DAYS = 14
OKX_MAX_KEYS_PER_ACCOUNT = 50
OKX_MAX_IPS_PER_KEY = 20
DAY_MS = 86_400_000

KeyOrigin = Literal["secret", "master", "sub-account"]


class Thresholds(BaseModel):
    """When a finding starts and how bad it is; every number can be set in the event."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # An unbound trade/withdraw key is always a finding; these decide how loud, by days left.
    deletion_high_days: StrictFloat = Field(default=7, ge=0, le=OKX_UNBOUND_DELETION_DAYS)
    deletion_critical_days: StrictFloat = Field(default=3, ge=0, le=OKX_UNBOUND_DELETION_DAYS)
    rotation_due_days: StrictInt = Field(default=90, ge=1)
    rotation_overdue_days: StrictInt = Field(default=180, ge=1)
    dormant_days: StrictInt = Field(default=7, ge=1)
    keys_per_account_warn: StrictInt = Field(default=45, ge=1, le=OKX_MAX_KEYS_PER_ACCOUNT)
    ips_per_key_warn: StrictInt = Field(default=18, ge=1, le=OKX_MAX_IPS_PER_KEY)

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.deletion_critical_days > self.deletion_high_days:
            raise ValueError("deletion_critical_days must not exceed deletion_high_days")
        if self.rotation_due_days >= self.rotation_overdue_days:
            raise ValueError("rotation_due_days must be less than rotation_overdue_days")
        return self


class AuditRequest(BaseModel):
    """One audit run, with the event's choices already merged with the function's defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    environment: str = "dev"
    key_secret_tag: str = ""  # "key=value" or "key"
    key_secret_prefix: str = ""
    master_secret: str = ""
    thresholds: Thresholds = Thresholds()
    # Bounded: OKX limits per user and Shield limits connections; the session pool must be at least this big.
    max_workers: int = Field(default=8, ge=1, le=16)
    # IP-binding repair of the master's sub-account keys (okxcore.audit.repair); needs master_secret.
    repair_mode: RepairMode = "off"

    @field_validator("key_secret_tag")
    @classmethod
    def _tag(cls, value: str) -> str:
        if value.strip():
            try:
                TagSelector.parse(value)
            except InvalidInputError as exc:
                raise ValueError(exc.problem) from None
        return value.strip()

    @model_validator(mode="after")
    def _selects_something(self) -> AuditRequest:
        if not (self.key_secret_tag or self.key_secret_prefix or self.master_secret):
            raise ValueError(
                "selects no keys: set key_secret_tag and/or key_secret_prefix (or KEY_SECRET_TAG / "
                "KEY_SECRET_PREFIX in the function's environment), or master_secret"
            )
        return self

    @property
    def tag(self) -> TagSelector | None:
        return TagSelector.parse(self.key_secret_tag) if self.key_secret_tag else None


@dataclass(frozen=True)
class CreationTime:
    at_ms: int
    source: str  # where it came from, shown in the report ("secret created_at", ...)


@dataclass(frozen=True)
class KeySubject:
    """One key as the rules see it. `perm`/`ips` are None when OKX could not be asked (auth failed)."""

    resource: str  # the secret's name, or "subaccount:<name>/<label>": never the key itself
    label: str
    origin: KeyOrigin
    demo: bool = False
    purpose: str | None = None  # the secret's declared purpose; None for listed-only keys
    allowed_permissions: frozenset[str] = frozenset()
    perm: frozenset[str] | None = None
    ips: tuple[str, ...] | None = None
    uid: str = ""
    account: str = ""  # which account's 50-key budget the key uses (uid or sub-account name)
    created: CreationTime | None = None
    # Use tracking: only keys held in a secret are used (and recorded) by the product.
    use_tracked: bool = False
    product_last_use_ms: int | None = None
    secret_last_accessed_ms: int | None = None
    # Why the key could not be audited, if it could not: a secret problem or the signed call's error.
    secret_error: Exception | None = None
    call_error: Exception | None = None
    # Set when the key's secret is rotated by okx-shield's rotation function (or a rotation of it failed).
    rotation: RotationView | None = None

    @property
    def audited(self) -> bool:
        return self.secret_error is None and self.call_error is None and self.perm is not None

    @property
    def can_trade_or_withdraw(self) -> bool:
        return bool((self.perm or frozenset()) & {"trade", "withdraw"})


@dataclass
class KeyVerdict:
    subject: KeySubject
    findings: list[Finding] = field(default_factory=list)
    days_until_deletion: float | None = None  # only for keys OKX would delete (unbound, trade/withdraw, live)
    deletion_basis: str = ""
    age_days: float | None = None
    idle_days: float | None = None  # since the last use the product recorded (before this audit's call)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.is_problem]

    @property
    def worst(self) -> Severity | None:
        return worst_severity(self.findings)


@dataclass
class FleetStats:
    """How the run went at fleet scale: concurrency and rate limiting, for the report and the tests."""

    workers: int = 0
    max_in_flight: int = 0
    # 50011 answers that outlasted the client's own retries and were retried again by the fleet runner.
    rate_limited_retried: int = 0
    # ... and those still rate limited after every fleet retry (each is an ERROR finding).
    rate_limited_unretried: int = 0
    elapsed_s: float = 0.0
