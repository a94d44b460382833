"""The fanned-out audit when something goes wrong between its steps (issue 18, item 9).

Each test is a scenario that went wrong before: one slot in two spellings started two executions; a merge
retried after a partial failure published two reports; a missing plan object was reported as OK; a malformed
shard result published nothing. The state machine and the steps are the deployed handler's, run in-process
against moto (S3, SNS + SQS, Step Functions) and the simulator through the real proxy; what is asserted is
what moto recorded (executions, the reports a subscriber received) and what the simulator saw.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from handlers.audit import handler as audit_handler
from handlers.audit_fanout import handler as fanout_handler
from okxcore.audit.fanout import result_key
from okxlocal.fanout import execution_input_for, run_fanout
from okxlocal.seeds import new_key, seed_with
from okxlocal.stack import RUN_BUCKET

BOTH = ["127.0.0.2", "127.0.0.3"]
EVENT = {"scheduled_time": "2026-01-15T06:00:00Z"}


@pytest.fixture
def stack(local_stack):
    """Nine healthy keys of three OKX users: three shards of one user each."""
    return local_stack(seed_with([new_key(f"6{u:03d}", f"ff-u{u}-k{k}", ips=BOTH) for u in range(3) for k in range(3)]))


def s3() -> Any:
    return boto3.client("s3")


def run_steps(lambda_context, run_id: str) -> dict[str, Any]:
    """The plan and every shard, one handler call each, as the state machine would make them; the plan's output."""
    execution = execution_input_for(EVENT, shards=3, run_id=run_id)
    plan = fanout_handler({"step": "plan", **execution}, lambda_context)
    items = json.loads(s3().get_object(Bucket=RUN_BUCKET, Key=plan["items_key"])["Body"].read())
    for item in items:
        fanout_handler({"step": "shard", "run_id": run_id, "request": plan["request"], "item": item}, lambda_context)
    return plan


def test_one_slot_in_two_spellings_starts_one_execution(stack, lambda_context, monkeypatch):
    # Given a fleet larger than a shard, so that the scheduled audit fans out
    monkeypatch.setenv("AUDIT_KEYS_PER_SHARD", "4")
    sfn = boto3.client("stepfunctions")

    # When the same slot is delivered in two spellings of one instant (a retry, an operator's manual run)
    first = audit_handler({"scheduled_time": "2026-01-15T06:00:00Z"}, lambda_context)
    second = audit_handler({"scheduled_time": "2026-01-15T07:00:00+01:00"}, lambda_context)

    # Then one execution was started, under one run id, and both deliveries name it
    executions = sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"]
    assert len(executions) == 1
    assert first["run_id"] == second["run_id"] and first["execution_arn"] == second["execution_arn"]


def test_a_slot_that_is_not_a_time_is_an_error_naming_the_field(stack, lambda_context):
    from okxcore.errors import InvalidInputError

    with pytest.raises(InvalidInputError) as caught:
        audit_handler({"scheduled_time": "yesterday"}, lambda_context)
    assert caught.value.field == "scheduled_time"
    [message] = stack.reports()
    assert "scheduled_time" in message.text


@pytest.mark.parametrize("failing", ["report.json", "published.json"])
def test_a_merge_retried_after_a_partial_failure_publishes_once(stack, monkeypatch, failing):
    # Given the merge's first attempt failing to store one of its objects (S3 refuses that one PUT once)
    from okxcore.aws.run_store import S3RunStore

    real_put = S3RunStore.put_json
    failures = {"left": 1}

    def flaky_put(self: S3RunStore, key: str, value: Any) -> str:
        if key.endswith("/" + failing) and failures["left"]:
            failures["left"] -= 1
            raise RuntimeError(f"S3 refused {key} (injected)")
        return real_put(self, key, value)

    monkeypatch.setattr(S3RunStore, "put_json", flaky_put)

    # When the state machine runs (its Retry runs the merge again if it failed)
    outcome = run_fanout(execution_input_for(EVENT, shards=3))

    # Then the injected failure happened, and the subscriber received exactly one report of the nine keys
    assert failures["left"] == 0
    [message] = stack.reports()
    assert "9 key(s)" in message.subject
    report_key = f"audit-runs/{outcome.output['plan']['run_id']}/report.json"
    stored = json.loads(s3().get_object(Bucket=RUN_BUCKET, Key=report_key)["Body"].read())
    assert len(stored["details"]["keys"]) == 9


def test_a_run_whose_planned_items_are_missing_is_an_error_never_ok(stack, lambda_context):
    # Given a planned run whose items object is gone when the merge reads it
    plan = run_steps(lambda_context, "run-items-gone")
    s3().delete_object(Bucket=RUN_BUCKET, Key=plan["items_key"])

    # When the merge runs
    fanout_handler({"step": "merge", "plan": plan}, lambda_context)

    # Then the one report is an error naming the object, never "[OK] ... 0 key(s) in 0 shard(s)"
    [message] = stack.reports()
    assert message.attributes["severity"] in {"CRITICAL", "HIGH"}
    assert "[OK]" not in message.subject and "0 shard(s)" not in message.subject
    assert plan["items_key"] in message.text
    assert "9 key(s) in 3 shard(s) not audited" in message.text


def test_a_malformed_shard_result_is_a_finding_naming_the_shard_and_the_report_goes_out(stack, lambda_context):
    # Given three audited shards, one of whose stored results is not a shard result
    plan = run_steps(lambda_context, "run-bad-result")
    bad = result_key("run-bad-result", 1)
    s3().put_object(Bucket=RUN_BUCKET, Key=bad, Body=json.dumps({"shard": "one", "keys": 7}).encode())

    # When the merge runs
    fanout_handler({"step": "merge", "plan": plan}, lambda_context)

    # Then one report went out: the other shards' six keys, and a finding naming shard 2 and its object
    [message] = stack.reports()
    assert "3 of 9 key(s) need attention (3 not audited)" in message.subject  # the unaudited keys count
    assert "Audited 6 key(s) in 2 of 3 shard(s)" in message.text
    assert message.attributes["severity"] == "HIGH" and message.attributes["failed"] == "true"
    assert "shard 2 of 3" in message.text and bad in message.text
    assert "3 key(s) not audited" in message.text
