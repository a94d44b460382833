"""Shield's static IPs come out in one spelling wherever they are read, and match the egress as echoed.

A Shield IP written two ways (the dashboard's `52.1.2.3`, a dual-stack `::ffff:52.1.2.3`) is one IP: were
the configured set spelled differently from what the echo services and OKX report, the probe would take
Shield's own IP for a stranger and pause trading. The probe's own run is in
tests/integration/test_probe_ip_spellings.py.
"""

from __future__ import annotations

import pytest

from okxcore.credentials import parse_shield_secret
from okxcore.egress import EchoResult, EgressState, compare_binding, judge_egress, parse_echo_answer
from okxcore.ips import canonical_ip, normalise_ips
from okxcore.shield import ShieldEndpoint

URL = "https://u:p@proxy.example:9294"
SPELLINGS = ["52.1.2.3", " 52.1.2.3 ", "::ffff:52.1.2.3", "::FFFF:3401:0203", "2001:DB8::1", "2001:db8:0:0::1"]
CANONICAL = ("52.1.2.3", "2001:db8::1")


def test_every_entry_point_gives_the_same_canonical_deduplicated_ips_in_order():
    assert normalise_ips(SPELLINGS, source="test") == CANONICAL
    assert ShieldEndpoint.parse(URL, expected_ips=SPELLINGS).expected_ips == CANONICAL
    _secret, endpoint = parse_shield_secret("shield", {"url": URL, "expected_ips": SPELLINGS})
    assert endpoint.expected_ips == CANONICAL
    assert normalise_ips(list(reversed(SPELLINGS)), source="test") == tuple(reversed(CANONICAL))  # order kept
    # and each spelling, as an echo service or OKX would report it, is the configured IP
    assert {canonical_ip(text) for text in SPELLINGS} == set(CANONICAL)
    assert {parse_echo_answer(text.encode())[0] for text in SPELLINGS} == set(CANONICAL)


@pytest.mark.parametrize("spelling", ["::ffff:52.1.2.3", "52.1.2.3"])
def test_an_echoed_shield_ip_matches_the_configured_set_in_any_spelling(spelling):
    endpoint = ShieldEndpoint.parse(URL, expected_ips=[spelling, "2001:db8::1"])
    echoes = [EchoResult(name, f"https://{name}.example", ip=parse_echo_answer(b"52.1.2.3")[0]) for name in "ab"]
    assert judge_egress(echoes, endpoint.expected_ips).state is EgressState.MATCH
    assert compare_binding(["52.1.2.3", "2001:db8::1"], endpoint.expected_ips).missing == ()
