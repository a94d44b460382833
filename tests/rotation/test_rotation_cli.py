"""`okx-shield keys rotate`: the dry run changes nothing anywhere; the command rotates on the local stack."""

from __future__ import annotations

import io

import pytest

from okxcli.keys.rotate import show_plan
from okxcli.main import main


def test_a_dry_run_shows_the_plan_and_changes_nothing_at_okx_or_in_secrets_manager(rotation):
    keys_before = [k.model_dump() for k in rotation.sim.state.keys]
    stages_before = rotation.stages("bot-sub")
    out = io.StringIO()

    assert show_plan(rotation.secret("bot-sub"), out) == 0

    text = out.getvalue()
    assert "would create a key in sub-account desk-1 with perm read_only,trade" in text
    assert "127.0.0.2, 127.0.0.3, 203.0.113.9" in text
    assert [k.model_dump() for k in rotation.sim.state.keys] == keys_before
    assert not [r for r in rotation.sim.stats.requests if r.method == "POST"]
    assert rotation.stages("bot-sub") == stages_before
    assert rotation.record("bot-sub").status == "none"


@pytest.mark.integration  # the command starts its own local stack
def test_the_command_rotates_a_demo_key_on_the_local_stack_and_prints_each_step(capsys):
    assert main(["keys", "rotate", "--secret", "okx-shield/keys/expiring-bot"]) == 0

    out = capsys.readouterr().out
    for step in (
        "createSecret: created key okxs-",
        "testSecret: the new key authenticates",
        "finishSecret: AWSCURRENT",
    ):
        assert step in out


def test_for_real_a_secret_that_does_not_exist_is_an_input_error_as_for_bind_ips(monkeypatch, capsys):
    from moto import mock_aws

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "SHIELD_SECRET_NAME": "okx-shield/shield",
        "REPORT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:reports",
        "STATE_TABLE_NAME": "state",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        code = main(["keys", "rotate", "--secret", "okx-shield/keys/none", "--real", "--master-secret", "m"])

    # A secret that does not exist is the input's fault, said as bind-ips says it (it blamed IAM, exit 3)
    assert code == 2
    err = capsys.readouterr().err
    assert "okx-shield/keys/none: field '(whole secret)': does not exist in Secrets Manager" in err
    assert "Traceback" not in err
