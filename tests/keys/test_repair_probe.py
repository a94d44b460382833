"""IP-binding repair in the probe: the keys it finds half-bound, bound elsewhere (50110 from a Shield IP) or unbound
are rebound by the master, through the real proxy; what the simulator holds afterwards is the proof."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from handlers.probe import handler
from okxlocal.seeds import new_key, seed_with
from okxlocal.sim import SimAccount
from okxlocal.stack import KEY_SECRET_PREFIX, patched_environ

P = KEY_SECRET_PREFIX
BOTH = ["127.0.0.2", "127.0.0.3"]
MODIFY = "/api/v5/users/subaccount/modify-apikey"


def R(label: str) -> str:  # how the probe names a key: "label (secret name)"
    return f"{label} ({P}{label})"


@pytest.fixture
def fleet(local_stack):
    keys = {
        "master": new_key("9000", "master", ips=BOTH),
        "half": new_key("9001", "half", ips=["127.0.0.2"]),
        "elsewhere": new_key("9001", "elsewhere", ips=["127.0.0.3"]),  # OKX refuses the call from 127.0.0.2
        "unbound": new_key("9002", "unbound"),
        "own": new_key("9000", "own"),  # the master account's own key: manual steps
    }
    accounts = [
        SimAccount(uid="9000", label="master", balances={"USDT": Decimal(1)}),
        SimAccount(uid="9001", label="desk1", main_uid="9000", sub_acct="desk1", balances={"USDT": Decimal(1)}),
        SimAccount(uid="9002", label="desk2", main_uid="9000", sub_acct="desk2", balances={"USDT": Decimal(1)}),
    ]
    stack = local_stack(seed_with(list(keys.values()), accounts))
    with patched_environ({"MASTER_KEY_SECRET_NAME": P + "master"}):
        yield stack, keys


def ips(stack, keys):
    return {label: list(stack.sim.key(key.api_key).ips) for label, key in keys.items()}


def test_probe_plan_changes_nothing(fleet, lambda_context):
    stack, keys = fleet
    before = ips(stack, keys)
    result = handler({"repair_mode": "plan"}, lambda_context)
    assert ips(stack, keys) == before
    assert not [r for r in stack.sim.stats.requests if r.path == MODIFY]
    planned = {f["resource"]: f for f in result["findings"] if f["check_id"] == "keys.repair.ip_binding"}
    assert planned[R("half")]["expected"] == "after: 127.0.0.2, 127.0.0.3"
    assert planned[R("elsewhere")]["expected"] == "after: 127.0.0.3, 127.0.0.2"


def test_probe_apply_rebinds_what_it_found_and_reports_the_keys_as_bound(fleet, lambda_context, log_stream):
    stack, keys = fleet
    result = handler({"repair_mode": "apply"}, lambda_context)

    after = ips(stack, keys)
    assert after["half"] == BOTH
    assert after["elsewhere"] == ["127.0.0.3", "127.0.0.2"]
    assert after["unbound"] == BOTH
    assert after["own"] == []
    found = {f["resource"]: f for f in result["findings"] if f["check_id"] == "keys.repair.ip_binding"}
    assert {r: f["status"] for r, f in found.items()} == {
        R("half"): "PASS",
        R("elsewhere"): "PASS",
        R("unbound"): "PASS",
        R("own"): "WARN",
    }
    binding_problems = {
        f["resource"] for f in result["findings"] if f["check_id"] == "probe.keys.binding" and f["status"] != "PASS"
    }
    assert binding_problems == {R("own")}
    assert "IP-binding repair (apply)" in result["tables"]
    [message] = stack.reports()
    assert "IP-binding repair (apply): 3 applied, 1 manual steps." in message.text
    assert {r.peer_ip for r in stack.sim.stats.requests} == {"127.0.0.2"}
    texts = [json.dumps(result), message.body, log_stream.getvalue()]
    for key in keys.values():
        for credential in (key.api_key, key.secret, key.passphrase):
            assert all(credential not in text for text in texts)


def test_a_master_that_cannot_repair_is_a_finding_not_the_end_of_the_probe(fleet, lambda_context):
    stack, keys = fleet
    before = ips(stack, keys)
    with patched_environ({"MASTER_KEY_SECRET_NAME": P + "half"}):  # a sub-account's key, not the main account's
        result = handler({"repair_mode": "apply"}, lambda_context)
    assert ips(stack, keys) == before
    [master] = [f for f in result["findings"] if f["check_id"] == "keys.repair.master"]
    assert (master["severity"], master["status"]) == ("HIGH", "ERROR")
    assert "sub-account's key" in master["message"]
    manual = [f for f in result["findings"] if f["check_id"] == "keys.repair.ip_binding"]
    assert manual and all("not repaired automatically" in f["message"] for f in manual)
    assert any(f["check_id"] == "probe.egress.consensus" for f in result["findings"])  # the probe ran to the end
