"""Trade plans in their own files: `okx-shield plans check` with the function's models, `plans deploy` making the
stack's schedules match the files (moto's EventBridge Scheduler and CloudFormation), `invoke --plan`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import boto3
import pytest

from handlers.trade import EVENT_MODEL
from okxcli.main import main
from okxcli.plans.deploy import local_target
from okxcli.plans.files import check_plans
from okxcore.slot import SCHEDULER_PLACEHOLDER
from okxlocal.stack import PLAN_SCHEDULE_GROUP, TRADE_FUNCTION_ARN
from okxlocal.template import ROOT

PLANS = ROOT / "plans"


def plan_file(folder: Path, plan_id: str, **changes: object) -> Path:
    """A copy of the shipped DCA plan as `plan_id`, with top-level or plan fields changed."""
    document = json.loads((PLANS / "dca-btc-daily.json").read_text())
    document["plan"]["plan_id"] = plan_id
    for name, value in changes.items():
        target = document if name in {"schedule", "enabled", "description"} else document["plan"]
        target[name] = value
    path = folder / f"{plan_id}.json"
    path.write_text(json.dumps(document))
    return path


def test_every_shipped_plan_passes_the_check_and_is_off_until_enabled():
    checked = check_plans([PLANS])
    assert checked.problems == []
    assert {p.plan_id for p in checked.plans} == {p.stem for p in PLANS.glob("*.json")} != set()
    assert not any(p.file.enabled for p in checked.plans)  # real money: turned on deliberately, per plan


def test_check_names_every_problem_of_every_file_and_exits_2(tmp_path, capsys):
    plan_file(tmp_path, "bad-schedule", schedule="cron(0 12 * * * *)")
    plan_file(tmp_path, "bad-leg", legs=[{"kind": "market", "inst_id": "BTC/USDT", "side": "buy", "quote_amount": "5"}])
    plan_file(tmp_path, "has-a-time", scheduled_time="2026-01-05T09:00:00Z")
    plan_file(tmp_path, "outside-prefix", key_secret="my-keys/bot")
    (plan_file(tmp_path, "renamed")).rename(tmp_path / "other-name.json")
    plan_file(tmp_path, "fine")
    (tmp_path / "broken.json").write_text('{"schedule": ')
    code = main(["plans", "check", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 2
    assert "Traceback" not in err
    lines = err.splitlines()
    expected = {
        "bad-schedule.json: field 'schedule': exactly one of day-of-month",
        "bad-leg.json: field 'plan.legs[0].inst_id'",
        "has-a-time.json: field 'plan.scheduled_time': must be left out",
        "outside-prefix.json: field 'plan.key_secret': is not under the key prefix okx-shield/keys/",
        "other-name.json: field 'plan.plan_id': is 'renamed' but the file is other-name.json",
        "broken.json: field '(whole file)': is not valid JSON",
    }
    for fragment in expected:
        assert any(fragment in line for line in lines), (fragment, err)
    assert len(lines) == len(expected)
    assert f"ok  {tmp_path / 'fine.json'}" in out


def test_deploy_makes_one_schedule_per_plan_whose_input_the_trade_function_accepts(tmp_path, aws, capsys):
    boto3.client("scheduler").create_schedule_group(Name=PLAN_SCHEDULE_GROUP)
    shutil.copytree(PLANS, tmp_path / "plans")
    enabled = plan_file(tmp_path / "plans", "dca-eth-hourly", schedule="rate(1 hour)", enabled=True)
    from okxcli.plans import deploy

    assert deploy(tmp_path / "plans", local_target(), dry_run=False) == 0
    scheduler = boto3.client("scheduler")
    names = {s["Name"] for s in scheduler.list_schedules(GroupName=PLAN_SCHEDULE_GROUP)["Schedules"]}
    assert names == {"dca-btc-daily", "eth-weekly-bid", "dca-eth-hourly"}
    schedule = scheduler.get_schedule(Name="dca-eth-hourly", GroupName=PLAN_SCHEDULE_GROUP)
    assert (schedule["ScheduleExpression"], schedule["ScheduleExpressionTimezone"]) == ("rate(1 hour)", "UTC")
    assert schedule["State"] == "ENABLED"
    assert scheduler.get_schedule(Name="dca-btc-daily", GroupName=PLAN_SCHEDULE_GROUP)["State"] == "DISABLED"
    target = schedule["Target"]
    assert target["Arn"] == TRADE_FUNCTION_ARN
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 540}
    delivered = json.loads(target["Input"])
    assert delivered["scheduled_time"] == SCHEDULER_PLACEHOLDER
    # What the Scheduler delivers (its placeholder filled in) is a plan the function accepts, as written in the file
    slot = {**delivered, "scheduled_time": "2026-12-01T12:00:00Z"}
    assert EVENT_MODEL.model_validate(slot).model_dump(exclude={"scheduled_time"}) == EVENT_MODEL.model_validate(
        {**json.loads(enabled.read_text())["plan"], "scheduled_time": "2026-12-01T12:00:00Z"}
    ).model_dump(exclude={"scheduled_time"})
    capsys.readouterr()

    # A second deploy changes nothing; a changed file is updated, a removed one deleted
    assert deploy(tmp_path / "plans", local_target(), dry_run=False) == 0
    assert capsys.readouterr().out.count("unchanged") == 3
    plan_file(tmp_path / "plans", "dca-eth-hourly", schedule="rate(2 hours)", enabled=True)
    (tmp_path / "plans" / "eth-weekly-bid.json").unlink()
    assert deploy(tmp_path / "plans", local_target(), dry_run=True) == 0
    out = capsys.readouterr().out
    assert "update     dca-eth-hourly: rate(2 hours) UTC, ENABLED (ScheduleExpression)" in out
    assert "delete     eth-weekly-bid" in out
    assert len(scheduler.list_schedules(GroupName=PLAN_SCHEDULE_GROUP)["Schedules"]) == 3  # a dry run changes nothing
    assert deploy(tmp_path / "plans", local_target(), dry_run=False) == 0
    names = {s["Name"] for s in scheduler.list_schedules(GroupName=PLAN_SCHEDULE_GROUP)["Schedules"]}
    assert names == {"dca-btc-daily", "dca-eth-hourly"}
    expression = scheduler.get_schedule(Name="dca-eth-hourly", GroupName=PLAN_SCHEDULE_GROUP)["ScheduleExpression"]
    assert expression == "rate(2 hours)"


def test_deploy_changes_nothing_when_one_file_fails_its_check(tmp_path, aws, capsys):
    boto3.client("scheduler").create_schedule_group(Name=PLAN_SCHEDULE_GROUP)
    plan_file(tmp_path, "good")
    plan_file(tmp_path, "bad", legs=[])
    from okxcli.plans import deploy

    assert deploy(tmp_path, local_target(), dry_run=False) == 2
    assert boto3.client("scheduler").list_schedules(GroupName=PLAN_SCHEDULE_GROUP)["Schedules"] == []
    assert "Nothing was deployed" in capsys.readouterr().out


STACK_TEMPLATE = {
    "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
    "Parameters": {"KeySecretPrefix": {"Type": "String", "Default": "desk/keys/"}},
    "Outputs": {
        "PlanScheduleGroupName": {"Value": "desk-plans"},
        "TradeFunctionArn": {"Value": "arn:aws:lambda:us-east-1:123456789012:function:desk-trade"},
        "PlanSchedulerRoleArn": {"Value": "arn:aws:iam::123456789012:role/desk-plan-scheduler"},
        "DeadLetterQueueArn": {"Value": "arn:aws:sqs:us-east-1:123456789012:desk-dlq"},
    },
}


def test_deploy_real_reads_the_stacks_outputs_and_its_key_prefix(tmp_path, aws, capsys, monkeypatch):
    boto3.client("cloudformation").create_stack(StackName="desk", TemplateBody=json.dumps(STACK_TEMPLATE))
    boto3.client("scheduler").create_schedule_group(Name="desk-plans")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plans").mkdir()
    plan_file(tmp_path / "plans", "desk-dca", key_secret="desk/keys/bot")
    assert main(["plans", "deploy", "--real", "--stack", "desk"]) == 0
    [schedule] = boto3.client("scheduler").list_schedules(GroupName="desk-plans")["Schedules"]
    assert schedule["Target"]["Arn"].endswith(":function:desk-trade")
    assert "stack desk (group desk-plans)" in capsys.readouterr().out
    # The stack's own KeySecretPrefix is the one checked: a key outside it would be unreadable by the function
    plan_file(tmp_path / "plans", "stray", key_secret="okx-shield/keys/bot-main")
    assert main(["plans", "deploy", "--real", "--stack", "desk"]) == 2
    assert "is not under the key prefix desk/keys/" in capsys.readouterr().err
    # samconfig.toml's environment names the stack and its region, as `sam deploy --config-env` reads them
    (tmp_path / "plans" / "stray.json").unlink()
    (tmp_path / "samconfig.toml").write_text(
        'version = 0.1\n[prod.global.parameters]\nstack_name = "okx-shield-prod"\n'
        '[prod.deploy.parameters]\nstack_name = "desk"\nregion = "us-east-1"\n'
    )
    assert main(["plans", "deploy", "--real", "--config-env", "prod", "--dry-run"]) == 0
    assert "unchanged  desk-dca" in capsys.readouterr().out
    assert main(["plans", "deploy", "--real", "--config-env", "staging"]) == 2
    assert "names no stack_name for environment 'staging'" in capsys.readouterr().err


def test_deploy_real_names_what_is_missing_in_words(tmp_path, aws, capsys):
    old = {**STACK_TEMPLATE, "Outputs": {}}
    boto3.client("cloudformation").create_stack(StackName="old", TemplateBody=json.dumps(old))
    assert main(["plans", "deploy", "--real"]) == 2
    assert "--stack" in capsys.readouterr().err
    assert main(["plans", "deploy", "--real", "--stack", "old"]) == 2
    err = capsys.readouterr().err
    assert "has no output PlanScheduleGroupName" in err and "sam deploy" in err and "Traceback" not in err
    assert main(["plans", "deploy", "--real", "--stack", "nowhere"]) == 2
    assert "stack nowhere cannot be read" in capsys.readouterr().err


def test_deploy_real_without_a_region_is_one_line_naming_the_fix(monkeypatch, capsys):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    assert main(["plans", "deploy", "--real", "--stack", "okx-shield-dev"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "region" in err and "AWS_DEFAULT_REGION" in err


@pytest.mark.parametrize("function", ["probe", "trade"])
def test_invoke_plan_delivers_a_plan_file_as_its_schedule_would_now(capsys, function):
    code = main(["invoke", function, "--plan", str(PLANS / "dca-btc-daily.json")])
    captured = capsys.readouterr()
    if function == "probe":
        assert code == 2 and "applies to the trade function only" in captured.err
        return
    assert code == 0
    result = json.loads(captured.out)
    assert result["status"] == "DONE" and result["plan_id"] == "dca-btc-daily"
