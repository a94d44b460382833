"""What the audit says about keys that the rotation function manages.

A key whose secret rotates on a healthy schedule is not "rotation due": the schedule will replace it. Healthy
means rotation is on, the last rotation did not fail, the next one is not overdue, and the key is younger
than the overdue age (a schedule that never ran is no schedule). A failed or refused rotation is a HIGH
finding naming the step that failed, because the key it should have replaced is still in use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from okxcore.findings import finding
from okxcore.key_secrets import SecretMetadata
from okxcore.keys.rotation.record import RotationRecord
from okxcore.report import Finding

CHECK_ROTATION = "audit.rotation"
DAY_MS = 86_400_000
# Secrets Manager starts a scheduled rotation within its window; a day late is still on schedule.
SCHEDULE_SLACK_MS = DAY_MS


@dataclass(frozen=True)
class RotationView:
    """A secret's rotation as Secrets Manager and the rotation's state record know it (no credential)."""

    enabled: bool
    days: int | None = None
    next_ms: int | None = None
    last_ms: int | None = None
    status: str = "none"  # the state record's: none, in_progress, succeeded, failed, refused
    failed_step: str = ""
    error: str = ""

    @property
    def failed(self) -> bool:
        return self.status in {"failed", "refused"}

    def healthy(self, *, now_ms: int, age_days: float | None, overdue_days: int) -> bool:
        if not self.enabled or self.failed:
            return False
        if self.next_ms is not None and self.next_ms < now_ms - SCHEDULE_SLACK_MS:
            return False
        return age_days is None or age_days < overdue_days


def rotation_view(meta: SecretMetadata | None, record: RotationRecord | None) -> RotationView | None:
    """None when okx-shield does not rotate this secret (rotation off and no rotation ever recorded)."""
    status = record.status if record is not None else "none"
    if meta is None or (not meta.rotation_enabled and status == "none"):
        return None
    return RotationView(
        enabled=meta.rotation_enabled,
        days=meta.rotation_days,
        next_ms=_ms(meta.next_rotation),
        last_ms=_ms(meta.last_rotated),
        status=status,
        failed_step=record.failed_step if record is not None else "",
        error=record.error if record is not None else "",
    )


def managed_age_finding(resource: str, view: RotationView, age_days: float) -> Finding:
    when = f"next rotation {_day(view.next_ms)}" if view.next_ms else f"every {view.days} days"
    return finding("audit.key_age:managed", resource, f"{age_days:.1f} days old; rotated by okx-shield ({when})")


def rotation_failure_finding(resource: str, view: RotationView) -> Finding | None:
    if not view.failed:
        return None
    refused = view.status == "refused"
    return finding(
        "audit.rotation:refused" if refused else "audit.rotation:failed",
        resource,
        ("rotation refused" if refused else "rotation failed") + f" at {view.failed_step}",
        observed=view.error,
        expected="the last rotation finished (finishSecret)",
    )


def _ms(value: datetime | None) -> int | None:
    return int(value.timestamp() * 1000) if value is not None else None


def _day(ms: int | None) -> str:
    return datetime.fromtimestamp((ms or 0) / 1000, tz=UTC).strftime("%Y-%m-%d") if ms else "unknown"
