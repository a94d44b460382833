"""The rotation function's four steps against the simulator (through a real proxy) and moto.

Every assertion is on what the simulator holds (keys, labels, IPs, permissions, who called) or what moto
holds (versions and staging labels, the state table), not on what the function says it did.
"""

from __future__ import annotations

import json
import time

import pytest

from okxcore.keys.rotation.model import RotationError, rotation_label
from okxlocal.stack import EGRESS_IP, SECOND_SHIELD_IP


def twice(harness):
    """Secrets Manager retrying every step: each step runs a second time right after succeeding."""

    def invoke(event):
        first = harness.invoke(event)
        second = harness.invoke(event)
        assert second["secret"] == first["secret"]
        return first

    return invoke


def test_a_full_rotation_with_every_step_run_twice_replaces_the_key_and_keeps_the_old_one_for_the_grace_period(
    rotation, log_stream
):
    old = rotation.value("bot-sub")
    before = {k.api_key for k in rotation.live_sub_keys()}

    done = rotation.rotate("bot-sub", invoke=twice(rotation))
    sent = len(rotation.sim.stats.requests)  # every step's, each its own invocation (the proxy carried them all)

    assert done.succeeded, done.error
    new = rotation.value("bot-sub")
    assert new["api_key"] != old["api_key"]
    # the same JSON format, every non-credential field carried over, created_at set now
    assert set(new) == set(old)
    assert {k: new[k] for k in ("label", "demo", "region")} == {k: old[k] for k in ("label", "demo", "region")}
    assert new["created_at"] > old["created_at"]
    created = [k for k in rotation.live_sub_keys() if k.api_key not in before]
    assert len(created) == 1  # every step ran twice, and OKX got exactly one new key
    key = created[0]
    assert key.label == rotation_label(rotation.secret("bot-sub"), done.token)
    assert key.ips[:2] == [EGRESS_IP, SECOND_SHIELD_IP]
    assert "203.0.113.9" in key.ips  # the user's own extra IP is kept
    assert key.perm == {"read_only", "trade"}
    assert key.api_key == new["api_key"] and key.secret == new["api_secret"] and key.passphrase == new["passphrase"]
    # the old key still works during the grace period, and is recorded for deletion
    assert rotation.works(old) and rotation.works(new)
    pending = rotation.record("bot-sub").pending_deletions
    assert [p.label for p in pending] == ["bot-sub"]
    assert pending[0].due_ms > (time.time() + 3500) * 1000
    stages = rotation.stages("bot-sub")
    assert "AWSCURRENT" in stages[done.token]
    # every request reached OKX from the proxy's IP only
    assert {r.peer_ip for r in rotation.sim.stats.requests} == {EGRESS_IP}
    reports = rotation.stack.reports()
    assert [r.attributes["severity"] for r in reports] == ["OK"]
    assert "rotated" in reports[0].subject
    assert sent > 0 and f"Requests sent through Shield by this run: {sent}." in reports[0].text  # it said 0
    # a bot (probe) picks the new key up once its cached secret expires: no redeploy
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()  # what max_age (300 s) does to a warm function's cached secret
    last_old = rotation.sim.key_last_used_ms(old["api_key"])
    last_new = rotation.sim.key_last_used_ms(new["api_key"])  # the test's own call above
    from okxlocal.runner import invoke as invoke_function

    time.sleep(0.01)
    invoke_function("probe", {"key_secret_names": [rotation.secret("bot-sub")]})
    assert rotation.sim.key_last_used_ms(old["api_key"]) == last_old
    assert rotation.sim.key_last_used_ms(new["api_key"]) > last_new
    # no credential, old or new, in any log line, report or return value
    texts = [log_stream.getvalue(), *(r.body + r.subject for r in reports), str(done.results)]
    for value in (old["api_secret"], old["passphrase"], new["api_secret"], new["passphrase"], new["api_key"]):
        assert all(value not in text for text in texts)


def test_permissions_are_the_old_keys_minus_what_the_secret_does_not_allow(rotation):
    rotation.stack_secret_update = None
    import json

    import boto3

    client = boto3.client("secretsmanager", region_name="us-east-1")
    body = {**rotation.value("bot-ro"), "purpose": "read_only", "allowed_permissions": ["read_only"]}
    client.put_secret_value(SecretId=rotation.secret("bot-ro"), SecretString=json.dumps(body))
    assert rotation.seeded("bot-ro").perm == {"read_only", "trade"}

    done = rotation.rotate("bot-ro")

    assert done.succeeded, done.error
    new = rotation.value("bot-ro")
    assert rotation.sim.key(new["api_key"]).perm == {"read_only"}
    assert new["allowed_permissions"] == ["read_only"]


def test_a_retired_key_is_deleted_by_the_cleanup_only_after_its_grace_period(rotation, monkeypatch):
    monkeypatch.setenv("ROTATION_GRACE_PERIOD_S", "2")
    old = rotation.value("bot-sub")
    assert rotation.rotate("bot-sub").succeeded

    calls = rotation.sim.stats.total_requests()
    early = rotation.invoke({"cleanup": True})
    assert early["deleted"] == {}
    assert rotation.sim.stats.total_requests() == calls  # a finished rotation with nothing due costs no OKX call
    assert rotation.works(old)
    time.sleep(2.1)
    late = rotation.invoke({"cleanup": True})

    assert late["deleted"] == {rotation.secret("bot-sub"): ["bot-sub"]}
    assert rotation.sim.key(old["api_key"]).deleted
    assert rotation.record("bot-sub").pending_deletions == []
    assert rotation.works(rotation.value("bot-sub"))
    assert rotation.invoke({"cleanup": True})["deleted"] == {}  # nothing left to do
    rotation.assert_one_usable_key_per_secret("bot-sub")


def test_the_master_accounts_own_key_is_refused_with_the_manual_steps(rotation, capsys, monkeypatch):
    from handlers.observability import metrics

    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED")
    metrics.clear_metrics()  # what earlier tests added with metrics disabled (never flushed)
    before = len(rotation.sim.state.keys)

    done = rotation.rotate("master")

    assert not done.succeeded and done.failed_step == "createSecret"
    assert isinstance(done.error, RotationError)
    assert len(rotation.sim.state.keys) == before
    assert not [r for r in rotation.sim.stats.requests if r.method == "POST"]
    (report,) = rotation.stack.reports()
    assert report.attributes["severity"] == "HIGH"  # rotation.master_key is HIGH: the report says HIGH
    assert report.attributes["failed"] == "true"  # and the rotation did not happen
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [blob["RunFailed"] for blob in emitted] == [[1.0]]  # the rotate function flushes its metrics too
    assert "master" in report.text and "by hand" in report.text and "Shield IPs" in report.text
    assert rotation.record("master").status == "refused"
    assert rotation.works(rotation.value("master"))


def test_an_event_that_is_neither_a_step_nor_the_cleanup_is_refused_naming_the_field(rotation):
    with pytest.raises(Exception, match="Step"):
        rotation.invoke({"SecretId": "x", "ClientRequestToken": "t" * 36, "Step": "dropSecret"})
    assert rotation.stack.reports()[0].attributes["severity"] == "CRITICAL"  # the invalid event
