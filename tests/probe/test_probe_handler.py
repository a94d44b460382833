"""The probe Lambda end to end: the OKX simulator behind a real proxy program, moto for AWS.

Echo services are the simulator's /echo/<name> endpoints, so an echo call through the proxy sees the
"static IP" 127.0.0.2 and a direct call sees 127.0.0.1. Reports are read the way a subscriber gets them.
"""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest

from handlers.probe import handler
from handlers.wiring import Wiring
from okxcore.aws.probe_keys import KeyListingError, SecretBatches, list_key_secret_names
from okxcore.aws.sns import ReportDeliveryError
from okxcore.errors import InvalidInputError
from okxcore.probe import ProbeFailedError, parse_probe_event, run_probe
from okxlocal.proxies import ProxyKind, StalledListener
from okxlocal.seeds import new_key, seed_with
from okxlocal.stack import KEY_SECRET_PREFIX, SHIELD_SECRET_NAME

SHIELD_IP, OTHER_SHIELD_IP, DIRECT_IP = "127.0.0.2", "127.0.0.3", "127.0.0.1"
BOTH = [SHIELD_IP, OTHER_SHIELD_IP]
STRANGER_IP = "198.51.100.7"
ECHO_NAMES = ("quotaguard", "ipify", "checkip")


def emitted_metrics(stdout: str) -> dict[str, Any]:
    """Metric name -> value, and "dimensions:<metric>" -> {name: value}, from the EMF blobs Powertools printed."""
    found: dict[str, Any] = {}
    for line in stdout.splitlines():
        try:
            blob = json.loads(line)
        except ValueError:
            continue
        if not isinstance(blob, dict) or "_aws" not in blob:
            continue
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            dimensions = {name: blob[name] for names in directive["Dimensions"] for name in names}
            for metric in directive["Metrics"]:
                value = blob[metric["Name"]]
                found[metric["Name"]] = value[0] if isinstance(value, list) and len(value) == 1 else value
                found["dimensions:" + metric["Name"]] = dimensions
    return found


def secret_values(stack) -> list[str]:
    values = [stack.proxy.password]
    for key in stack.seed.keys:
        values += [key.api_key, key.secret, key.passphrase]
    return values


def assert_no_secret_in(texts: list[str], secrets: list[str]) -> None:
    blob = "\n".join(texts)
    for value in secrets:
        assert value not in blob, "a secret value leaked into a report, log line or metric"


def invoke(event, context) -> dict[str, Any]:
    return handler(event, context)


def guard(stack=None):
    return Wiring.from_environ().state.trading_guard()


# --- the good path -----------------------------------------------------------------------------


def test_egress_in_the_expected_set_gives_an_ok_report_metrics_and_no_direct_call(
    local_stack, lambda_context, capsys, log_stream
):
    # Given a key bound to both Shield IPs and a working proxy
    stack = local_stack(seed_with([new_key("1001", "bot-main", ips=BOTH)]))

    # When the probe runs on a scheduled event
    result = invoke({"scheduled_time": "2026-01-15T06:00:00Z"}, lambda_context)

    # Then the report is OK, with filterable attributes, and names the egress
    [message] = stack.reports()
    assert message.attributes == {"severity": "OK", "failed": "false", "report": "probe", "environment": "local"}
    assert message.subject.startswith("[OK]")
    assert f"Egress: {SHIELD_IP}, a Shield static IP (3 of 3 echo services agree)" in message.text
    assert result["severity"] == "OK"
    assert result["details"]["egress"]["answers"] == {
        f"{stack.sim.url.removeprefix('https://')}/echo/{name}": SHIELD_IP for name in ECHO_NAMES
    }
    # and every call (three echoes, one account/config) left through the proxy; none went direct
    assert stack.sim.stats.requests_from(SHIELD_IP) == 4
    assert stack.sim.stats.requests_from(DIRECT_IP) == 0
    assert "direct_echo" not in result["details"]
    # and the metrics say so
    out = capsys.readouterr()
    metrics = emitted_metrics(out.out)
    assert metrics["EgressMatch"] == 1.0
    assert metrics["KeysChecked"] == 1.0
    assert metrics["KeysCorrectlyBound"] == 1.0
    assert metrics["ProbeLatencyMs"] > 0
    # the template's alarm reads EgressMatch by `service` alone: any other dimension would hide it
    assert metrics["dimensions:EgressMatch"] == {"service": "okx-shield"}
    # and the structured log carries the correlation id of the scheduled slot
    assert '"correlation_id":"probe:2026-01-15T06:00:00.000Z"' in log_stream.getvalue()
    # and the probe's health check is not recorded as the bot's use (it would hide a dead bot from the audit)
    assert Wiring.from_environ().state.last_key_use(KEY_SECRET_PREFIX + "bot-main") is None
    assert stack.sim.key_last_used_ms(stack.seed.keys[0].api_key) is not None  # while OKX did see the use
    assert not guard().paused


def test_the_direct_contrast_call_is_one_echo_request_from_the_lambda_ip_and_never_okx(local_stack, lambda_context):
    # Given a healthy stack
    stack = local_stack(seed_with([new_key("1002", "bot-contrast", ips=BOTH)]))

    # When the event asks for the contrast
    result = invoke({"direct_echo_for_contrast": True}, lambda_context)

    # Then exactly one request came from the direct IP: an unauthenticated echo
    direct = [r for r in stack.sim.stats.requests if r.peer_ip == DIRECT_IP]
    assert len(direct) == 1
    assert direct[0].path.startswith("/echo/")
    assert direct[0].api_key is None
    assert result["details"]["direct_echo"]["ip"] == DIRECT_IP
    [message] = stack.reports()
    assert f"left from {DIRECT_IP}" in message.text
    assert message.attributes["severity"] == "OK"


@pytest.mark.parametrize("kind", [ProxyKind.SOCKS5, ProxyKind.SOCKS5_TLS], ids=lambda k: k.value)
def test_the_probe_works_through_the_socks_forms_of_shield_too(local_stack, lambda_context, kind):
    stack = local_stack(seed_with([new_key("1007", "bot-socks", ips=BOTH)]), proxy_kind=kind)

    result = invoke({}, lambda_context)

    assert result["severity"] == "OK"
    assert result["details"]["egress"]["state"] == "match"
    assert stack.sim.stats.requests_from(SHIELD_IP) == 4
    assert stack.sim.stats.requests_from(DIRECT_IP) == 0


# --- the egress is wrong --------------------------------------------------------------------------


def test_egress_outside_the_set_pauses_trading_and_a_clean_run_resumes_it(local_stack, lambda_context, capsys):
    # Given every echo service reports an IP that is not Shield's
    stack = local_stack(seed_with([new_key("1003", "bot-guarded", ips=BOTH)]))
    stack.sim.faults.echo_ip_override = dict.fromkeys(ECHO_NAMES, STRANGER_IP)

    # When the probe runs
    result = invoke({}, lambda_context)

    # Then the report is CRITICAL, names the IP, and trading is paused by the probe
    [message] = stack.reports()
    assert message.attributes["severity"] == "CRITICAL"
    assert f"Egress {STRANGER_IP} is not a Shield static IP" in message.text
    assert "Trading PAUSED" in message.text
    assert result["trading"] == "paused"
    paused = guard()
    assert paused.paused
    assert paused.set_by == "probe"
    assert paused.reason.startswith(f"egress {STRANGER_IP} is not a Shield static IP")
    assert emitted_metrics(capsys.readouterr().out)["EgressMatch"] == 0.0

    # When the egress is right again and the probe runs
    stack.sim.faults.reset()
    result = invoke({}, lambda_context)

    # Then trading resumes and the report says so
    [message] = stack.reports()
    assert message.attributes["severity"] == "OK"
    assert "Trading resumed" in message.text
    assert result["trading"] == "resumed"
    assert not guard().paused
    assert emitted_metrics(capsys.readouterr().out)["EgressMatch"] == 1.0


def test_a_clean_run_leaves_a_pause_it_did_not_set(local_stack, lambda_context):
    # Given an operator paused trading by hand
    stack = local_stack(seed_with([new_key("1004", "bot-manual", ips=BOTH)]))
    Wiring.from_environ().state.pause_trading("maintenance window", set_by="operator")

    # When a clean probe runs
    result = invoke({}, lambda_context)

    # Then the pause stays and the report explains why
    assert result["trading"] == "stays-paused"
    assert guard().paused
    [message] = stack.reports()
    assert "Trading stays paused (set by operator" in message.text


def test_echo_services_that_disagree_are_reported_and_an_outsider_pauses(local_stack, lambda_context):
    stack = local_stack(seed_with([new_key("1005", "bot-split", ips=BOTH)]))

    # Given one echo sees the other Shield IP (Shield load-balances over both)
    stack.sim.faults.echo_ip_override = {"ipify": OTHER_SHIELD_IP}
    result = invoke({}, lambda_context)
    # Then that is reported as a split between Shield IPs, not an alarm
    [message] = stack.reports()
    assert message.attributes["severity"] == "OK"
    assert f"Shield static IPs {SHIELD_IP}, {OTHER_SHIELD_IP}; the echo services saw different ones" in message.text
    assert result["trading"] == "running"

    # Given one echo sees a non-Shield IP while the others agree on Shield's
    stack.sim.faults.echo_ip_override = {"checkip": STRANGER_IP}
    result = invoke({}, lambda_context)
    # Then it is CRITICAL, names the disagreeing service, and (the documented default) pauses trading
    [message] = stack.reports()
    assert message.attributes["severity"] == "CRITICAL"
    assert f"Egress {STRANGER_IP} is not a Shield static IP (seen by" in message.text
    assert "/echo/checkip" in message.text
    assert "The echo services disagree" in message.text
    assert result["trading"] == "paused"


def test_an_echo_that_is_down_is_reported_and_none_answering_is_high_without_pausing(local_stack, lambda_context):
    stack = local_stack(seed_with([new_key("1006", "bot-echo-down", ips=BOTH)]))

    # Given one echo service is down
    stack.sim.faults.echo_down = {"quotaguard"}
    result = invoke({}, lambda_context)
    # Then the egress is still confirmed by the others, and the dead echo is a warning naming it
    [message] = stack.reports()
    assert message.attributes["severity"] == "LOW"
    assert "/echo/quotaguard gave no usable answer through Shield: answered HTTP 503" in message.text
    assert "(2 of 3 echo services agree)" in message.text
    assert result["details"]["egress"]["state"] == "match"

    # Given every echo is down
    stack.sim.faults.echo_down = set(ECHO_NAMES)
    result = invoke({}, lambda_context)
    # Then the egress is unknown: HIGH, but nothing proves it wrong, so trading is not paused
    [message] = stack.reports()
    assert message.attributes["severity"] == "HIGH"
    assert "None of the 3 echo services answered through Shield" in message.text
    assert result["trading"] == "running"
    assert not guard().paused


# --- keys -------------------------------------------------------------------------------------------


def test_every_key_binding_problem_is_named_and_no_secret_leaks(local_stack, lambda_context, capsys, log_stream):
    # Given a fleet of keys with every kind of binding problem, and one malformed key secret
    keys = [
        new_key("2001", "full", ips=BOTH),
        new_key("2002", "half", ips=[SHIELD_IP]),
        new_key("2003", "unbound-trader", ips=[]),
        new_key("2004", "elsewhere", ips=["203.0.113.7"]),
        new_key("2005", "gone", ips=BOTH, deleted=True),
        new_key("2006", "reader", perm={"read_only"}, ips=[]),
    ]
    stack = local_stack(seed_with(keys))
    broken_value = "BROKEN-API-KEY-c0ffee-not-to-be-seen"
    stack.put_secret(KEY_SECRET_PREFIX + "broken", {"api_key": broken_value, "api_secret": "S3CRET-broken-value"})

    # When the probe runs
    result = invoke({}, lambda_context)

    [message] = stack.reports()
    body = message.text
    assert message.attributes["severity"] == "CRITICAL"
    # Then the half-bound key's finding names the missing Shield IP
    assert f"half (okx-shield/keys/half): The key is not bound to Shield IP {OTHER_SHIELD_IP}" in body
    assert "about half of all calls will fail with 50110" in body
    # and the unbound trade key is CRITICAL with the deletion risk
    unbound = [f for f in result["findings"] if f["resource"].startswith("unbound-trader ")]
    assert [(f["severity"], f["status"]) for f in unbound] == [("CRITICAL", "FAIL")]
    assert "has trade permission and is bound to no IP" in unbound[0]["message"]
    assert "Deletion risk" in unbound[0]["message"]
    # and the key bound elsewhere reports the Shield IP OKX saw in its 50110
    assert f"OKX rejected the call from Shield IP {SHIELD_IP} (50110)" in body
    # and the deleted key is gone, with the hint
    assert "gone (okx-shield/keys/gone): OKX does not know this key (50111)" in body
    assert "14-day deletion" in body
    # and the unbound read-only key is only a warning
    reader = [f for f in result["findings"] if f["resource"].startswith("reader ")]
    assert [(f["severity"], f["status"]) for f in reader] == [("LOW", "WARN")]
    # and the malformed secret is an ERROR naming the secret and the field, while the others were checked
    broken = [f for f in result["findings"] if f["resource"] == KEY_SECRET_PREFIX + "broken"]
    assert [(f["severity"], f["status"]) for f in broken] == [("HIGH", "ERROR")]
    assert "field 'passphrase': is missing" in broken[0]["message"]
    assert "Keys: 7 configured, 4 checked at OKX, 1 bound to every Shield IP." in body
    # and trading was not paused: OKX saw the Shield IP, so the egress is right
    assert result["trading"] == "running"
    metrics = emitted_metrics(capsys.readouterr().out)
    assert (metrics["KeysChecked"], metrics["KeysCorrectlyBound"], metrics["EgressMatch"]) == (4.0, 1.0, 1.0)

    # And no secret value appears in the report, the return value, the logs or the metrics
    out = capsys.readouterr()
    texts = [message.subject, body, json.dumps(result), out.out, out.err, log_stream.getvalue()]
    assert_no_secret_in(texts, [*secret_values(stack), broken_value, "S3CRET-broken-value"])
    assert "field 'passphrase'" in log_stream.getvalue()  # the log did get the full report


def test_the_event_can_name_the_keys_to_check(local_stack, lambda_context):
    # Given two managed keys
    stack = local_stack(seed_with([new_key("2101", "one", ips=BOTH), new_key("2102", "two", ips=[])]))

    # When the event names only one of them
    result = invoke({"key_secret_names": [KEY_SECRET_PREFIX + "one"]}, lambda_context)

    # Then only that key is checked
    assert result["severity"] == "OK"
    assert result["details"]["keys_from"] == "the event's key_secret_names"
    assert [row[0] for row in result["tables"]["Keys"][1:]] == ["one"]
    assert stack.sim.stats.requests_from(SHIELD_IP) == 4


def test_an_expected_set_without_the_real_egress_ip_pauses_trading(local_stack, lambda_context):
    # Given the Shield secret expects an IP that does not carry traffic locally (127.0.0.3 only)
    stack = local_stack(seed_with([new_key("2201", "bot", ips=BOTH)]), expected_ips=(OTHER_SHIELD_IP,))

    # When the probe runs (every echo sees 127.0.0.2)
    result = invoke({}, lambda_context)

    # Then the egress is outside the configured set: CRITICAL, paused
    assert result["severity"] == "CRITICAL"
    assert result["trading"] == "paused"
    [message] = stack.reports()
    assert f"Egress {SHIELD_IP} is not a Shield static IP" in message.text


def test_without_expected_ips_the_user_is_told_to_configure_them(local_stack, lambda_context):
    stack = local_stack(seed_with([new_key("2301", "bot", ips=BOTH)]), expected_ips=())

    result = invoke({}, lambda_context)

    [message] = stack.reports()
    assert message.attributes["severity"] == "HIGH"  # probe.egress.expected_ips: HIGH, the report says HIGH
    assert "No expected static IPs are configured" in message.text
    assert 'Add "expected_ips"' in message.text
    assert result["trading"] == "running"  # nothing to judge the egress by: no pause, no resume


# --- the proxy fails: CRITICAL, nothing reaches OKX, the invocation fails ---------------------------


def _replace_shield_url(stack, url: str) -> None:
    boto3.client("secretsmanager").put_secret_value(
        SecretId=SHIELD_SECRET_NAME, SecretString=json.dumps({"url": url, "expected_ips": BOTH})
    )


def _assert_failed_closed(stack, caught, cause: str, texts: list[str]) -> None:
    assert cause in str(caught.value)
    [message] = stack.reports()
    assert message.attributes == {"severity": "CRITICAL", "failed": "true", "report": "probe", "environment": "local"}
    assert cause in message.text
    assert "never falls back to a direct connection" in message.text
    assert stack.sim.stats.total_requests() == 0
    assert stack.sim.stats.total_connections() == 0
    assert_no_secret_in([*texts, message.body, str(caught.value)], secret_values(stack))


def test_proxy_down_fails_closed(local_stack, lambda_context, capsys, log_stream):
    stack = local_stack(seed_with([new_key("3001", "bot", ips=BOTH)]))
    stack.proxy.stop()

    with pytest.raises(ProbeFailedError) as caught:
        invoke({}, lambda_context)

    out = capsys.readouterr()
    _assert_failed_closed(stack, caught, "cannot connect", [out.out, out.err, log_stream.getvalue()])
    assert emitted_metrics(out.out)["EgressMatch"] == 0.0


def test_wrong_proxy_password_fails_closed(local_stack, lambda_context, capsys, log_stream):
    stack = local_stack(seed_with([new_key("3002", "bot", ips=BOTH)]))
    wrong = "wrong-password-x9"
    _replace_shield_url(stack, stack.proxy.url(password=wrong))

    with pytest.raises(ProbeFailedError) as caught:
        invoke({}, lambda_context)

    out = capsys.readouterr()
    texts = [out.out, out.err, log_stream.getvalue()]
    _assert_failed_closed(stack, caught, "username or password is wrong", texts)
    assert_no_secret_in(texts, [wrong])


def test_stalled_proxy_fails_closed_within_the_handshake_timeout(local_stack, lambda_context, monkeypatch):
    # Given a "proxy" that accepts TCP and then never says a word, and a 1.5 s handshake budget
    stack = local_stack(seed_with([new_key("3003", "bot", ips=BOTH)]))
    monkeypatch.setenv("SHIELD_HANDSHAKE_TIMEOUT_S", "1.5")
    with StalledListener() as stalled:
        _replace_shield_url(stack, stalled.url("https"))

        started = time.monotonic()
        with pytest.raises(ProbeFailedError) as caught:
            invoke({}, lambda_context)
        elapsed = time.monotonic() - started

        assert stalled.accepted == 1  # one attempt, then the run ended: no retry loop against a dead proxy
    assert "did not complete its handshake within 1.5 s" in str(caught.value)
    assert 1.4 < elapsed < 5  # bounded by the configured budget, not the default 10 s
    [message] = stack.reports()
    assert message.attributes["severity"] == "CRITICAL"
    assert stack.sim.stats.total_requests() == 0


# --- invalid input and delivery failures -----------------------------------------------------------


def test_an_invalid_event_is_reported_naming_the_field_then_raised(local_stack, lambda_context):
    stack = local_stack(seed_with([new_key("4001", "bot", ips=BOTH)]))

    with pytest.raises(InvalidInputError) as caught:
        invoke({"echo_urls": ["https://a.example", "http://b.example"]}, lambda_context)

    assert caught.value.field == "echo_urls"
    [message] = stack.reports()
    assert message.attributes["severity"] == "CRITICAL"
    assert "field 'echo_urls': echo_urls[1] must start with https://" in message.text
    assert stack.sim.stats.total_requests() == 0


def test_a_bad_echo_urls_setting_is_reported_then_fails(local_stack, lambda_context, monkeypatch):
    stack = local_stack(seed_with([new_key("4002", "bot", ips=BOTH)]))
    monkeypatch.setenv("ECHO_URLS", "https://only-one.example")

    with pytest.raises(ProbeFailedError):
        invoke({}, lambda_context)

    [message] = stack.reports()
    assert "function environment: field 'ECHO_URLS': needs at least 2 distinct echo URLs" in message.text
    assert stack.sim.stats.total_requests() == 0


def test_when_sns_fails_the_full_report_is_in_the_log_and_the_invocation_fails(
    local_stack, lambda_context, monkeypatch, log_stream
):
    local_stack(seed_with([new_key("4003", "bot", ips=[SHIELD_IP])]))
    monkeypatch.setenv("REPORT_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:no-such-topic")

    with pytest.raises(ReportDeliveryError):
        invoke({}, lambda_context)

    logged = [json.loads(line) for line in log_stream.getvalue().splitlines() if '"report"' in line]
    [entry] = [e for e in logged if e.get("message") == "report"]
    assert entry["report"]["report_type"] == "probe"
    assert any(f"not bound to Shield IP {OTHER_SHIELD_IP}" in f["message"] for f in entry["report"]["findings"])


# --- run limits and key discovery --------------------------------------------------------------------


def test_key_checks_stop_at_the_time_budget_and_say_which_were_left(local_stack):
    # Given two keys, and a clock on which every reading is 10 s later than the one before
    stack = local_stack(seed_with([new_key("5001", "slow-a", ips=BOTH), new_key("5002", "slow-b", ips=BOTH)]))
    ticks = iter(range(0, 10_000, 10))

    # When the probe, with 60 s left (a 40 s key-check budget), runs past that budget during the echo phase
    wiring = Wiring.from_environ()
    outcome = run_probe(
        parse_probe_event({}),
        wiring,
        list_key_secrets=list_key_secret_names,
        load_keys=SecretBatches(wiring),
        clock=lambda: float(next(ticks)),
        time_left_s=60.0,
    )

    # Then no key check was started, the report says so, and the egress was still judged
    assert outcome.keys_checked == 0
    [budget] = [f for f in outcome.report.findings if f.check_id == "probe.keys.budget"]
    assert budget.message.startswith("2 key(s) were not checked")
    assert outcome.egress_match
    assert not [r for r in stack.sim.stats.requests if r.path.startswith("/api/v5/account/config")]


def test_a_failed_key_listing_is_a_finding_and_the_egress_is_still_checked(local_stack):
    local_stack(seed_with([new_key("5101", "bot", ips=BOTH)]))

    def no_permission(prefix: str, **_options: object) -> list[str]:
        raise KeyListingError(f"listing the key secrets named {prefix}* failed (AccessDeniedException)")

    wiring = Wiring.from_environ()
    outcome = run_probe(parse_probe_event({}), wiring, list_key_secrets=no_permission, load_keys=SecretBatches(wiring))

    [finding] = [f for f in outcome.report.findings if f.check_id == "probe.keys.discovery"]
    assert (finding.severity, finding.status) == ("HIGH", "ERROR")
    assert "AccessDeniedException" in finding.message
    assert "ListSecrets" in finding.remediation
    assert outcome.egress_match
    assert outcome.failure is None
