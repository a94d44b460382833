"""Issue 18, items 3-6: the scenarios in which the rotation deleted a key too early, deleted the current key,
left a retired key alive, or reported the opposite of what was true. Each runs the real handler against the
simulator (through the real proxy) and moto, on an injected clock, and asserts on what the simulator and moto
hold afterwards.
"""

from __future__ import annotations

import threading

import boto3
import pytest
from rotation_helpers import FakeClock, run_on_clock

from okxcore.aws.rotation_secrets import SecretsManagerVersions
from okxcore.aws.rotation_state import DynamoRotationLedger, RotationStateError
from okxcore.keys.rotation.okx import MasterKeys
from okxcore.keys.rotation.ports import SecretStoreError
from okxlocal import rotation as sm
from okxlocal.runner import invoke as invoke_function
from okxlocal.stack import AWS_REGION

GRACE_S = 20
AUDIT = {"scheduled_time": "2026-12-01T06:00:00Z", "key_secret_prefix": "okx-shield/keys/"}


@pytest.fixture
def clock(rotation, monkeypatch) -> FakeClock:
    """The rotation on a fake clock with a 20 s grace period; OKX's 1-write-per-second limit is off, since the
    fake clock's sleeps do not wait (the limit has its own tests)."""
    monkeypatch.setenv("ROTATION_GRACE_PERIOD_S", str(GRACE_S))
    fake = FakeClock()
    run_on_clock(monkeypatch, fake)
    rotation.sim.state.rate_limits_enabled = False
    return fake


def steps(rotation, secret, token, *names):
    for name in names:
        rotation.invoke(sm.step_event(secret, token, name))


def live(rotation, api_key) -> bool:
    key = rotation.sim.key(api_key)
    return key is not None and not key.deleted


def fail_once(monkeypatch, cls, name, error):
    """The next call of cls.name raises error (as the adapter raises botocore's failures) without doing anything."""
    real = getattr(cls, name)
    left = {"n": 1}

    def failing(self, *args, **kwargs):
        if left["n"]:
            left["n"] -= 1
            raise error(f"{name}: an error occurred (ServiceUnavailable): injected")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(cls, name, failing)


# --- 3: the grace period counts from the moment AWSCURRENT really moved ------------------------------------------


def test_after_a_failed_stage_move_the_old_key_lives_the_grace_period_after_the_move_that_worked(
    rotation, clock, monkeypatch
):
    secret = rotation.secret("bot-sub")
    old = rotation.value("bot-sub")
    token = sm.begin_rotation(secret)
    steps(rotation, secret, token, "createSecret", "setSecret", "testSecret")
    fail_once(monkeypatch, SecretsManagerVersions, "promote", SecretStoreError)

    with pytest.raises(Exception, match="AWSCURRENT was not moved"):
        rotation.invoke(sm.step_event(secret, token, "finishSecret"))
    assert rotation.value("bot-sub")["api_key"] == old["api_key"]

    clock.advance(60)  # Secrets Manager retries the step a minute later: this move is the one that works
    moved_ms = clock.now_ms()
    rotation.invoke(sm.step_event(secret, token, "finishSecret"))
    assert rotation.value("bot-sub")["api_key"] != old["api_key"]

    clock.advance(1)
    rotation.invoke({"cleanup": True})
    assert live(rotation, old["api_key"]), "deleted 1 s after AWSCURRENT moved, with a 20 s grace period"
    clock.advance(GRACE_S - 2)
    rotation.invoke({"cleanup": True})
    assert live(rotation, old["api_key"])
    clock.advance(2)
    assert rotation.invoke({"cleanup": True})["deleted"] == {secret: ["bot-sub"]}
    assert not live(rotation, old["api_key"])
    assert clock.now_ms() >= moved_ms + GRACE_S * 1000


def test_the_finished_report_names_a_deletion_time_the_grace_period_after_the_move(rotation, clock, monkeypatch):
    secret = rotation.secret("bot-sub")
    token = sm.begin_rotation(secret)
    steps(rotation, secret, token, "createSecret", "setSecret", "testSecret")
    fail_once(monkeypatch, SecretsManagerVersions, "promote", SecretStoreError)
    with pytest.raises(Exception, match="AWSCURRENT was not moved"):
        rotation.invoke(sm.step_event(secret, token, "finishSecret"))
    clock.advance(3600)

    rotation.invoke(sm.step_event(secret, token, "finishSecret"))

    (pending,) = rotation.record("bot-sub").pending_deletions
    assert pending.due_ms == clock.now_ms() + GRACE_S * 1000


# --- 4: the cleanup never deletes a key AWSCURRENT or AWSPENDING holds -----------------------------------------


def test_a_rotation_finishing_during_a_slow_cleanup_keeps_its_new_key(rotation, monkeypatch):
    # Given an earlier rotation that failed, so that the secret has cleanup work
    failed = rotation.rotate("bot-sub", invoke=_failing_step(rotation, "testSecret"))
    assert failed.failed_step == "testSecret"
    # and a cleanup whose key listing is slow: it waits there while a rotation runs (at most 3 s)
    rotation_done = threading.Event()
    listing = threading.Event()
    real_keys = MasterKeys.keys

    def slow_keys(self):
        if threading.current_thread().name == "cleanup" and not listing.is_set():
            listing.set()
            rotation_done.wait(3)
        return real_keys(self)

    monkeypatch.setattr(MasterKeys, "keys", slow_keys)
    outcome: dict[str, object] = {}

    def cleanup():
        try:
            outcome["result"] = rotation.invoke({"cleanup": True})
        except Exception as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=cleanup, name="cleanup")
    worker.start()
    assert listing.wait(30)

    # When a rotation runs (and would finish) while the cleanup lists the keys
    done = rotation.rotate("bot-sub", retries=2)
    rotation_done.set()
    worker.join(60)

    # Then the secret still has a working key: AWSCURRENT's key is alive at OKX
    assert done.succeeded, done.error
    current = rotation.value("bot-sub")
    assert live(rotation, current["api_key"]), "the cleanup deleted the key the rotation had just made current"
    assert rotation.works(current)
    rotation.assert_one_usable_key_per_secret("bot-sub", "bot-ro")


def test_a_key_made_current_again_during_the_cleanup_is_not_deleted(rotation, clock, monkeypatch):
    # Given a finished rotation whose old key is due for deletion
    old = rotation.value("bot-sub")
    assert rotation.rotate("bot-sub").succeeded
    clock.advance(GRACE_S + 1)
    # When, while the cleanup lists the keys, the operator rolls AWSCURRENT back to the old version
    stages = rotation.stages("bot-sub")
    (current_version,) = [v for v, s in stages.items() if "AWSCURRENT" in s]
    (previous_version,) = [v for v, s in stages.items() if "AWSPREVIOUS" in s]
    real_keys = MasterKeys.keys
    rolled = {"done": False}

    def keys_then_roll_back(self):
        listed = real_keys(self)
        if not rolled["done"]:
            rolled["done"] = True
            boto3.client("secretsmanager", region_name=AWS_REGION).update_secret_version_stage(
                SecretId=rotation.secret("bot-sub"),
                VersionStage="AWSCURRENT",
                MoveToVersionId=previous_version,
                RemoveFromVersionId=current_version,
            )
        return listed

    monkeypatch.setattr(MasterKeys, "keys", keys_then_roll_back)
    rotation.invoke({"cleanup": True})

    # Then the key AWSCURRENT holds now (the old one) is alive and works
    assert rotation.value("bot-sub")["api_key"] == old["api_key"]
    assert live(rotation, old["api_key"]), "the cleanup deleted the key AWSCURRENT holds"
    assert rotation.works(old)


# --- 5: a deleted secret's retired keys are still deleted -------------------------------------------------------


@pytest.mark.parametrize("how", ["recovery window", "forced"])
def test_a_deleted_secrets_retired_key_is_deleted_after_its_grace_period(rotation, clock, how):
    old = rotation.value("bot-sub")
    assert rotation.rotate("bot-sub").succeeded
    new = rotation.value("bot-sub")
    client = boto3.client("secretsmanager", region_name=AWS_REGION)
    if how == "forced":
        client.delete_secret(SecretId=rotation.secret("bot-sub"), ForceDeleteWithoutRecovery=True)
    else:
        client.delete_secret(SecretId=rotation.secret("bot-sub"), RecoveryWindowInDays=7)
    rotation.stack.reports()

    clock.advance(GRACE_S - 1)
    rotation.invoke({"cleanup": True})
    assert live(rotation, old["api_key"])  # its grace period is not over
    clock.advance(2)
    rotation.invoke({"cleanup": True})

    assert not live(rotation, old["api_key"]), "the retired key outlived its deleted secret"
    assert live(rotation, new["api_key"])  # the key the secret held last is the user's to delete
    (report,) = rotation.stack.reports()
    assert report.attributes["severity"] != "CRITICAL"
    assert "bot-sub" in report.body and "deleted" in report.body
    assert rotation.invoke({"cleanup": True})["deleted"] == {}
    texts = [r.body for r in rotation.stack.reports()]
    for value in (old["api_secret"], old["passphrase"], new["api_secret"], new["passphrase"]):
        assert all(value not in text for text in texts)


# --- 6: reports say what is true after the step -----------------------------------------------------------------


def test_when_the_stage_moved_but_recording_it_failed_the_report_says_the_new_key_is_current(
    rotation, clock, monkeypatch
):
    secret = rotation.secret("bot-sub")
    old = rotation.value("bot-sub")
    token = sm.begin_rotation(secret)
    steps(rotation, secret, token, "createSecret", "setSecret", "testSecret")
    real_update = DynamoRotationLedger.update
    refused = {"n": 0}

    def success_not_recorded(self, name, change, **kwargs):
        def guarded(record):
            change(record)
            if record.status == "succeeded" and refused["n"] < 3:
                refused["n"] += 1
                raise RotationStateError("injected state table failure")

        return real_update(self, name, guarded, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(DynamoRotationLedger, "update", success_not_recorded)
        with pytest.raises(Exception):  # noqa: B017, PT011 - the step fails; what matters is what it reports
            rotation.invoke(sm.step_event(secret, token, "finishSecret"))

    new = rotation.value("bot-sub")
    assert new["api_key"] != old["api_key"]  # the stage did move
    (report,) = rotation.stack.reports()
    assert "still holds the key that worked before" not in report.body
    assert "nothing else changed" not in report.body
    assert "AWSCURRENT holds the new key" in report.body

    rotation.invoke(sm.step_event(secret, token, "finishSecret"))  # Secrets Manager's retry

    record = rotation.record("bot-sub")
    assert (record.status, record.failed_step) == ("succeeded", "")
    findings = invoke_function("audit", dict(AUDIT))["findings"]
    mine = [f for f in findings if f["resource"] == secret and f["check_id"] == "audit.rotation"]
    assert mine == [], "the audit kept a HIGH 'rotation failed at finishSecret' after the retry succeeded"


def _failing_step(harness, step):
    def invoke(event):
        if event["Step"] == step:
            raise RuntimeError(f"injected failure in {step}")
        return harness.invoke(event)

    return invoke
