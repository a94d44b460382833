"""The fanned-out audit on the local stack: template.yaml's state machine run in-process (okxlocal.fanout).

Plan, shards and merge are the deployed handler's; S3, Secrets Manager, SNS and Step Functions are moto; the
keys are audited at the simulator through the real proxy. The assertions read what moto and the simulator saw.
"""

from __future__ import annotations

import json
from collections import Counter

import boto3

from handlers.audit import handler
from okxlocal.fanout import execution_input_for, run_fanout, started_execution_input
from okxlocal.seeds import new_key, seed_with
from okxlocal.stack import KEY_SECRET_PREFIX, RUN_BUCKET

BOTH = ["127.0.0.2", "127.0.0.3"]
CONFIG_PATH = "/api/v5/account/config"
EVENT = {"scheduled_time": "2026-01-15T06:00:00Z"}


def fleet() -> list:
    """18 keys of 6 users owning 1..5 keys (one user twice), all healthy."""
    sizes = [1, 2, 3, 4, 5, 3]
    return [new_key(f"5{u:03d}", f"fan-u{u}-k{k}", ips=BOTH) for u, size in enumerate(sizes) for k in range(size)]


def s3_json(key: str):
    return json.loads(boto3.client("s3").get_object(Bucket=RUN_BUCKET, Key=key)["Body"].read())


def config_calls(stack) -> Counter:
    return Counter(r.api_key for r in stack.sim.stats.requests if r.path.startswith(CONFIG_PATH) and r.code == "0")


def test_three_shards_keep_each_users_keys_together_and_merge_into_one_report(local_stack):
    # Given 18 keys of 6 OKX users, each secret tagged with its user
    keys = fleet()
    stack = local_stack(seed_with(keys))
    uid_of = {KEY_SECRET_PREFIX + k.label: k.uid for k in keys}

    # When the state machine runs with about 3 shards
    outcome = run_fanout(execution_input_for(EVENT, shards=3))

    # Then the plan in S3 put every user's keys in one shard, none larger than the plan's size
    plan = outcome.output["plan"]
    items = s3_json(plan["items_key"])
    assert len(items) == plan["shards"] >= 3
    shards_of_user: dict[str, set[int]] = {}
    for item in items:
        entries = s3_json(item["entries_key"])
        assert len(entries) == item["keys"]
        for entry in entries:
            shards_of_user.setdefault(uid_of[entry["name"]], set()).add(item["shard"])
    assert {len(s) for s in shards_of_user.values()} == {1}
    assert len(shards_of_user) == 6

    # And every key was audited at the simulator exactly once, and the Map ran every shard once
    assert config_calls(stack) == Counter({k.api_key: 1 for k in keys})
    assert outcome.map_run.failed == [] and set(outcome.map_run.attempts.values()) == {1}

    # And exactly one SNS report, for the 18 keys, pointing at the full per-key result in S3
    [message] = stack.reports()
    assert "18 key(s)" in message.subject and message.attributes["severity"] == "OK"
    assert f"s3://{RUN_BUCKET}/audit-runs/" in message.text
    full = s3_json(f"audit-runs/{plan['run_id']}/report.json")
    assert sorted(k["resource"] for k in full["details"]["keys"]) == sorted(uid_of)
    # And the report states the requests every shard sent through Shield (the simulator saw them all)
    assert full["details"]["shield_requests"] == stack.sim.stats.total_requests()
    assert f"Requests sent through Shield by this run: {stack.sim.stats.total_requests()}." in message.text


def test_a_failing_shard_is_retried_with_backoff_tolerated_and_reported_by_the_merge(local_stack):
    # Given the same fleet in 3 shards, and shard 1's function crashing on every attempt
    keys = fleet()
    stack = local_stack(seed_with(keys))
    waits: list[float] = []
    execution_input = execution_input_for(EVENT, shards=3)

    # When the state machine runs
    outcome = run_fanout(execution_input, fail_shards=frozenset({1}), sleep=waits.append)

    # Then shard 1 was tried 3 times (the template's MaxAttempts 2), waiting 10 s then 30 s (BackoffRate 3)
    assert outcome.map_run.attempts[1] == 3
    assert waits == [10, 30]
    assert outcome.map_run.failed == [1]
    # And the other shards' keys were audited, shard 1's never reached the simulator
    items = s3_json(outcome.output["plan"]["items_key"])
    failed_names = {e["name"] for e in s3_json(items[1]["entries_key"])}
    by_name = {KEY_SECRET_PREFIX + k.label: k.api_key for k in keys}
    audited = config_calls(stack)
    assert set(audited) == {by_name[n] for n in by_name if n not in failed_names}

    # And the merge still published one report naming the failed shard and its unaudited keys: HIGH (its worst
    # finding), the run failed, and every unaudited key counts as needing attention
    [message] = stack.reports()
    assert message.attributes["severity"] == "HIGH"
    assert message.attributes["failed"] == "true"
    assert message.subject.startswith(
        f"[HIGH] okx-shield audit (local): {len(failed_names)} of {len(keys)} key(s) need attention "
        f"({len(failed_names)} not audited)"
    )
    assert f"shard 2 of {len(items)} failed after its retries: {len(failed_names)} key(s) not audited" in message.text
    assert outcome.merged["details"]["fleet"]["keys_not_audited"] == len(failed_names)


def test_the_scheduled_audit_starts_the_state_machine_when_the_fleet_exceeds_a_shard(
    local_stack, lambda_context, monkeypatch
):
    # Given 18 keys and shards of at most 8 keys
    keys = fleet()
    stack = local_stack(seed_with(keys))
    monkeypatch.setenv("AUDIT_KEYS_PER_SHARD", "8")

    # When the scheduled audit runs
    result = handler(dict(EVENT), lambda_context)

    # Then it audited nothing itself and published nothing: it started one execution in Step Functions (moto)
    assert result["fanned_out"] is True and result["keys"] == 18
    assert config_calls(stack) == Counter()
    assert stack.reports() == []
    sfn = boto3.client("stepfunctions")
    [execution] = sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"]
    assert execution["executionArn"] == result["execution_arn"]
    started = started_execution_input(result["execution_arn"])
    assert started["keys_per_shard"] == 8 and started["run_id"] == "audit-2026-01-15T06-00-00-000Z"

    # And a retried invocation of the same slot starts no second execution
    handler(dict(EVENT), lambda_context)
    assert len(sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"]) == 1

    # And that execution, run, audits every key once and publishes one report
    outcome = run_fanout(started)
    assert config_calls(stack) == Counter({k.api_key: 1 for k in keys})
    [message] = stack.reports()
    assert "0 of 18 key(s) need attention: key audit in 3 shard(s)" in message.subject
    assert outcome.merged["details"]["run_id"] == started["run_id"]


def test_a_fanout_step_with_a_string_count_is_refused_naming_the_field():
    import pytest

    from handlers.audit_fanout import _parse
    from okxcore.errors import InvalidInputError

    step = {"step": "plan", "run_id": "r1", "request": {"key_secret_prefix": "p/"}, "keys_per_shard": "5"}
    with pytest.raises(InvalidInputError) as caught:
        _parse(step)
    assert caught.value.field == "keys_per_shard"
    assert _parse({**step, "keys_per_shard": 5}).keys_per_shard == 5
