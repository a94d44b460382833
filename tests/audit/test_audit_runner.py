"""The fleet runner with in-memory sources: isolation of failures, fleet-level rate-limit retries, the gate,
and the one report's budget whatever the fleet size."""

from __future__ import annotations

import threading
import time

import boto3
import pytest
from moto import mock_aws

from okxcore.audit import AuditRequest, AuditSources, FleetRetry, RateGate, metric_points, run_audit
from okxcore.audit.models import DAY_MS, CreationTime, FleetStats, KeySubject
from okxcore.audit.reporting import build_report
from okxcore.audit.rules import evaluate_key
from okxcore.aws.sns import publish_report
from okxcore.credentials import parse_okx_key_secret
from okxcore.errors import ProxyUnreachableError, SecretFormatError, error_for
from okxcore.key_secrets import SecretMetadata
from okxcore.models import AccountConfig, fingerprint
from okxcore.report import SNS_MESSAGE_LIMIT_BYTES, TEXT_BUDGET_BYTES

NOW = 1_800_000_000_000
SHIELD = ("52.1.1.1", "52.2.2.2")


class ScriptedClient:
    """Stands in for OKX behind the client: answers account/config from a script (the runner is under test)."""

    def __init__(self, answers):
        self.answers = list(answers)

    def account_config(self):
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def healthy_config(uid="1"):
    return AccountConfig.model_validate({"uid": uid, "perm": "read_only,trade", "ip": ",".join(SHIELD)})


def key_body(name):
    return {"api_key": f"AK-{name}", "api_secret": f"SK-{name}", "passphrase": f"PP-{name}", "label": name}


class ScriptedSources(AuditSources):
    """In-memory sources: the named secrets, parsed from key_body unless `load` says otherwise."""

    expected_ips = SHIELD

    def __init__(self, names, *, load=None, client=None, retry=None):
        self.metas = [SecretMetadata(name=name) for name in names]
        self._load = load or (lambda name: parse_okx_key_secret(name, key_body(name)))
        self._client = client or (lambda key, name: ScriptedClient([healthy_config()]))
        self._retry = retry

    def list_secrets(self, tag, prefix):
        return [m for m in self.metas if m.name.startswith(prefix)]

    def describe_secret(self, name):
        return None

    def load_key(self, name):
        return self._load(name)

    def client_for(self, key, name):
        return self._client(key, name)

    def last_key_use_ms(self, name):
        return None

    def now_ms(self):
        return NOW

    @property
    def retry(self):
        return self._retry or super().retry


def sources_for(names, **options):
    return ScriptedSources(names, **options)


def test_one_failing_key_never_stops_the_others_and_an_unexpected_error_leaks_no_text():
    # Given five keys: one secret unreadable in an unexpected way, one malformed, one behind a dead proxy
    def load(name):
        if name == "k/boom":
            raise RuntimeError("SECRET-TEXT-THAT-MUST-NOT-LEAK")
        if name == "k/malformed":
            raise SecretFormatError(name, "api_secret", "is missing")
        return parse_okx_key_secret(name, key_body(name))

    def client(key, name):
        if name == "k/proxy":
            return ScriptedClient([ProxyUnreachableError("connection refused", proxy="shield:9294")])
        return ScriptedClient([healthy_config()])

    names = ["k/boom", "k/malformed", "k/proxy", "k/ok1", "k/ok2"]
    # When the fleet is audited
    report = run_audit(AuditRequest(key_secret_prefix="k/"), sources_for(names, load=load, client=client))
    # Then each failure is its own finding and the healthy keys were audited
    problems = {(f.resource, f.check_id, f.status.value) for f in report.findings if f.is_problem}
    assert problems == {
        ("k/boom", "audit.secret", "ERROR"),
        ("k/malformed", "audit.secret", "ERROR"),
        ("k/proxy", "audit.auth", "ERROR"),
    }
    assert {f.resource for f in report.findings if f.check_id == "audit.auth" and not f.is_problem} == {
        "k/ok1",
        "k/ok2",
    }
    assert "SECRET-TEXT" not in report.model_dump_json()
    assert "SECRET-TEXT" not in report.render_text()


def test_a_key_still_rate_limited_after_the_clients_retries_is_retried_by_the_fleet_and_counted():
    limited = error_for("50011", "Too Many Requests")
    # Given one key rate limited twice more after the client gave up, one rate limited for good
    clients = {
        "k/late": ScriptedClient([limited, limited, healthy_config()]),
        "k/never": ScriptedClient([limited]),
    }
    sources = sources_for(
        list(clients),
        client=lambda key, name: clients[name],
        retry=FleetRetry(rounds=4, base_delay_s=0.001, max_delay_s=0.002),
    )
    # When the fleet is audited
    report = run_audit(AuditRequest(key_secret_prefix="k/"), sources)
    # Then the first was retried until it answered, the second is an ERROR saying so, and both are counted
    fleet = report.details["fleet"]
    assert fleet["rate_limited_retried"] == 2 + 3
    assert fleet["rate_limited_unretried"] == 1
    problems = {(f.resource, f.check_id, f.status.value) for f in report.findings if f.is_problem}
    assert problems == {("k/never", "audit.auth", "WARN")}
    assert "1 left unretried" in " ".join(report.render_text().split())


def test_the_runner_reads_the_last_use_before_its_own_call():
    events = []

    class Recording(ScriptedClient):
        def account_config(self):
            events.append("call")
            return super().account_config()

    def last_use(name):
        events.append("read")
        return NOW - 13 * DAY_MS

    sources = sources_for(["k/a"], client=lambda key, name: Recording([healthy_config()]))
    sources.last_key_use_ms = last_use
    report = run_audit(AuditRequest(key_secret_prefix="k/"), sources)
    assert events == ["read", "call"]
    assert report.details["keys"][0]["idle_days"] == pytest.approx(13.0)


def test_concurrency_is_bounded_by_max_workers():
    lock = threading.Lock()
    state = {"now": 0, "max": 0}

    class Slow(ScriptedClient):
        def account_config(self):
            with lock:
                state["now"] += 1
                state["max"] = max(state["max"], state["now"])
            time.sleep(0.01)
            with lock:
                state["now"] -= 1
            return super().account_config()

    names = [f"k/{n:03d}" for n in range(60)]
    sources = sources_for(names, client=lambda key, name: Slow([healthy_config()]))
    report = run_audit(AuditRequest(key_secret_prefix="k/", max_workers=5), sources)
    assert state["max"] == 5
    assert report.details["fleet"]["max_in_flight"] <= 5
    assert len(report.details["keys"]) == 60


def test_no_matching_secrets_is_a_warning_not_silence():
    report = run_audit(AuditRequest(key_secret_prefix="nothing/"), sources_for(["k/a"]))
    assert [(f.resource, f.check_id, f.severity.value) for f in report.findings] == [("fleet", "audit.fleet", "MEDIUM")]


def test_the_rate_gate_lets_limit_passes_per_window():
    gate = RateGate(3, 0.2)
    started = time.monotonic()
    for _ in range(7):  # 3 now, 3 after one window, 1 after two
        gate.acquire()
    assert 0.4 <= time.monotonic() - started < 1.0


def test_fingerprints_match_without_keeping_the_key():
    assert fingerprint("AK-1") == fingerprint("AK-1") != fingerprint("AK-2")
    assert "AK-1" not in fingerprint("AK-1")


def test_a_report_of_1200_keys_fits_one_sns_message_worst_first(tmp_path):
    # Given 1200 keys: every tenth unbound and 13 days old (CRITICAL), the rest with a rotation due (MEDIUM)
    subjects = []
    for n in range(1200):
        critical = n % 10 == 0
        subjects.append(
            KeySubject(
                resource=f"okx-shield/keys/a-rather-long-bot-name-for-the-table-{n:04d}",
                label=f"bot-{n}",
                origin="secret",
                purpose="trade",
                perm=frozenset({"read_only", "trade"}),
                ips=() if critical else SHIELD,
                created=CreationTime(NOW - (13 if critical else 100) * DAY_MS, "the secret's created_at"),
                use_tracked=True,
                product_last_use_ms=NOW - 3_600_000,
            )
        )
    request = AuditRequest(key_secret_prefix="okx-shield/keys/")
    verdicts = [evaluate_key(s, thresholds=request.thresholds, expected_ips=SHIELD, now_ms=NOW) for s in subjects]
    report = build_report(request, verdicts, [], FleetStats(workers=8))
    assert sum(1 for f in report.findings if f.is_problem) == 1200
    assert len(report.findings) > 1200

    # When it is rendered for SNS
    body = report.render_text()

    # Then it fits, the table was cut to leave room, and the findings start with the worst
    assert len(body.encode()) <= TEXT_BUDGET_BYTES < SNS_MESSAGE_LIMIT_BYTES
    assert "more key(s): see the function's return value" in body
    findings_part = body.split("Findings, worst first:", 1)[1]
    shown = [line for line in findings_part.splitlines() if line.startswith("- [")]
    assert len(shown) >= 120
    assert all(line.startswith("- [CRITICAL/") for line in shown[:120])
    assert "more finding(s) left out" in body
    # And SNS (moto) accepts it as one message
    with mock_aws():
        sns = boto3.client("sns", region_name="us-east-1")
        topic = sns.create_topic(Name="audit")["TopicArn"]
        assert publish_report(report, topic, sns_client=sns)
    # And the metrics carry one value per key, without a key dimension
    points = metric_points(report)
    assert sum(1 for p in points if p.name == "KeyAgeDays") == 1200
    assert sum(1 for p in points if p.name == "DaysUntilDeletion") == 120
    assert min(p.value for p in points if p.name == "DaysUntilDeletion") == pytest.approx(1.0)
