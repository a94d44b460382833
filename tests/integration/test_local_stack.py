"""The local stack itself: secrets, reports through SNS to a subscriber, the state store, the handler wiring."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3

from handlers.wiring import Wiring
from okxcore.probe import parse_probe_event, probe_config
from okxcore.report import Finding, Report, Severity, Status
from okxlocal.seeds import new_key, seed_with
from okxlocal.stack import KEY_SECRET_PREFIX
from okxlocal.template import load_template


def test_wiring_reaches_okx_through_the_proxy_and_reports_arrive_with_attributes(local_stack):
    key = new_key("5005", "stack-bot", ips=["127.0.0.2"])
    stack = local_stack(seed_with([key]))
    wiring = Wiring.from_environ()
    secret_name = KEY_SECRET_PREFIX + "stack-bot"
    client = wiring.client(wiring.load_key(secret_name), key_name=secret_name)
    assert client.account_config().uid == "5005"
    assert stack.sim.stats.requests_from("127.0.0.2") == 1
    assert wiring.state.last_key_use(secret_name) is not None  # the call was recorded as the key's use

    report = Report(
        report_type="probe",
        environment="local",
        title="stack check",
        findings=[
            Finding(check_id="t.1", severity=Severity.CRITICAL, status=Status.FAIL, resource="egress", message="bad")
        ],
    )
    wiring.publish(report)
    [message] = stack.reports()
    assert message.attributes == {"severity": "CRITICAL", "failed": "false", "report": "probe", "environment": "local"}
    assert message.subject.startswith("[CRITICAL]")
    assert "egress: bad" in message.text


def test_trading_guard_round_trip(local_stack):
    local_stack(seed_with([new_key("6006", "guard-bot")]))
    state = Wiring.from_environ().state
    assert not state.trading_guard().paused
    state.pause_trading("egress 1.2.3.4 is not a Shield IP", set_by="probe")
    guard = state.trading_guard()
    assert guard.paused
    assert "1.2.3.4" in guard.reason
    assert state.resume_trading(set_by="probe") is True
    assert not state.trading_guard().paused


def test_a_report_larger_than_one_log_event_is_logged_whole_in_parts(local_stack, log_stream):
    import json

    local_stack(seed_with([new_key("8008", "log-bot")]))
    findings = [
        Finding(
            check_id="t.big", severity=Severity.MEDIUM, status=Status.WARN, resource=f"bot-{i:05d}", message="x" * 200
        )
        for i in range(3000)
    ]
    report = Report(report_type="audit", environment="local", title="big fleet", findings=findings)
    Wiring.from_environ().publish(report)
    lines = [json.loads(line) for line in log_stream.getvalue().splitlines() if line.startswith("{")]
    parts = [line for line in lines if line.get("message") == "report part"]
    assert len(parts) > 1
    assert all(len(json.dumps(line)) < 256 * 1024 for line in lines)
    whole = json.loads("".join(p["json_part"] for p in sorted(parts, key=lambda p: p["part"])))
    assert len(whole["findings"]) == 3000
    assert whole["severity"] == "MEDIUM"


def _subscribed_queue(topic_arn: str, name: str, policy: dict[str, Any]) -> Callable[[], list[str]]:
    """An SQS queue subscribed to the topic with `policy`; returns a reader of the subjects it received."""
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto3.client("sns").subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"FilterPolicy": json.dumps(policy), "FilterPolicyScope": "MessageAttributes"},
    )

    def subjects() -> list[str]:
        received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        return sorted(json.loads(m["Body"]).get("Subject") or "(alarm)" for m in received)

    return subjects


def _report(title: str, *findings: Finding) -> Report:
    return Report(report_type="probe", environment="local", title=title, findings=list(findings))


def _of(severity: Severity, status: Status = Status.FAIL) -> Finding:
    return Finding(check_id="t.x", severity=severity, status=status, resource="egress", message="m")


REPORTS = {
    "ok": _report("ok"),
    "medium": _report("medium", _of(Severity.MEDIUM)),
    "high": _report("high", _of(Severity.HIGH)),
    "critical": _report("critical", _of(Severity.CRITICAL)),
    "low but failed": _report("low but failed", _of(Severity.LOW, Status.ERROR)),
}


def _publish_all(stack: Any) -> None:
    wiring = Wiring.from_environ()
    for report in REPORTS.values():
        wiring.publish(report)
    # A CloudWatch alarm's notification: no message attributes at all.
    boto3.client("sns").publish(TopicArn=stack.topic_arn, Message='{"AlarmName": "FailedRunsAlarm"}')


def test_the_documented_critical_only_filter_policy_delivers_only_critical_reports(local_stack):
    stack = local_stack(seed_with([new_key("9009", "filter-bot")]))
    critical_only = _subscribed_queue(stack.topic_arn, "critical-only", {"severity": ["CRITICAL"]})
    critical_or_failed = _subscribed_queue(
        stack.topic_arn, "critical-or-failed", {"$or": [{"severity": ["CRITICAL"]}, {"failed": ["true"]}]}
    )
    _publish_all(stack)
    assert critical_only() == [REPORTS["critical"].subject()]  # a HIGH report is no longer CRITICAL
    assert critical_or_failed() == sorted([REPORTS["critical"].subject(), REPORTS["low but failed"].subject()])
    assert len(stack.reports()) == len(REPORTS) + 1  # the unfiltered subscriber got them all


def test_the_templates_email_filter_takes_its_severities_every_failed_run_and_the_alarms(local_stack):
    """template.yaml's AlertEmailSubscription filter, with AlertEmailSeverities at its default (docs/reports.md)."""
    stack = local_stack(seed_with([new_key("9010", "filter-bot")]))
    template = load_template()
    default = template["Parameters"]["AlertEmailSeverities"]["Default"].split(",")
    policy = json.loads(
        json.dumps(template["Resources"]["AlertEmailSubscription"]["Properties"]["FilterPolicy"]).replace(
            '{"Ref": "AlertEmailSeverities"}', json.dumps(default)
        )
    )
    email = _subscribed_queue(stack.topic_arn, "email", policy)
    _publish_all(stack)
    expected = [REPORTS[name].subject() for name in ("medium", "high", "critical", "low but failed")]
    assert email() == sorted([*expected, "(alarm)"])  # not the OK report; the alarm though it has no attributes


def test_warm_invocations_reuse_one_tunnel(local_stack, lambda_context):
    from handlers.probe import handler

    stack = local_stack(seed_with([new_key("9100", "warm-bot", ips=["127.0.0.2", "127.0.0.3"])]))
    first = handler({"scheduled_time": "2026-11-23T08:00:00Z"}, lambda_context)
    second = handler({"scheduled_time": "2026-11-23T08:15:00Z"}, lambda_context)
    assert first["severity"] == second["severity"] == "OK"
    assert stack.sim.stats.requests_from("127.0.0.2") >= 8  # both runs: the echo services and the key
    assert stack.sim.stats.connections_from("127.0.0.2") == 1  # one tunnel, kept across invocations
    # the probe's session: its pool keeps a tunnel per concurrent key check
    wiring = Wiring.from_environ()
    pool = probe_config(parse_probe_event({}), wiring.settings).pool_maxsize
    assert wiring.session(pool_maxsize=pool).tunnel.stats.tunnels_opened == 1
