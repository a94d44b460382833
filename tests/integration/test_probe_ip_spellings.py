"""The probe on the local stack, with Shield's egress IP configured in another spelling than the echoes report.

The spellings themselves are in tests/unit/test_expected_ips.py.
"""

from __future__ import annotations

import pytest

from handlers.probe import handler
from okxlocal.seeds import new_key, seed_with


@pytest.mark.parametrize("where", ["secret", "SHIELD_EXPECTED_IPS"])
def test_the_probe_takes_a_mapped_spelling_of_the_shield_ip_for_shield(local_stack, lambda_context, monkeypatch, where):
    # Given Shield's egress IP (127.0.0.2) configured in its IPv4-mapped spelling, with a duplicate
    configured = ("::ffff:127.0.0.2", "127.0.0.3", "127.0.0.2")
    stack = local_stack(
        seed_with([new_key("7101", "bot", ips=["127.0.0.2", "127.0.0.3"])]),
        expected_ips=configured if where == "secret" else (),
    )
    if where == "SHIELD_EXPECTED_IPS":
        monkeypatch.setenv("SHIELD_EXPECTED_IPS", ",".join(configured))
    # When the probe runs
    result = handler({}, lambda_context)
    # Then the egress is Shield's, the key is bound to both IPs, and nothing is paused
    [message] = stack.reports()
    assert message.attributes["severity"] == "OK", message.body
    assert result["details"]["expected_ips"] == ["127.0.0.2", "127.0.0.3"]
    assert result["trading"] == "running"
    assert stack.sim.stats.requests_from("127.0.0.2") == 4  # three echoes and account/config, all through Shield
