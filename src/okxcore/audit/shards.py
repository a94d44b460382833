"""Splitting a large fleet into shards that Step Functions' Distributed Map audits in parallel.

Why shards keep each OKX user whole: OKX's limits are per user (account/config: 5 requests per 2 s), so two
shards auditing keys of one user at the same time would collide on that user's limit, and the 50-keys-per-
account finding could only count the keys of one shard. The user is known before any OKX call only when the
secret carries it: the tag `okx-uid` (docs/secrets.md). A key without it is grouped on its own, and
the plan says how many were: their rate limits are still retried, they just cannot be kept together.

Groups are packed first-fit decreasing into shards of at most `keys_per_shard` keys; a user with more keys
than that gets one shard of its own, larger than the rest, because splitting it would defeat the point.

When to shard at all: when the fleet is larger than `keys_per_shard`, or when one run is projected to take
longer than the function may run (`projected_seconds`, from the per-call latency through Shield).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from okxcore.key_secrets import SecretMetadata

UID_TAG = "okx-uid"
# template.yaml's AuditKeysPerShard: measured at 256 MB, a 5,000-key shard ends within 34 % of its Timeout at 250 ms
# per call (bench/RESULTS.md section 11).
DEFAULT_KEYS_PER_SHARD = 5000
MAX_KEYS_PER_SHARD = 5000
# One key costs one signed OKX call; the OKX client's own retries and the secret and state reads add to it.
CALLS_PER_KEY = 1.2
# Fixed cost of one run: listing secrets, tunnels, the report.
RUN_OVERHEAD_S = 20.0
# Only this share of the function's timeout is planned for: a slow day must not turn into a timeout.
TIMEOUT_SHARE = 0.6


class ShardEntry(BaseModel):
    """One selected secret as the shard's audit needs it: its name and the dates ListSecrets gave."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    created_ms: int | None = None
    accessed_ms: int | None = None

    @classmethod
    def of(cls, meta: SecretMetadata) -> ShardEntry:
        return cls(name=meta.name, created_ms=_ms(meta.created), accessed_ms=_ms(meta.last_accessed))

    def metadata(self) -> SecretMetadata:
        return SecretMetadata(name=self.name, created=_dt(self.created_ms), last_accessed=_dt(self.accessed_ms))


class Shard(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    index: int = Field(ge=0)
    entries: tuple[ShardEntry, ...]
    users: int = 0  # distinct known OKX users in this shard


class ShardPlan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    shards: tuple[Shard, ...]
    keys_per_shard: int
    users: int  # distinct OKX users known from the okx-uid tag
    without_user: int  # keys whose secret has no okx-uid tag: each one is its own group

    @property
    def keys(self) -> int:
        return sum(len(shard.entries) for shard in self.shards)


def user_of(meta: SecretMetadata) -> str | None:
    uid = meta.tags.get(UID_TAG, "").strip()
    return uid or None


def plan_shards(metas: Sequence[SecretMetadata], keys_per_shard: int) -> ShardPlan:
    """All keys of one OKX user in one shard; shards of at most keys_per_shard keys unless one user has more."""
    if keys_per_shard < 1:
        raise ValueError("keys_per_shard must be at least 1")
    groups: dict[str, list[SecretMetadata]] = {}
    without_user = 0
    for meta in sorted(metas, key=lambda m: m.name):
        uid = user_of(meta)
        if uid is None:
            without_user += 1
        groups.setdefault(f"uid:{uid}" if uid else f"secret:{meta.name}", []).append(meta)
    # First-fit decreasing; ties by group name so that the same fleet always gives the same shards.
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    bins: list[list[tuple[str, list[SecretMetadata]]]] = []
    loads: list[int] = []
    for name, members in ordered:
        size = len(members)
        target = next((i for i, load in enumerate(loads) if load + size <= keys_per_shard), None)
        if target is None:
            bins.append([])
            loads.append(0)
            target = len(bins) - 1
        bins[target].append((name, members))
        loads[target] += size
    shards = tuple(
        Shard(
            index=index,
            entries=tuple(ShardEntry.of(meta) for _name, members in packed for meta in members),
            users=sum(1 for name, _members in packed if name.startswith("uid:")),
        )
        for index, packed in enumerate(bins)
    )
    return ShardPlan(
        shards=shards,
        keys_per_shard=keys_per_shard,
        users=sum(1 for name in groups if name.startswith("uid:")),
        without_user=without_user,
    )


def keys_per_shard_for(count: int, shards: int) -> int:
    """The shard size that splits `count` keys into about `shards` shards (`okx-shield invoke --shards N`)."""
    return max(1, math.ceil(count / max(1, shards)))


def projected_seconds(keys: int, *, workers: int, call_latency_s: float) -> float:
    """How long one run over `keys` keys takes when every call waits `call_latency_s` through Shield."""
    return RUN_OVERHEAD_S + keys * CALLS_PER_KEY * call_latency_s / max(1, workers)


def should_fan_out(
    keys: int, *, keys_per_shard: int, workers: int, call_latency_s: float, timeout_s: float
) -> tuple[bool, str]:
    """Whether one invocation is not enough, and why (for the log and the report)."""
    if keys > keys_per_shard:
        return True, f"{keys} keys exceed keys_per_shard {keys_per_shard}"
    projected = projected_seconds(keys, workers=workers, call_latency_s=call_latency_s)
    if projected > timeout_s * TIMEOUT_SHARE:
        return True, (
            f"{keys} keys at {call_latency_s * 1000:.0f} ms per call with {workers} workers are projected to take "
            f"{projected:.0f} s, more than {TIMEOUT_SHARE:.0%} of the function's {timeout_s:.0f} s timeout"
        )
    return False, f"{keys} keys fit one run (projected {projected:.0f} s of {timeout_s:.0f} s)"


def _ms(value: datetime | None) -> int | None:
    return int(value.timestamp() * 1000) if value is not None else None


def _dt(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value / 1000, tz=UTC) if value is not None else None
