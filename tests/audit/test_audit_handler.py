"""The audit handler's edges: example events, bad input reported then raised, selection, master-key problems."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from handlers.audit import EVENT_MODEL, handler
from handlers.settings import RuntimeSettings
from okxcore.audit.event import parse_request
from okxcore.errors import InvalidInputError, ShieldUrlError
from okxlocal.seeds import new_key, seed_with
from okxlocal.sim import SimAccount
from okxlocal.stack import AWS_REGION, KEY_SECRET_PREFIX, SHIELD_SECRET_NAME, key_secret_body

P = KEY_SECRET_PREFIX
BOTH = ["127.0.0.2", "127.0.0.3"]
EVENTS = sorted((Path(__file__).resolve().parents[2] / "events").glob("audit*.json"))
SETTINGS = RuntimeSettings.from_environ(
    {
        "SHIELD_SECRET_NAME": "okx-shield/shield",
        "REPORT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:reports",
        "STATE_TABLE_NAME": "state",
        "KEY_SECRET_PREFIX": "okx-shield/keys/",
    }
)


def test_there_are_example_events():
    assert len(EVENTS) >= 3


@pytest.mark.parametrize("path", EVENTS, ids=[p.name for p in EVENTS])
def test_each_example_event_is_valid(path):
    event = json.loads(path.read_text())
    EVENT_MODEL.model_validate(event)
    request = parse_request(event, SETTINGS)
    assert request.key_secret_tag or request.key_secret_prefix or request.master_secret


def test_omitted_selectors_fall_back_to_the_environment_and_explicit_empty_overrides_it():
    settings = SETTINGS.model_copy(update={"master_key_secret_name": "okx-shield/master"})
    request = parse_request({}, settings)
    assert (request.key_secret_prefix, request.master_secret) == ("okx-shield/keys/", "okx-shield/master")
    request = parse_request(
        {"key_secret_tag": "okx-shield=managed", "key_secret_prefix": "", "master_secret": ""}, settings
    )
    assert (request.key_secret_tag, request.key_secret_prefix, request.master_secret) == ("okx-shield=managed", "", "")


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"max_workers": 99}, "max_workers"),
        ({"max_workers": 0}, "max_workers"),
        ({"key_secret_prefx": "okx-shield/keys/"}, "key_secret_prefx"),
        ({"thresholds": {"deletion_critical_days": 9, "deletion_high_days": 5}}, "thresholds"),
        ({"thresholds": {"dormant_days": "soon"}}, "thresholds.dormant_days"),
        ({"key_secret_tag": "=managed"}, "key_secret_tag"),
        ({"key_secret_prefix": ""}, "key_secret_tag / key_secret_prefix / master_secret"),
        (["not", "an", "object"], "(whole event)"),
    ],
)
def test_an_invalid_event_names_the_field(event, field):
    with pytest.raises(InvalidInputError) as caught:
        parse_request(event, SETTINGS)
    assert caught.value.source == "audit event"
    assert caught.value.field == field


def test_an_invalid_event_is_reported_then_raised(local_stack, lambda_context):
    stack = local_stack(seed_with([new_key("1001", "bot", ips=BOTH)]))
    # When the schedule's Input has a bad field
    with pytest.raises(InvalidInputError) as caught:
        handler({"scheduled_time": "2026-01-15T06:00:00Z", "max_workers": 64}, lambda_context)
    # Then the error names it, and so does the report the user receives
    assert caught.value.field == "max_workers"
    [message] = stack.reports()
    assert message.attributes["severity"] == "CRITICAL"
    assert message.attributes["report"] == "audit"
    assert "field 'max_workers'" in message.text
    assert "64" not in message.body.split("Findings", 1)[1]  # the field, never its value
    assert stack.sim.stats.total_requests() == 0  # nothing half done


def test_a_malformed_shield_secret_is_reported_then_raised(local_stack, lambda_context):
    stack = local_stack(seed_with([new_key("1001", "bot", ips=BOTH)]))
    boto3.client("secretsmanager", region_name=AWS_REGION).put_secret_value(
        SecretId=SHIELD_SECRET_NAME,
        SecretString=json.dumps({"url": "socks5://user:SHIELD-PASS@proxy:1080", "expected_ips": BOTH}),
    )
    with pytest.raises(ShieldUrlError):
        handler({"scheduled_time": "2026-01-15T06:00:00Z"}, lambda_context)
    [message] = stack.reports()
    assert "field 'url'" in message.text
    assert "socks5h://" in message.text  # the fix
    assert "SHIELD-PASS" not in message.text
    assert stack.sim.stats.total_requests() == 0


def test_tag_selection_and_master_key_problems_are_findings(local_stack, lambda_context):
    # Given a tagged key, an untagged key under the prefix, and a "master" secret that holds a sub-account's key
    keys = [
        new_key("1001", "tagged", ips=BOTH),
        new_key("1002", "untagged", ips=BOTH),
        new_key("9101", "sub-as-master", ips=BOTH),
    ]
    accounts = [
        SimAccount(uid="1001"),
        SimAccount(uid="1002"),
        SimAccount(uid="9100"),
        SimAccount(uid="9101", main_uid="9100", sub_acct="desk9"),
    ]
    stack = local_stack(seed_with(keys, accounts=accounts), skip_key_secrets=frozenset({"untagged"}))
    stack.put_secret(P + "untagged", key_secret_body(keys[1]), tagged=False)

    # When the audit selects by tag only, with the wrong master key
    result = handler(
        {
            "scheduled_time": "2026-01-15T06:00:00Z",
            "key_secret_tag": "okx-shield=managed",
            "key_secret_prefix": "",
            "master_secret": P + "sub-as-master",
        },
        lambda_context,
    )
    # Then the untagged key was not audited, and the master problem is an ERROR saying what is wrong
    audited = {k["resource"] for k in result["details"]["keys"]}
    assert audited == {P + "tagged", P + "sub-as-master"}
    problems = {
        (f["resource"], f["check_id"], f["severity"], f["status"]) for f in result["findings"] if f["status"] != "PASS"
    }
    assert problems == {(P + "sub-as-master", "audit.master", "HIGH", "ERROR")}
    [master] = [f for f in result["findings"] if f["check_id"] == "audit.master"]
    assert "sub-account's key" in master["message"]

    # When the master secret does not exist
    result = handler(
        {"scheduled_time": "2026-01-15T07:00:00Z", "key_secret_prefix": "", "master_secret": P + "missing"},
        lambda_context,
    )
    # Then that is said, and nothing else is invented
    problems = {(f["resource"], f["check_id"], f["status"]) for f in result["findings"] if f["status"] != "PASS"}
    assert problems == {(P + "missing", "audit.secret", "ERROR"), (P + "missing", "audit.master", "ERROR")}
    assert len(stack.reports()) == 2
