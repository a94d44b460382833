"""The audit Lambda against a seeded fleet: simulator behind a real proxy, secrets/SNS/DynamoDB in moto.

Each seeded key has a known problem (or none); the audit must report exactly those problems, with exactly
the expected severities, through the handler, to an SNS subscriber, without a secret anywhere.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from handlers.audit import handler
from okxcore.aws.state import DynamoStateStore
from okxlocal.seeds import DAY_MS, new_key, seed_with
from okxlocal.sim import SimAccount
from okxlocal.stack import KEY_SECRET_PREFIX, TABLE_NAME

P = KEY_SECRET_PREFIX
BOTH = ["127.0.0.2", "127.0.0.3"]
FUNDS = {"USDT": Decimal("10000")}


def days_ago_iso(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat()


def now_ms() -> int:
    return int(time.time() * 1000)


def accounts_for(keys, subaccounts):
    """One master account per uid, plus sub-accounts given as {uid: (main_uid, sub_acct)}."""
    out = []
    for uid in dict.fromkeys(k.uid for k in keys):
        if uid in subaccounts:
            continue
        out.append(SimAccount(uid=uid, label=f"account {uid}", balances=dict(FUNDS)))
    for uid, (main_uid, name) in subaccounts.items():
        out.append(SimAccount(uid=uid, label=name, main_uid=main_uid, sub_acct=name, balances=dict(FUNDS)))
    return out


@pytest.fixture
def fleet(local_stack):
    """Given a fleet of keys, each with one known condition, and a master key listing two sub-accounts."""
    keys = {
        "healthy": new_key("1001", "healthy", ips=BOTH),
        "young-unbound": new_key("1002", "young-unbound"),
        "expiring-created": new_key("1003", "expiring-created", created_days_ago=13),
        "expiring-idle": new_key("1004", "expiring-idle"),
        "withdraw": new_key("1005", "withdraw", perm={"read_only", "trade", "withdraw"}, ips=BOTH),
        "withdraw-allowed": new_key("1006", "withdraw-allowed", perm={"read_only", "trade", "withdraw"}, ips=BOTH),
        "deleted": new_key("1007", "deleted", ips=BOTH, deleted=True),
        "wrong-region": new_key("1008", "wrong-region", ips=BOTH, region="eea"),
        "one-ip": new_key("1009", "one-ip", ips=["127.0.0.2"]),
        "demo": new_key("1010", "demo", demo=True),
        "elsewhere": new_key("1011", "elsewhere", ips=["203.0.113.7"]),
        "wrong-secret": new_key("1012", "wrong-secret", ips=BOTH),
        "wrong-passphrase": new_key("1013", "wrong-passphrase", ips=BOTH),
        "demo-mismatch": new_key("1014", "demo-mismatch", ips=BOTH),
        "read-purpose": new_key("1015", "read-purpose", ips=BOTH),
        "rotation-due": new_key("1016", "rotation-due", ips=BOTH),
        "rotation-overdue": new_key("1017", "rotation-overdue", ips=BOTH),
        "dormant": new_key("1018", "dormant", ips=BOTH),
        "extra-ip": new_key("1019", "extra-ip", ips=[*BOTH, "198.51.100.9"]),
        "many-ips": new_key("1020", "many-ips", ips=[*BOTH, *(f"198.51.100.{n}" for n in range(1, 18))]),
        "master": new_key("9000", "master", perm={"read_only"}, ips=BOTH),
        # Sub-account keys: only the master's listing knows them, except desk1-bot-c, which also has a secret.
        "desk1-bot-a": new_key("9001", "desk1-bot-a", ips=BOTH, created_days_ago=5),
        "desk1-bot-b": new_key("9001", "desk1-bot-b", created_days_ago=12),
        "desk1-reader": new_key("9001", "desk1-reader", perm={"read_only"}),
        "desk1-bot-c": new_key("9001", "desk1-bot-c", created_days_ago=13),
    }
    desk2 = [new_key("9002", f"desk2-k{n:02d}", ips=BOTH, created_days_ago=3) for n in range(1, 47)]
    all_keys = [*keys.values(), *desk2]
    seed = seed_with(all_keys, accounts=accounts_for(all_keys, {"9001": ("9000", "desk1"), "9002": ("9000", "desk2")}))
    stack = local_stack(
        seed,
        key_secret_extras={
            "expiring-created": {"created_at": days_ago_iso(13)},
            "desk1-bot-c": {"created_at": None},  # no created_at in the secret: OKX's ts is the creation time
            "withdraw-allowed": {"allowed_permissions": ["read_only", "trade", "withdraw"]},
            "wrong-secret": {"api_secret": "0" * 32},
            "wrong-passphrase": {"passphrase": "not-the-passphrase"},
            "demo-mismatch": {"demo": True},
            "wrong-region": {"region": None},  # the key lives on eea.okx.com; its secret names no region (www)
            "read-purpose": {"purpose": "read_only"},
            "rotation-due": {"created_at": days_ago_iso(100)},
            "rotation-overdue": {"created_at": days_ago_iso(200)},
        },
        skip_key_secrets=frozenset({"desk1-bot-a", "desk1-bot-b", "desk1-reader"} | {k.label for k in desk2}),
    )
    malformed = {"api_key": "MALFORMED-AK-1234", "passphrase": "MALFORMED-PP-5678", "label": "malformed"}
    stack.put_secret(P + "malformed", malformed)
    state = DynamoStateStore(TABLE_NAME)
    state.record_key_use(P + "expiring-idle", now_ms() - 13 * DAY_MS)
    state.record_key_use(P + "dormant", now_ms() - 10 * DAY_MS)
    for name in ("rotation-due", "rotation-overdue", "healthy"):
        state.record_key_use(P + name, now_ms() - 3_600_000)
    return stack, keys, [*desk2], malformed


EXPECTED_PROBLEMS = {
    (P + "young-unbound", "audit.ip_binding", "MEDIUM"),
    (P + "expiring-created", "audit.ip_binding", "CRITICAL"),
    (P + "expiring-created", "audit.dormancy", "MEDIUM"),
    (P + "expiring-idle", "audit.ip_binding", "CRITICAL"),
    (P + "expiring-idle", "audit.dormancy", "MEDIUM"),
    (P + "withdraw", "audit.permissions.withdraw", "CRITICAL"),
    (P + "deleted", "audit.auth", "CRITICAL"),
    (P + "wrong-region", "audit.auth", "HIGH"),  # the key is intact: its secret names the wrong host
    (P + "one-ip", "audit.shield_ips.missing", "HIGH"),
    (P + "malformed", "audit.secret", "HIGH"),
    (P + "elsewhere", "audit.auth", "HIGH"),
    (P + "wrong-secret", "audit.auth", "HIGH"),
    (P + "wrong-passphrase", "audit.auth", "HIGH"),
    (P + "demo-mismatch", "audit.auth", "HIGH"),
    (P + "read-purpose", "audit.permissions.purpose", "MEDIUM"),
    (P + "rotation-due", "audit.key_age", "MEDIUM"),
    (P + "rotation-overdue", "audit.key_age", "HIGH"),
    (P + "dormant", "audit.dormancy", "MEDIUM"),
    (P + "extra-ip", "audit.shield_ips.unknown", "MEDIUM"),
    # OKX keeps an unbound demo or read-only key, but it works from anywhere: LOW, as in the probe
    (P + "demo", "audit.ip_binding", "LOW"),
    ("subaccount:desk1/desk1-reader", "audit.ip_binding", "LOW"),
    (P + "many-ips", "audit.shield_ips.unknown", "MEDIUM"),
    (P + "many-ips", "audit.limits.ips", "MEDIUM"),
    # desk1-bot-c has a secret made today, but OKX's listing says the key is 13 days old: 1 day left.
    (P + "desk1-bot-c", "audit.ip_binding", "CRITICAL"),
    (P + "desk1-bot-c", "audit.dormancy", "MEDIUM"),
    ("subaccount:desk1/desk1-bot-b", "audit.ip_binding", "CRITICAL"),
    ("subaccount:desk2", "audit.limits.keys", "MEDIUM"),
}


def problems(result):
    return {(f["resource"], f["check_id"], f["severity"]) for f in result["findings"] if f["status"] != "PASS"}


def by_check(result, resource, check_id):
    [finding] = [f for f in result["findings"] if f["resource"] == resource and f["check_id"] == check_id]
    return finding


def test_each_key_gets_exactly_its_findings_and_the_report_reaches_sns_without_secrets(fleet, lambda_context, capsys):
    stack, keys, desk2, malformed = fleet
    # When the scheduled audit runs with the function's default prefix and the master key
    result = handler(
        {"scheduled_time": "2026-01-15T06:00:00Z", "master_secret": P + "master"},
        lambda_context,
    )

    # Then every key has exactly the expected problems, with the expected severities
    assert problems(result) == EXPECTED_PROBLEMS
    assert result["severity"] == "CRITICAL"
    audited = {k["resource"] for k in result["details"]["keys"]}
    assert {P + label for label in keys if label not in {"desk1-bot-a", "desk1-bot-b", "desk1-reader"}} <= audited
    assert {"subaccount:desk1/desk1-bot-a", "subaccount:desk1/desk1-bot-b", "subaccount:desk1/desk1-reader"} <= audited
    assert "subaccount:desk1/desk1-bot-c" not in audited  # matched with its secret, not audited twice
    assert len([r for r in audited if r.startswith("subaccount:desk2/")]) == 46

    # And the messages say what the user needs to know
    assert "14-day deletion" in by_check(result, P + "deleted", "audit.auth")["message"]
    # (50119 at www.okx.com: the key was tried at the other regions' hosts, and eea.okx.com knows it)
    assert by_check(result, P + "wrong-region", "audit.auth")["message"] == (
        "wrong region: this key belongs to eea.okx.com: set `region` to `eea` in its secret"
    )
    assert "wrong regional host" not in by_check(result, P + "deleted", "audit.auth")["message"]
    assert "127.0.0.2" in by_check(result, P + "elsewhere", "audit.auth")["message"]
    assert "127.0.0.3" in by_check(result, P + "one-ip", "audit.shield_ips.missing")["message"]
    assert "198.51.100.9" in by_check(result, P + "extra-ip", "audit.shield_ips.unknown")["observed"]
    secret_problem = by_check(result, P + "malformed", "audit.secret")["message"]
    assert P + "malformed" in secret_problem
    assert "'api_secret'" in secret_problem
    assert "a demo key (not deleted by OKX)" in by_check(result, P + "demo", "audit.ip_binding")["message"]
    idle = by_check(result, P + "expiring-idle", "audit.ip_binding")
    assert "last use recorded 13.0 days ago" in idle["observed"]
    assert "counts as use" in idle["message"]
    created = by_check(result, P + "desk1-bot-c", "audit.ip_binding")
    assert "OKX's creation time" in created["observed"]

    # And the countdowns are in the machine-readable result
    details = {k["resource"]: k for k in result["details"]["keys"]}
    assert details[P + "expiring-created"]["days_until_deletion"] == pytest.approx(1.0, abs=0.01)
    assert details[P + "expiring-idle"]["days_until_deletion"] == pytest.approx(1.0, abs=0.01)
    assert details[P + "young-unbound"]["days_until_deletion"] == pytest.approx(13.0, abs=0.01)  # created 1 day ago
    assert details["subaccount:desk1/desk1-bot-b"]["days_until_deletion"] == pytest.approx(2.0, abs=0.01)
    assert details[P + "demo"]["days_until_deletion"] is None
    assert details[P + "rotation-overdue"]["age_days"] == pytest.approx(200.0, abs=0.01)

    # And one report reached the subscriber, worst findings first, filterable by severity
    [message] = stack.reports()
    assert message.attributes == {"severity": "CRITICAL", "failed": "true", "report": "audit", "environment": "local"}
    findings_part = message.body.split("Findings, worst first:", 1)[1]
    first_finding = next(line for line in findings_part.splitlines() if line.startswith("- ["))
    assert first_finding.startswith("- [CRITICAL/")
    assert "counts as use for OKX" in message.text
    assert "Keys:" in message.text

    # And every OKX call went through the proxy; none left from the direct address
    assert stack.sim.stats.requests_from("127.0.0.1") == 0

    # And the audit's own call was use for OKX but was not recorded as the bots' use
    state = DynamoStateStore(TABLE_NAME)
    assert stack.sim.key_last_used_ms(keys["young-unbound"].api_key) is not None
    assert state.last_key_use(P + "young-unbound") is None
    assert now_ms() - (state.last_key_use(P + "expiring-idle") or 0) > 12 * DAY_MS

    # And no credential appears in the report, the result or the logs
    logs = capsys.readouterr().out
    texts = [message.body, json.dumps(result), logs]
    credentials = [malformed["api_key"], malformed["passphrase"]]
    for key in [*keys.values(), *desk2]:
        credentials += [key.api_key, key.secret, key.passphrase]
    credentials.append(stack.proxy.password)
    for text in texts:
        for credential in credentials:
            assert credential not in text
