"""What the rotation needs from outside (Secrets Manager, the state table, OKX clients), as Protocols, and the
bundle of them that every step is given."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from okxcore.client import OkxClient
from okxcore.credentials import OkxKeySecret
from okxcore.errors import OkxShieldError
from okxcore.keys.rotation.model import CURRENT
from okxcore.keys.rotation.record import RotationRecord


class SecretStoreError(OkxShieldError):
    """What a SecretVersionStore raises: Secrets Manager refused or failed a call (names the secret, no value)."""

    hint = (
        "Check that the rotation function may call GetSecretValue, PutSecretValue, UpdateSecretVersionStage "
        "and DescribeSecret on the key secrets (template.yaml, RotateFunction)."
    )


class SecretGoneError(SecretStoreError):
    """The secret does not exist (deleted without a recovery window, or past it)."""

    hint = (
        "The secret is deleted or never existed, so it cannot be rotated: check the secret's name or ARN. Keys it "
        "retired earlier are still deleted by the hourly cleanup, from the state table's record."
    )


@dataclass(frozen=True)
class SecretVersions:
    """A secret's metadata and its versions' staging labels (no values)."""

    arn: str
    name: str
    rotation_enabled: bool
    stages: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    rotation_lambda_arn: str = ""
    rotation_days: int | None = None
    last_rotated: datetime | None = None
    next_rotation: datetime | None = None
    deleted: bool = False  # scheduled for deletion: no version can be read until it is restored

    def version_with(self, stage: str) -> str | None:
        return next((version for version, labels in self.stages.items() if stage in labels), None)

    @property
    def current_version(self) -> str:
        found = self.version_with(CURRENT)
        if found is None:
            raise SecretStoreError(f"secret {self.name} has no {CURRENT} version")
        return found


class SecretVersionStore(Protocol):
    def describe(self, secret_id: str) -> SecretVersions: ...
    def value(self, secret_id: str, *, stage: str, version_id: str | None = None) -> str | None: ...
    def put_pending(self, secret_id: str, token: str, text: str) -> None: ...
    def promote(self, secret_id: str, token: str, from_version: str) -> None: ...
    def drop_pending(self, secret_id: str, token: str) -> None: ...


class RotationLedger(Protocol):
    def load(self, secret: str) -> RotationRecord: ...
    def update(self, secret: str, change: Callable[[RotationRecord], None]) -> RotationRecord: ...
    def secrets_to_clean(self, now_ms: int) -> list[str]: ...
    def acquire_lease(self, secret: str, holder: str, *, now_ms: int, ttl_ms: int) -> str | None: ...
    def release_lease(self, secret: str, holder: str) -> None: ...


class OkxClients(Protocol):
    def key_client(self, key: OkxKeySecret) -> OkxClient: ...
    def master_client(self) -> OkxClient: ...


@dataclass(frozen=True)
class RotationSettings:
    shield_ips: tuple[str, ...]
    grace_period_s: int
    master_secret_name: str = ""
    key_defaults: dict[str, Any] | None = None  # the deployment's region and demo mode


@dataclass
class StepResult:
    secret: str
    step: str
    done: str  # what happened, in words (no credential)
    changed: bool = False
    details: dict[str, Any] | None = None


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class RotationPorts:
    """What every step is given: the secret's versions, the rotation records, OKX, the settings, the clock."""

    versions: SecretVersionStore
    ledger: RotationLedger
    clients: OkxClients
    settings: RotationSettings
    now_ms: Callable[[], int] = _now_ms
    sleep: Callable[[float], None] = time.sleep
