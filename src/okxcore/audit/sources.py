"""What the audit is given to work with, as Protocols: okxcore needs neither boto3 nor Lambda here.

The AWS side is okxcore.aws.audit_sources.AwsAuditSources; tests pass their own. An implementation subclasses
`AuditSources` and so inherits its defaults (the clock, sleep, the fleet retry, no rotation record, no batched
reads, no repair recorder); what has no default it must define, or it cannot be instantiated.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from okxcore.pacing import FleetRetry

if TYPE_CHECKING:
    from okxcore.client import OkxClient
    from okxcore.credentials import OkxKeySecret
    from okxcore.key_secrets import SecretMetadata, TagSelector
    from okxcore.keys.repair.binding import RepairRecorder
    from okxcore.keys.rotation.record import RotationRecord

_DEFAULT_RETRY = FleetRetry()


class BatchReads(Protocol):
    """Batched readers for large fleets (okxcore.audit.prefetch): a chunk of secrets in a few calls."""

    def load_keys(self, names: list[str]) -> Mapping[str, OkxKeySecret | Exception]: ...
    def last_key_uses_ms(self, names: list[str]) -> Mapping[str, int | None]: ...
    def rotation_records(self, names: list[str]) -> Mapping[str, RotationRecord]: ...


class AuditSources(Protocol):
    """Where the audit gets its key secrets, their records and its OKX clients."""

    @property
    def expected_ips(self) -> tuple[str, ...]: ...
    def list_secrets(self, tag: TagSelector | None, prefix: str) -> list[SecretMetadata]: ...
    def describe_secret(self, name: str) -> SecretMetadata | None: ...
    def load_key(self, name: str) -> OkxKeySecret: ...
    def client_for(self, key: OkxKeySecret, name: str) -> OkxClient:
        """An OKX client through Shield for the key held in the named secret, to the host of `key.region`."""
        ...

    def other_regions_reachable(self) -> bool:
        """Whether a key that got 50119 can be tried at the other regions' hosts (okxcore.regions)."""
        return True

    def last_key_use_ms(self, name: str) -> int | None:
        """The last authenticated use okx-shield recorded for the named secret's key (epoch ms)."""
        ...

    def rotation_record(self, name: str) -> RotationRecord | None:
        """The rotation function's record of the named secret (how its last rotation ended), if it has one."""
        return None

    @property
    def batch(self) -> BatchReads | None:
        """None: one read per key."""
        return None

    @property
    def repair_recorder(self) -> RepairRecorder | None:
        """Where applied IP-binding repairs are recorded (the state table); None: not recorded."""
        return None

    @property
    def retry(self) -> FleetRetry:
        return _DEFAULT_RETRY

    def now_ms(self) -> int:
        return int(time.time() * 1000)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
