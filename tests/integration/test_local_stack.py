"""The local stack itself: secrets, reports through SNS to a subscriber, the state store, the handler wiring."""

from __future__ import annotations

from handlers.wiring import Wiring
from okxcore.probe import parse_probe_event, probe_config
from okxcore.report import Finding, Report, Severity, Status
from okxlocal.seeds import new_key, seed_with
from okxlocal.stack import KEY_SECRET_PREFIX


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
    assert message.attributes == {"severity": "CRITICAL", "report": "probe", "environment": "local"}
    assert message.subject.startswith("[CRITICAL]")
    assert "egress: bad" in message.body


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
    assert whole["overall"] == "WARNING"


def test_the_documented_critical_only_filter_policy_delivers_only_critical_reports(local_stack):
    import json

    import boto3

    stack = local_stack(seed_with([new_key("9009", "filter-bot")]))
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="critical-only")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto3.client("sns").subscribe(
        TopicArn=stack.topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"FilterPolicy": json.dumps({"severity": ["CRITICAL"]}), "FilterPolicyScope": "MessageAttributes"},
    )
    wiring = Wiring.from_environ()
    ok = Report(report_type="probe", environment="local", title="all good")
    critical = Report(
        report_type="probe",
        environment="local",
        title="egress wrong",
        findings=[
            Finding(check_id="t.2", severity=Severity.CRITICAL, status=Status.FAIL, resource="egress", message="bad")
        ],
    )
    wiring.publish(ok)
    wiring.publish(critical)
    received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    subjects = [json.loads(m["Body"])["Subject"] for m in received]
    assert len(subjects) == 1
    assert subjects[0].startswith("[CRITICAL]")
    assert len(stack.reports()) == 2  # the unfiltered subscriber got both


def test_warm_invocations_reuse_one_tunnel(local_stack, lambda_context):
    from handlers.probe import handler

    stack = local_stack(seed_with([new_key("9100", "warm-bot", ips=["127.0.0.2", "127.0.0.3"])]))
    first = handler({"scheduled_time": "2026-11-23T08:00:00Z"}, lambda_context)
    second = handler({"scheduled_time": "2026-11-23T08:15:00Z"}, lambda_context)
    assert first["overall"] == second["overall"] == "OK"
    assert stack.sim.stats.requests_from("127.0.0.2") >= 8  # both runs: the echo services and the key
    assert stack.sim.stats.connections_from("127.0.0.2") == 1  # one tunnel, kept across invocations
    # the probe's session: its pool keeps a tunnel per concurrent key check
    wiring = Wiring.from_environ()
    pool = probe_config(parse_probe_event({}), wiring.settings).pool_maxsize
    assert wiring.session(pool_maxsize=pool).tunnel.stats.tunnels_opened == 1
