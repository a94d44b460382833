"""Failures injected at each dangerous point of a rotation: afterwards the secret's AWSCURRENT works, the
simulator holds one usable key per secret (plus old keys recorded for deletion), and after the next run no
key is left that nobody knows about."""

from __future__ import annotations

import pytest

from okxcore.aws.rotation_secrets import SecretsManagerVersions
from okxcore.keys.rotation.model import rotation_label
from okxlocal import rotation as sm
from okxlocal.stack import SECOND_SHIELD_IP


class Crash(BaseException):
    """The process dies (timeout, out of memory): no except clause of the function runs."""


def failing_at(harness, step, times=1):
    left = {"n": times}

    def invoke(event):
        if event["Step"] == step and left["n"] > 0:
            left["n"] -= 1
            raise RuntimeError(f"injected failure in {step}")
        return harness.invoke(event)

    return invoke


def test_a_rotation_abandoned_after_createsecret_leaves_awscurrent_working_and_the_next_run_removes_its_key(rotation):
    old = rotation.value("bot-sub")

    failed = rotation.rotate("bot-sub", invoke=failing_at(rotation, "setSecret", times=99), retries=1)

    assert failed.failed_step == "setSecret"
    assert rotation.value("bot-sub")["api_key"] == old["api_key"] and rotation.works(old)
    abandoned = rotation_label(rotation.secret("bot-sub"), failed.token)
    assert abandoned in {k.label for k in rotation.live_sub_keys()}  # AWSPENDING's key, not yet an orphan

    nxt = rotation.rotate("bot-sub")

    assert nxt.succeeded, nxt.error
    assert abandoned not in {k.label for k in rotation.live_sub_keys()}
    rotation.assert_one_usable_key_per_secret("bot-sub", "bot-ro")


def test_a_setsecret_retried_by_secrets_manager_completes_the_same_rotation(rotation):
    done = rotation.rotate("bot-sub", invoke=failing_at(rotation, "setSecret", times=1), retries=2)

    assert done.succeeded, done.error
    rotation.assert_one_usable_key_per_secret("bot-sub", "bot-ro")


def test_when_storing_the_new_key_fails_the_key_is_deleted_at_okx_at_once_and_a_retry_succeeds(rotation, monkeypatch):
    real_put = SecretsManagerVersions.put_pending
    calls = {"n": 0}

    def put_fails_once(self, secret_id, token, text):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("injected PutSecretValue failure")
        real_put(self, secret_id, token, text)

    monkeypatch.setattr(SecretsManagerVersions, "put_pending", put_fails_once)
    before = {k.api_key for k in rotation.live_sub_keys()}
    token = sm.begin_rotation(rotation.secret("bot-sub"))

    with pytest.raises(Exception, match="storing the new key failed") as raised:
        rotation.invoke(sm.step_event(rotation.secret("bot-sub"), token, "createSecret"))

    assert {k.api_key for k in rotation.live_sub_keys()} == before  # the fresh key is already gone
    reports = rotation.stack.reports()
    (lost,) = [k for k in rotation.sim.state.keys if k.deleted and k.label.startswith("okxs-")]
    old = rotation.value("bot-sub")
    texts = [str(raised.value), *(r.subject + r.body for r in reports)]
    for value in (lost.secret, lost.passphrase, old["api_secret"], old["passphrase"]):
        assert all(value not in text for text in texts)
    assert rotation.works(rotation.value("bot-sub"))
    (report,) = reports
    assert "createSecret" in report.subject and report.attributes["severity"] == "HIGH"
    assert rotation.record("bot-sub").failed_step == "createSecret"
    for step in sm.STEPS:  # Secrets Manager retries createSecret, then runs the rest
        rotation.invoke(sm.step_event(rotation.secret("bot-sub"), token, step))
    assert rotation.value("bot-sub")["api_key"] not in before
    rotation.assert_one_usable_key_per_secret("bot-sub", "bot-ro")


def test_a_crash_between_creating_the_okx_key_and_storing_it_leaves_a_key_the_retry_finds_by_its_label(
    rotation, monkeypatch
):
    real_put = SecretsManagerVersions.put_pending
    calls = {"n": 0}

    def crash_once(self, secret_id, token, text):
        calls["n"] += 1
        if calls["n"] == 1:
            raise Crash
        real_put(self, secret_id, token, text)

    monkeypatch.setattr(SecretsManagerVersions, "put_pending", crash_once)
    secret = rotation.secret("bot-sub")
    token = sm.begin_rotation(secret)
    with pytest.raises(Crash):
        rotation.invoke(sm.step_event(secret, token, "createSecret"))
    label = rotation_label(secret, token)
    (orphan,) = [k for k in rotation.live_sub_keys() if k.label == label]
    assert rotation.works(rotation.value("bot-sub"))

    rotation.invoke(sm.step_event(secret, token, "createSecret"))  # Secrets Manager's retry

    assert rotation.sim.key(orphan.api_key).deleted  # its secret was never stored: deleted, not reused
    (fresh,) = [k for k in rotation.live_sub_keys() if k.label == label]
    assert fresh.api_key == rotation.value("bot-sub", "AWSPENDING", token)["api_key"]
    for step in sm.STEPS[1:]:
        rotation.invoke(sm.step_event(secret, token, step))
    rotation.assert_one_usable_key_per_secret("bot-sub", "bot-ro")


def test_a_key_that_fails_testsecret_is_deleted_at_once_and_awscurrent_never_moves(rotation):
    secret = rotation.secret("bot-sub")
    old = rotation.value("bot-sub")
    token = sm.begin_rotation(secret)
    rotation.invoke(sm.step_event(secret, token, "createSecret"))
    rotation.invoke(sm.step_event(secret, token, "setSecret"))
    new_key = rotation.value("bot-sub", "AWSPENDING", token)["api_key"]
    with rotation.sim.exchange.lock:  # OKX bound only one Shield IP: calls through the other would fail
        rotation.sim.key(new_key).ips = [ip for ip in rotation.sim.key(new_key).ips if ip != SECOND_SHIELD_IP]

    with pytest.raises(Exception, match="not bound to Shield IP"):
        rotation.invoke(sm.step_event(secret, token, "testSecret"))

    assert rotation.sim.key(new_key).deleted
    assert "AWSPENDING" not in rotation.stages("bot-sub")[token]
    with pytest.raises(Exception, match="no longer AWSPENDING"):  # a retry cannot resurrect it
        rotation.invoke(sm.step_event(secret, token, "testSecret"))
    with pytest.raises(Exception, match="no longer AWSPENDING"):
        rotation.invoke(sm.step_event(secret, token, "finishSecret"))
    assert rotation.value("bot-sub")["api_key"] == old["api_key"]
    reports = rotation.stack.reports()
    assert "testSecret" in reports[0].subject and "SECOND" not in reports[0].text
    record = rotation.record("bot-sub")
    assert (record.status, record.failed_step) == ("failed", "testSecret")
    rotation.assert_one_usable_key_per_secret("bot-sub", "bot-ro")
    assert rotation.rotate("bot-sub").succeeded
    rotation.assert_one_usable_key_per_secret("bot-sub", "bot-ro")


def test_finishsecret_refuses_a_key_that_never_passed_testsecret(rotation):
    secret = rotation.secret("bot-sub")
    old = rotation.value("bot-sub")
    token = sm.begin_rotation(secret)
    rotation.invoke(sm.step_event(secret, token, "createSecret"))

    with pytest.raises(Exception, match="has not passed testSecret"):
        rotation.invoke(sm.step_event(secret, token, "finishSecret"))

    assert rotation.value("bot-sub")["api_key"] == old["api_key"]


def test_a_sub_account_at_okxs_50_key_limit_is_refused_before_anything_is_created(rotation):
    from okxlocal.seeds import new_key

    uid = rotation.seeded("bot-sub").uid
    while len(rotation.live_sub_keys()) < 50:
        rotation.sim.add_key(new_key(uid, f"filler-{len(rotation.live_sub_keys())}"))

    done = rotation.rotate("bot-sub")

    assert done.failed_step == "createSecret" and "50 keys" in str(done.error)
    assert not [r for r in rotation.sim.stats.requests if r.method == "POST"]
    assert rotation.works(rotation.value("bot-sub"))
    (report,) = rotation.stack.reports()
    assert "Delete keys that are no longer used" in report.text
