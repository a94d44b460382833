"""The scheduled slot: one instant, whatever its spelling, and everything that derives from it.

`2026-01-05T09:00:00Z`, `2026-01-05T10:00:00+01:00` and `2026-01-05T04:00:00-05:00` are one slot. An
operator re-running a slot by hand may write it in any of these while the Scheduler delivers it in
another, so nothing may depend on the text: the slot is the instant as whole milliseconds since the
epoch, and its one written form is UTC with fixed millisecond precision (`2026-01-05T09:00:00.000Z`).

Every function's event parses its `scheduled_time` once, at the boundary, with `ScheduledTime` (trade) or
`OptionalScheduledTime` (audit, probe, the rotation's cleanup), and reads the slot from it: the trade's clOrdIds
and idempotency record, the fan-out's run id, every correlation id.

Derived from it, and from nothing else about the time:
- the clOrdId of each order (order_ids.derive_cl_ord_id), so any delivery finds what another placed;
- the idempotency record's key (plan_id, slot, dry_run) and its fingerprint (plan.TradePlan), so two
  deliveries of one plan and instant collide, and a changed plan for the same slot is refused;
- every label: logs, reports, results (`plan_id@slot`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import AwareDatetime, BeforeValidator

from okxcore.inputs import IsoTimeText

SCHEDULER_PLACEHOLDER = "<aws.scheduler.scheduled-time>"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


@dataclass(frozen=True, order=True)
class Slot:
    epoch_ms: int  # exact integer ms: no float rounding can make one instant two slots

    @classmethod
    def of(cls, instant: datetime) -> Slot:
        if instant.tzinfo is None or instant.utcoffset() is None:
            raise ValueError("a slot's time must include a time zone")
        return cls((instant - _EPOCH) // _MS)

    @classmethod
    def parse(cls, text: str) -> Slot:
        """Any ISO 8601 spelling with a time zone (Z or an offset), e.g. from a hand-written event."""
        return cls.of(datetime.fromisoformat(text))

    @property
    def instant(self) -> datetime:
        return _EPOCH + self.epoch_ms * _MS

    @property
    def iso(self) -> str:
        return self.instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def timestamp(self) -> float:
        return self.epoch_ms / 1000

    def label(self, plan_id: str) -> str:
        return f"{plan_id}@{self.iso}"

    def __str__(self) -> str:
        return self.iso


def _not_placeholder(value: object) -> object:
    if isinstance(value, str) and value.strip() == SCHEDULER_PLACEHOLDER:
        raise ValueError(
            f"is the unsubstituted placeholder {SCHEDULER_PLACEHOLDER}: only EventBridge Scheduler fills it in; "
            "for a manual run put the slot's ISO time, e.g. 2026-01-05T09:00:00Z"
        )
    return value


def _blank_is_none(value: object) -> object:
    return None if value == "" else value


# An event's "<aws.scheduler.scheduled-time>", as the instant it names (Slot.of gives its slot).
ScheduledTime = Annotated[AwareDatetime, BeforeValidator(_not_placeholder), IsoTimeText]
# "" (or nothing) is a run without a slot: a manual one, identified by its request id instead.
OptionalScheduledTime = Annotated[
    AwareDatetime | None, BeforeValidator(_blank_is_none), BeforeValidator(_not_placeholder), IsoTimeText
]


def slot_of(instant: datetime | None) -> Slot | None:
    return Slot.of(instant) if instant is not None else None


def spoken_duration(seconds: float) -> str:
    """A time span as a person says it, to the largest two units: "45 s", "10 minutes", "333 days 5 hours"."""
    remaining = round(abs(seconds))
    if remaining < 60:
        return f"{remaining} s"
    parts: list[str] = []
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        count, remaining = divmod(remaining, size)
        if count or parts:
            parts.append(f"{count} {unit}{'' if count == 1 else 's'}")
        if len(parts) == 2:
            break
    return " ".join(part for part in parts if not part.startswith("0 "))
