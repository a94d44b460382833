"""Where the audit gets things: injected so that okxcore needs neither boto3 nor Lambda here."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from okxcore.audit.prefetch import LastUses, LoadKeys, Rotations
from okxcore.aws.fleet_secrets import SecretMetadata, TagSelector
from okxcore.aws.rotation_state import RotationRecord
from okxcore.client import OkxClient
from okxcore.credentials import OkxKeySecret
from okxcore.pacing import FleetRetry

if TYPE_CHECKING:
    from okxcore.keys.repair import RepairRecorder


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class AuditSources:
    """Where the audit gets things: injected so that okxcore needs neither boto3 nor Lambda here."""

    list_secrets: Callable[[TagSelector | None, str], list[SecretMetadata]]
    describe_secret: Callable[[str], SecretMetadata | None]
    load_key: Callable[[str], OkxKeySecret]
    # An OKX client through Shield for the key held in the named secret.
    client_for: Callable[[OkxKeySecret, str], OkxClient]
    # The last authenticated use okx-shield recorded for the named secret's key (epoch ms).
    last_key_use_ms: Callable[[str], int | None]
    expected_ips: tuple[str, ...] = ()
    # The rotation function's record of the named secret (how its last rotation ended), if it has one.
    rotation_record: Callable[[str], RotationRecord | None] = lambda _name: None
    # Batched readers for large fleets (okxcore.audit.prefetch); None: one read per key.
    load_keys: LoadKeys | None = None
    last_key_uses_ms: LastUses | None = None
    rotation_records: Rotations | None = None
    now_ms: Callable[[], int] = _now_ms
    sleep: Callable[[float], None] = time.sleep
    retry: FleetRetry = field(default_factory=FleetRetry)
    # Where applied IP-binding repairs are recorded (the state table); None: not recorded.
    repair_recorder: RepairRecorder | None = None
