"""Sharding a fleet by OKX user, and when one run is not enough (pure: no stack)."""

from __future__ import annotations

import pytest

from okxcore.audit.shards import UID_TAG, keys_per_shard_for, plan_shards, projected_seconds, should_fan_out
from okxcore.key_secrets import SecretMetadata


def secret(name: str, uid: str | None) -> SecretMetadata:
    return SecretMetadata(name=name, tags={UID_TAG: uid} if uid else {})


def test_every_users_keys_land_in_one_shard_and_no_shard_exceeds_its_size():
    # Given 7 users owning 1..7 keys (28 keys), listed in name order so that users interleave
    metas = [secret(f"k/{n:02d}-u{u}", str(u)) for u in range(1, 8) for n in range(u)]
    metas.sort(key=lambda m: m.name)

    # When they are planned into shards of at most 8 keys
    plan = plan_shards(metas, keys_per_shard=8)

    # Then each user's keys are all in exactly one shard, no shard holds more than 8, and no key is lost
    shard_of: dict[str, set[int]] = {}
    for shard in plan.shards:
        assert len(shard.entries) <= 8
        for entry in shard.entries:
            uid = entry.name.rpartition("-u")[2]
            shard_of.setdefault(uid, set()).add(shard.index)
    assert all(len(shards) == 1 for shards in shard_of.values())
    assert sorted(e.name for s in plan.shards for e in s.entries) == sorted(m.name for m in metas)
    assert plan.users == 7 and plan.without_user == 0
    assert len(plan.shards) == 4  # 28 keys / 8, packed first-fit decreasing: 7+1, 6+2, 5+3, 4


def test_a_user_with_more_keys_than_a_shard_gets_its_own_larger_shard_and_untagged_keys_stand_alone():
    # Given one user with 12 keys, and 3 keys whose secrets carry no okx-uid tag
    metas = [secret(f"big-{n:02d}", "900") for n in range(12)] + [secret(f"loose-{n}", None) for n in range(3)]

    # When shards hold at most 5
    plan = plan_shards(metas, keys_per_shard=5)

    # Then the big user is one shard of 12 (splitting it would break OKX's per-user limit), the loose keys share one
    sizes = sorted(len(s.entries) for s in plan.shards)
    assert sizes == [3, 12]
    assert plan.without_user == 3 and plan.users == 1


def test_bad_shard_sizes_are_refused():
    with pytest.raises(ValueError, match="keys_per_shard"):
        plan_shards([secret("a", "1")], keys_per_shard=0)


def test_fan_out_when_the_fleet_is_larger_than_a_shard_or_one_run_would_outlast_the_timeout():
    # Given the audit's 300 s timeout and calls planned at 300 ms through Shield
    def decide(keys: int, workers: int) -> tuple[bool, str]:
        return should_fan_out(keys, keys_per_shard=2000, workers=workers, call_latency_s=0.3, timeout_s=300)

    # Then 2,001 keys fan out by size; 1,900 keys with 4 workers by projected time (past 60 % of 300 s);
    # 1,900 keys with 16 workers stay in one run
    assert decide(2001, 16) == (True, "2001 keys exceed keys_per_shard 2000")
    assert projected_seconds(1900, workers=4, call_latency_s=0.3) > 0.6 * 300
    large, reason = decide(1900, 4)
    assert large and "projected to take 191 s" in reason
    assert decide(1900, 16)[0] is False
    assert keys_per_shard_for(10, 3) == 4
