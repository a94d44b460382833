"""The audit and the rotation: a key on a healthy rotation schedule is not "rotation due"; a rotation that
failed is a HIGH finding naming the step, until a rotation succeeds."""

from __future__ import annotations

import pytest

from okxcore.aws.rotation_secrets import SecretsManagerVersions
from okxlocal import rotation as sm
from okxlocal.runner import invoke

EVENT = {"scheduled_time": "2026-12-01T06:00:00Z", "key_secret_prefix": "okx-shield/keys/"}


def age_and_rotation_findings(result, secret):
    return [
        f
        for f in result["findings"]
        if f["resource"] == secret and f["check_id"] in {"audit.key_age", "audit.rotation"}
    ]


def test_a_key_on_a_healthy_rotation_schedule_is_not_rotation_due_and_a_key_without_one_is(rotation):
    result = invoke("audit", dict(EVENT))

    (managed,) = age_and_rotation_findings(result, rotation.secret("bot-sub"))  # 100 days old, rotation on
    assert (managed["severity"], managed["status"]) == ("INFO", "PASS")
    assert "rotated by okx-shield" in managed["message"]
    (manual,) = age_and_rotation_findings(result, rotation.secret("manual-key"))  # 10 days old, no rotation
    assert manual["status"] == "PASS" and "rotated" not in manual["message"]


def test_an_unmanaged_key_of_the_same_age_is_rotation_due(local_stack, lambda_context):
    from rotation_helpers import rotation_seed

    stack = local_stack(rotation_seed())
    result = invoke("audit", dict(EVENT))

    (due,) = age_and_rotation_findings(result, "okx-shield/keys/bot-sub")
    assert due["severity"] == "MEDIUM" and "rotation due" in due["message"]
    assert stack.sim is not None


def test_a_failed_rotation_is_a_high_finding_naming_the_step_until_a_rotation_succeeds(rotation, monkeypatch):
    def put_fails(self, secret_id, token, text):
        raise RuntimeError("injected PutSecretValue failure")

    with monkeypatch.context() as patch:
        patch.setattr(SecretsManagerVersions, "put_pending", put_fails)
        token = sm.begin_rotation(rotation.secret("bot-sub"))
        with pytest.raises(Exception, match="createSecret"):
            rotation.invoke(sm.step_event(rotation.secret("bot-sub"), token, "createSecret"))

    findings = age_and_rotation_findings(invoke("audit", dict(EVENT)), rotation.secret("bot-sub"))
    failed = [f for f in findings if f["check_id"] == "audit.rotation"]
    assert [(f["severity"], f["message"]) for f in failed] == [("HIGH", "rotation failed at createSecret")]
    assert any("rotation due" in f["message"] for f in findings)  # the schedule is not healthy any more

    assert rotation.rotate("bot-sub").succeeded
    after = age_and_rotation_findings(invoke("audit", dict(EVENT)), rotation.secret("bot-sub"))
    assert [(f["severity"], f["status"]) for f in after] == [("INFO", "PASS")]


def test_a_refused_master_key_rotation_is_a_high_finding_with_the_manual_way(rotation):
    assert not rotation.rotate("master").succeeded

    findings = age_and_rotation_findings(invoke("audit", dict(EVENT)), rotation.secret("master"))

    (refused,) = [f for f in findings if f["check_id"] == "audit.rotation"]
    assert refused["severity"] == "HIGH" and refused["message"] == "rotation refused at createSecret"
    assert "by hand" in refused["remediation"]
