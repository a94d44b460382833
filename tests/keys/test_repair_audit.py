"""IP-binding repair in the audit: the simulator behind a real proxy, secrets/SNS/DynamoDB in moto.

What the simulator holds afterwards is the proof: plan mode changes nothing there, apply mode binds both Shield
IPs and keeps the user's IPs, a 20-IP key is not overfilled, a second run writes nothing, and the state table
records each change. No secret appears in any report, result or log.
"""

from __future__ import annotations

import json
from decimal import Decimal

import boto3
import pytest

from handlers.audit import handler
from okxlocal.seeds import new_key, seed_with
from okxlocal.sim import SimAccount
from okxlocal.stack import KEY_SECRET_PREFIX, TABLE_NAME

P = KEY_SECRET_PREFIX
BOTH = ["127.0.0.2", "127.0.0.3"]
USER_IP = "198.51.100.7"
TWENTY = [f"203.0.113.{n}" for n in range(1, 21)]
MODIFY = "/api/v5/users/subaccount/modify-apikey"


@pytest.fixture
def fleet(local_stack):
    """Given a master bound to both Shield IPs and sub-account keys in each state a repair meets."""
    keys = {
        "master": new_key("9000", "master", ips=BOTH),
        "half": new_key("9001", "half", ips=["127.0.0.2", USER_IP], created_days_ago=5),
        "unbound": new_key("9001", "unbound", created_days_ago=12),
        "full": new_key("9001", "full", ips=TWENTY),
        "reader": new_key("9001", "reader", perm={"read_only"}),
        "bound": new_key("9001", "bound", ips=BOTH),
        "elsewhere": new_key("9001", "elsewhere", ips=["127.0.0.3"]),  # its own call is refused (50110)
        "own-unbound": new_key("9000", "own-unbound", created_days_ago=3),  # the master account's own key
        "alone": new_key("5000", "alone", created_days_ago=3),  # a main account nobody here is master of
    }
    funds = {"USDT": Decimal("100")}
    accounts = [
        SimAccount(uid="9000", label="master", balances=dict(funds)),
        SimAccount(uid="9001", label="desk1", main_uid="9000", sub_acct="desk1", balances=dict(funds)),
        SimAccount(uid="5000", label="alone", balances=dict(funds)),
    ]
    # Only the half-bound key and the lone account's key have secrets; the rest are known from the master's listing.
    stack = local_stack(
        seed_with(list(keys.values()), accounts),
        skip_key_secrets=frozenset({"unbound", "full", "reader", "bound"}),
    )
    return stack, keys


def audit(repair_mode: str, context) -> dict:
    return handler(
        {"scheduled_time": "2026-01-15T06:00:00Z", "master_secret": P + "master", "repair_mode": repair_mode},
        context,
    )


def modifies(stack) -> int:
    return sum(1 for r in stack.sim.stats.requests if r.path == MODIFY)


def ips_at_okx(stack, keys) -> dict[str, list[str]]:
    return {label: list(stack.sim.key(key.api_key).ips) for label, key in keys.items()}


def repair_findings(result) -> dict[str, dict]:
    return {f["resource"]: f for f in result["findings"] if f["check_id"] == "keys.repair.ip_binding"}


def repair_records() -> list[dict]:
    items = boto3.client("dynamodb").scan(TableName=TABLE_NAME)["Items"]
    return [item for item in items if item["id"]["S"].startswith("keyrepair#")]


def test_plan_reports_exactly_what_would_change_and_changes_nothing(fleet, lambda_context):
    stack, keys = fleet
    before = ips_at_okx(stack, keys)

    result = audit("plan", lambda_context)

    assert ips_at_okx(stack, keys) == before
    assert modifies(stack) == 0
    assert repair_records() == []
    found = repair_findings(result)
    half = found[P + "half"]
    assert (half["severity"], half["status"]) == ("LOW", "WARN")
    assert half["observed"] == f"before: 127.0.0.2, {USER_IP}"
    assert half["expected"] == f"after: 127.0.0.2, {USER_IP}, 127.0.0.3"
    assert found["subaccount:desk1/unbound"]["expected"] == "after: 127.0.0.2, 127.0.0.3"
    assert found[P + "elsewhere"]["expected"] == "after: 127.0.0.3, 127.0.0.2"
    assert set(found) == {
        P + "half",
        P + "elsewhere",
        "subaccount:desk1/unbound",
        "subaccount:desk1/full",
        P + "own-unbound",
        P + "alone",
    }
    [message] = stack.reports()
    assert "IP-binding repair (plan):" in message.text
    assert "would change" in message.text


def test_apply_binds_both_ips_keeps_user_ips_refuses_to_overfill_and_records(fleet, lambda_context, log_stream):
    stack, keys = fleet
    before = ips_at_okx(stack, keys)

    result = audit("apply", lambda_context)

    # Then OKX holds both Shield IPs on the two repairable keys, and every IP they had
    after = ips_at_okx(stack, keys)
    assert after["half"] == ["127.0.0.2", USER_IP, "127.0.0.3"]
    assert after["unbound"] == BOTH
    assert after["elsewhere"] == ["127.0.0.3", "127.0.0.2"]
    # And the 20-IP key, the read-only key, the bound key and keys the master cannot modify are untouched
    for label in ("full", "reader", "bound", "own-unbound", "alone", "master"):
        assert after[label] == before[label], label
    assert modifies(stack) == 3
    found = repair_findings(result)
    assert found[P + "half"]["status"] == "PASS"
    full = found["subaccount:desk1/full"]
    assert (full["severity"], full["status"]) == ("HIGH", "FAIL")
    assert "over OKX's 20" in full["message"]
    assert "--remove-ip" in full["remediation"]
    for manual in (P + "own-unbound", P + "alone"):
        assert found[manual]["status"] == "WARN"
        assert "API management" in found[manual]["remediation"]
    assert "master account's own key" in found[P + "own-unbound"]["message"]

    # And the report shows the repaired keys as bound now, with the before/after in its table
    problems = {(f["resource"], f["check_id"]) for f in result["findings"] if f["status"] != "PASS"}
    assert (P + "half", "audit.shield_ips.missing") not in problems
    assert ("subaccount:desk1/unbound", "audit.ip_binding") not in problems
    assert not {p for p in problems if p[0] == P + "elsewhere"}  # judged again with the list OKX shows now
    [message] = stack.reports()
    assert "IP-binding repair (apply):" in message.text
    assert f"127.0.0.2, {USER_IP}, 127.0.0.3" in message.text

    # And the state table records who changed which key, when, from what to what
    records = {r["key_label"]["S"]: r for r in repair_records()}
    assert set(records) == {"half", "unbound", "elsewhere"}
    assert [ip["S"] for ip in records["half"]["old_ips"]["L"]] == ["127.0.0.2", USER_IP]
    assert [ip["S"] for ip in records["half"]["new_ips"]["L"]] == ["127.0.0.2", USER_IP, "127.0.0.3"]
    assert records["unbound"]["old_ips"]["L"] == []
    assert records["half"]["by"]["S"] == "audit function"
    assert records["half"]["confirmed"]["BOOL"] is True

    # When the audit runs again, nothing is written: the repair is a no-op
    again = audit("apply", lambda_context)
    assert modifies(stack) == 3
    assert ips_at_okx(stack, keys) == after
    assert P + "half" not in repair_findings(again)
    assert len(repair_records()) == 3

    # And every request reached OKX from the proxy's IP; no secret is anywhere
    assert {r.peer_ip for r in stack.sim.stats.requests} == {"127.0.0.2"}
    texts = [json.dumps(result), json.dumps(again), message.body, log_stream.getvalue(), json.dumps(repair_records())]
    for key in keys.values():
        for credential in (key.api_key, key.secret, key.passphrase):
            assert all(credential not in text for text in texts)


def test_a_run_repairs_at_most_its_budget_and_says_how_many_wait(fleet, lambda_context, monkeypatch):
    from okxcore.audit import repair as repair_audit

    stack, _keys = fleet
    monkeypatch.setattr(repair_audit, "AUDIT_REPAIRS_PER_RUN", 1)
    result = audit("apply", lambda_context)
    # four sub-account keys need it (half, unbound, full, elsewhere): one is taken, three wait
    attempted = [f for f in repair_findings(result).values() if "not repaired automatically" not in f["message"]]
    assert len(attempted) == 1
    assert modifies(stack) <= 1
    assert any("3 more key(s) need it and wait for the next run" in line for line in result["summary"])
