"""50119 ("API key doesn't exist") through the probe: the key is tried at the other regions' hosts of the
simulator (one listener per OKX region, each answering as that host does) and the report says where it lives."""

from __future__ import annotations

from handlers.probe import handler
from okxlocal.seeds import new_key, seed_with

BOTH = ["127.0.0.2", "127.0.0.3"]


def finding_of(result: dict, label: str) -> dict:
    findings = [f for f in result["findings"] if f["check_id"] == "probe.keys.okx"]
    [found] = [f for f in findings if f["resource"].startswith(f"{label} ")]
    return found


def test_a_key_of_another_region_is_named_with_the_region_to_set(local_stack, lambda_context):
    # Given a key that lives on eea.okx.com, whose secret names no region (so www.okx.com is asked)
    eea_key = new_key("4101", "eea-bot", ips=BOTH, region="eea")
    stack = local_stack(seed_with([eea_key]), key_secret_extras={"eea-bot": {"region": None}})
    # When the probe runs
    result = handler({}, lambda_context)
    # Then the finding says which host knows the key and what to set, HIGH (the key is intact), not "key gone"
    found = finding_of(result, "eea-bot")
    assert (found["severity"], found["status"]) == ("HIGH", "FAIL")
    assert "OKX's eea.okx.com knows this key" in found["message"]
    assert found["remediation"].startswith("Set `region` to `eea` in the key's secret")
    [message] = stack.reports()
    assert "this key belongs to eea.okx.com" in message.text


def test_a_key_no_region_knows_is_reported_deleted(local_stack, lambda_context):
    # Given a deleted key, and hosts that answer 50119 for it (as OKX does for a key it does not know)
    gone = new_key("4102", "gone-bot", ips=BOTH)
    stack = local_stack(seed_with([gone]))
    stack.sim.delete_key(gone.api_key)
    stack.sim.faults.gone_key_code = "50119"
    # When the probe runs
    result = handler({}, lambda_context)
    # Then every region's host was asked and the finding says the key is gone, not "or the wrong region"
    found = finding_of(result, "gone-bot")
    assert (found["severity"], found["status"]) == ("CRITICAL", "FAIL")
    assert "No OKX region knows this key (50119 at www.okx.com, eea.okx.com, us.okx.com)" in found["message"]
    assert "wrong" not in found["remediation"]
    calls = [r for r in stack.sim.stats.requests if r.api_key == gone.api_key]
    assert len(calls) == 3  # one signed account/config at each region's host, all through the proxy
    assert {r.peer_ip for r in calls} == {"127.0.0.2"}
