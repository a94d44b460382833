"""The rotation function's place in template.yaml: least privilege, Secrets Manager's invoke permission,
the optional schedule, and the numbers docs/rotation.md and the audit rely on."""

from __future__ import annotations

from pathlib import Path

import yaml

from okxcore.audit.models import Thresholds
from okxcore.aws.secretstore import DEFAULT_MAX_AGE_S

ROOT = Path(__file__).resolve().parents[2]


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_multi_constructor("!", lambda loader, suffix, node: {suffix: _construct(loader, node)})


def _construct(loader, node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


def template():
    return yaml.load((ROOT / "template.yaml").read_text(), Loader=_Loader)  # noqa: S506 - SafeLoader subclass


def statements(policies):
    out = []
    for policy in policies:
        out += policy.get("Statement", [])
    return out


def test_the_rotation_function_may_change_key_secrets_only_and_never_the_master_secret():
    resources = template()["Resources"]
    function = resources["RotateFunction"]["Properties"]
    assert function["Handler"] == "handlers.rotate.handler"
    allows = [s for s in statements(function["Policies"]) if s["Effect"] == "Allow"]
    writes = [s for s in allows if "secretsmanager:PutSecretValue" in s["Action"]]
    assert len(writes) == 1
    assert set(writes[0]["Action"]) == {
        "secretsmanager:GetSecretValue",
        "secretsmanager:DescribeSecret",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
    }
    assert writes[0]["Resource"]["Sub"].endswith(":secret:${KeySecretPrefix}*")
    (deny,) = [s for s in statements(function["Policies"]) if s["Effect"] == "Deny"]
    assert set(deny["Action"]) == {"secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"}
    assert "${MasterKeySecretName}-??????" in deny["Resource"]["Sub"]
    reads = [
        p["AWSSecretsManagerGetSecretValuePolicy"]["SecretArn"]["Sub"]
        for p in function["Policies"]
        if "AWSSecretsManagerGetSecretValuePolicy" in p
    ]
    assert sorted(r.rsplit(":", 1)[1] for r in reads) == ["${MasterKeySecretName}-??????", "${ShieldSecretName}-??????"]
    assert not [s for s in allows if s["Resource"] == "*"]  # no ListSecrets, nothing account-wide


def test_secrets_manager_may_invoke_it_and_the_optional_schedule_uses_the_rotation_days_parameter():
    doc = template()
    resources = doc["Resources"]
    permission = resources["RotateFunctionInvokedBySecretsManager"]["Properties"]
    assert permission["Principal"] == "secretsmanager.amazonaws.com"
    assert permission["FunctionName"] == {"GetAtt": "RotateFunction.Arn"}
    assert permission["SourceAccount"] == {"Ref": "AWS::AccountId"}
    schedule = resources["TradeKeyRotationSchedule"]
    assert schedule["Type"] == "AWS::SecretsManager::RotationSchedule"
    assert schedule["Condition"] == "RotateTradeKey"
    assert schedule["Properties"]["RotationLambdaARN"] == {"GetAtt": "RotateFunction.Arn"}
    assert schedule["Properties"]["RotationRules"]["AutomaticallyAfterDays"] == {"Ref": "RotationDays"}
    # 90 days: the audit's "rotation due" age, so a rotated key is never due
    assert doc["Parameters"]["RotationDays"]["Default"] == Thresholds().rotation_due_days
    assert doc["Parameters"]["TradeKeyRotation"]["Default"] == "DISABLED"  # it changes keys at OKX: opt in


def test_the_grace_period_outlasts_the_secret_cache_and_the_longest_function_run():
    doc = template()
    grace = doc["Parameters"]["RotationGracePeriodSeconds"]
    longest_run = max(
        int(r["Properties"].get("Timeout", doc["Globals"]["Function"]["Timeout"]))
        for r in doc["Resources"].values()
        if r["Type"] == "AWS::Serverless::Function"
    )
    assert grace["MinValue"] >= DEFAULT_MAX_AGE_S + longest_run
    assert grace["Default"] >= grace["MinValue"]
    env = doc["Resources"]["RotateFunction"]["Properties"]["Environment"]["Variables"]
    assert env["ROTATION_GRACE_PERIOD_S"] == {"Ref": "RotationGracePeriodSeconds"}
