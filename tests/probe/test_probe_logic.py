"""The probe's pure logic: echo parsing, consensus, egress verdicts, binding comparison, event and config."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from handlers.probe import EVENT_MODEL
from okxcore.egress import (
    DEFAULT_ECHO_URLS,
    EchoResult,
    EchoUrlError,
    EgressState,
    compare_binding,
    consensus,
    direct_echo_for_contrast,
    echo_label,
    judge_egress,
    parse_echo_answer,
    validate_echo_urls,
)
from okxcore.errors import InvalidInputError
from okxcore.probe import ProbeEvent, parse_probe_event, probe_config
from okxcore.slot import Slot

EXPECTED = ("127.0.0.2", "127.0.0.3")
EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"


# --- echo answers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "ip"),
    [
        (b'{"ip":"52.1.2.3"}', "52.1.2.3"),  # ip.quotaguard.com, ipify ?format=json
        (b'{"ip": "52.1.2.3", "country": "US"}\n', "52.1.2.3"),
        (b"52.1.2.3\n", "52.1.2.3"),  # checkip.amazonaws.com
        (b"  52.1.2.3  ", "52.1.2.3"),
        (b'"52.1.2.3"', "52.1.2.3"),  # a bare JSON string
        (b'{"IP":"52.1.2.3"}', "52.1.2.3"),
        (b'{"origin":"52.1.2.3"}', "52.1.2.3"),  # httpbin's shape
        (b"\xef\xbb\xbf52.1.2.3\r\n", "52.1.2.3"),  # a BOM and CRLF
        (b"2001:db8::1\n", "2001:db8::1"),
        (b'{"ip":"::ffff:52.1.2.3"}', "52.1.2.3"),  # IPv4-mapped IPv6 is the IPv4 address
    ],
)
def test_echo_answers_are_parsed_by_content_not_by_url_or_content_type(body, ip):
    # Given an answer in one of the shapes echo services use / When parsed / Then the IP comes out
    assert parse_echo_answer(body) == (ip, "")


@pytest.mark.parametrize(
    ("body", "problem_word"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"<html><body>502 Bad Gateway</body></html>", "not a bare IP"),
        (b"not-an-ip", "not an IP"),
        (b"999.1.2.3", "not an IP"),
        (b'{"ip": 5213}', "without an 'ip' field"),
        (b'{"address_of_client": "52.1.2.3"}', "without an 'ip' field"),
        (b'{"ip": "52.1.2.3, 10.0.0.1"}', "not an IP"),  # a forwarded chain is not one IP
        (b'{"ip": "52.1', "does not parse"),
        (b'["52.1.2.3", "52.1.2.4"]', "without an 'ip' field"),
    ],
)
def test_unusable_echo_answers_are_problems_never_guesses(body, problem_word):
    ip, problem = parse_echo_answer(body)
    assert ip is None
    assert problem_word in problem


def test_echo_labels_are_host_and_path_without_query():
    assert [echo_label(u) for u in DEFAULT_ECHO_URLS] == [
        "ip.quotaguard.com",
        "api.ipify.org",
        "checkip.amazonaws.com",
    ]
    assert echo_label("https://localhost:8443/echo/ipify?format=json") == "localhost:8443/echo/ipify"


# --- consensus and verdicts ------------------------------------------------------------------


def answers(*ips: str | None) -> list[EchoResult]:
    return [
        EchoResult(f"echo{i}", f"https://echo{i}.example", ip=ip, problem="" if ip else "answered HTTP 503")
        for i, ip in enumerate(ips)
    ]


def test_consensus_is_the_unique_most_common_answer():
    assert consensus(["1.1.1.1", "1.1.1.1", "2.2.2.2"]) == "1.1.1.1"
    assert consensus(["1.1.1.1"]) == "1.1.1.1"
    assert consensus(["1.1.1.1", "2.2.2.2"]) is None  # a tie has no consensus
    assert consensus([]) is None


def test_all_answers_shield_ips_is_a_match():
    verdict = judge_egress(answers("127.0.0.2", "127.0.0.2", "127.0.0.2"), EXPECTED)
    assert verdict.state is EgressState.MATCH
    assert verdict.consensus_ip == "127.0.0.2"
    assert not verdict.split


def test_echoes_seeing_both_shield_ips_is_still_a_match():
    # Shield load-balances over both static IPs: different tunnels may leave from different ones.
    verdict = judge_egress(answers("127.0.0.2", "127.0.0.3"), EXPECTED)
    assert verdict.state is EgressState.MATCH
    assert verdict.split
    assert verdict.consensus_ip is None


def test_one_answer_outside_the_set_is_a_mismatch_even_when_the_majority_agrees():
    verdict = judge_egress(answers("127.0.0.2", "127.0.0.2", "198.51.100.7"), EXPECTED)
    assert verdict.state is EgressState.MISMATCH
    assert verdict.outside == ("198.51.100.7",)
    assert verdict.consensus_ip == "127.0.0.2"


def test_no_answer_is_unknown_and_the_problems_are_kept():
    verdict = judge_egress(answers(None, None), EXPECTED)
    assert verdict.state is EgressState.UNKNOWN
    assert verdict.unanswered == {"echo0": "answered HTTP 503", "echo1": "answered HTTP 503"}


def test_without_expected_ips_the_verdict_is_unconfigured_not_a_match():
    verdict = judge_egress(answers("127.0.0.2", "127.0.0.2"), ())
    assert verdict.state is EgressState.UNCONFIGURED
    assert verdict.consensus_ip == "127.0.0.2"


# --- binding --------------------------------------------------------------------------------------


def test_a_key_bound_to_both_shield_ips_is_complete():
    result = compare_binding(["127.0.0.3", "127.0.0.2"], EXPECTED)
    assert result.complete
    assert result.missing == ()
    assert result.extra == ()


def test_a_key_bound_to_one_shield_ip_misses_the_other():
    result = compare_binding(["127.0.0.2"], EXPECTED)
    assert not result.complete
    assert result.missing == ("127.0.0.3",)


def test_an_unbound_key_misses_everything():
    result = compare_binding([], EXPECTED)
    assert result.unbound
    assert result.missing == EXPECTED
    assert not result.complete


def test_cidr_blocks_cover_the_ips_inside_them_and_strangers_are_extra():
    result = compare_binding(["127.0.0.0/30", "203.0.113.7", "garbage"], EXPECTED)
    assert result.complete
    assert result.extra == ("203.0.113.7", "garbage")


def test_nothing_to_compare_with_is_never_complete():
    result = compare_binding(["127.0.0.2"], ())
    assert not result.compared
    assert not result.complete


# --- event and configuration -------------------------------------------------------------------


def test_an_empty_event_is_a_default_run_with_the_contrast_off():
    event = parse_probe_event({})
    assert event.direct_echo_for_contrast is False
    assert parse_probe_event(None) == event


@pytest.mark.parametrize(
    ("event", "field", "problem_word"),
    [
        ({"key_secret_name": ["x"]}, "key_secret_name", "not a known field"),
        ({"direct_echo_for_contrast": "yes"}, "direct_echo_for_contrast", "boolean"),
        ({"echo_urls": ["https://a.example"]}, "echo_urls", "at least 2"),
        ({"echo_urls": ["https://a.example", "http://b.example"]}, "echo_urls", "echo_urls[1] must start with https"),
        ({"echo_urls": ["https://a.example", "https://www.okx.com/x"]}, "echo_urls", "OKX or OKEx host"),
        ({"echo_urls": ["https://a.example", "https://www.okex.com"]}, "echo_urls", "OKX or OKEx host"),
        ({"echo_urls": ["https://a.example", "https://OKX.cab."]}, "echo_urls", "OKX or OKEx host"),
        ({"echo_urls": ["https://a.example", "https://104.18.2.3/ip"]}, "echo_urls", "bare IP"),
        ({"echo_urls": ["https://a.example", "https://[2606:4700::1]"]}, "echo_urls", "bare IP"),
        ({"echo_urls": ["https://a.example", "https://2130706433"]}, "echo_urls", "bare IP"),
        ({"echo_urls": ["https://a.example", "https://0x7f.1"]}, "echo_urls", "bare IP"),
        ({"echo_urls": ["https://a.example", "https://okх.com"]}, "echo_urls", "ASCII"),
        ({"echo_urls": ["https://a.example", "https://u:p@b.example"]}, "echo_urls", "credentials"),
        ({"key_secret_names": []}, "key_secret_names", "one or more"),
        ({"key_secret_names": ["ok", " "]}, "key_secret_names", "non-empty"),
    ],
)
def test_invalid_events_name_the_field(event, field, problem_word):
    with pytest.raises(InvalidInputError) as caught:
        parse_probe_event(event)
    assert caught.value.field == field
    assert problem_word in caught.value.problem
    assert "u:p@" not in str(caught.value)


def test_scheduled_time_is_parsed_once_to_its_slot_whatever_the_spelling_and_a_non_time_names_the_field():
    # Given one instant in two spellings, and a scheduled_time that is not a time
    utc = parse_probe_event({"scheduled_time": "2026-01-15T06:00:00Z"})
    offset = parse_probe_event({"scheduled_time": "2026-01-15T07:00:00+01:00"})

    # Then both are the same slot, a run without one has none, and the non-time is refused naming the field
    assert utc.slot == offset.slot == Slot.parse("2026-01-15T06:00:00.000Z")
    assert parse_probe_event({}).slot is None
    with pytest.raises(InvalidInputError) as caught:
        parse_probe_event({"scheduled_time": "yesterday"})
    assert caught.value.field == "scheduled_time"


def test_a_non_object_event_is_invalid():
    with pytest.raises(InvalidInputError) as caught:
        parse_probe_event(["not", "an", "object"])
    assert caught.value.field == "(whole event)"


@pytest.mark.parametrize("path", sorted(EVENTS_DIR.glob("probe*.json")), ids=lambda p: p.name)
def test_example_events_validate_against_the_event_model(path):
    assert EVENT_MODEL is ProbeEvent
    event = EVENT_MODEL.model_validate(json.loads(path.read_text()))
    assert event.scheduled_time


def test_the_example_events_exist():
    assert len(sorted(EVENTS_DIR.glob("probe*.json"))) >= 2


@dataclass
class Settings:
    environment: str = "test"
    shield_secret_name: str = "okx-shield/shield"
    key_secret_names: str = ""
    key_secret_prefix: str = ""
    key_secret_tag: str = ""
    echo_urls: str = ""
    okx_ca_bundle: str | None = None
    key_repair_mode: str = "off"
    master_key_secret_name: str = ""


def test_the_event_overrides_the_environment_which_overrides_the_defaults():
    assert probe_config(ProbeEvent(), Settings()).echo_urls == DEFAULT_ECHO_URLS
    env = Settings(echo_urls="https://a.example, https://b.example", key_secret_names="k1, k2,k1")
    config = probe_config(ProbeEvent(), env)
    assert config.echo_urls == ("https://a.example", "https://b.example")
    assert config.key_secret_names == ("k1", "k2")
    assert config.key_names_source == "KEY_SECRET_NAMES"
    event = ProbeEvent(echo_urls=("https://c.example", "https://d.example"), key_secret_names=("k3",))
    config = probe_config(event, env)
    assert config.echo_urls == ("https://c.example", "https://d.example")
    assert config.key_secret_names == ("k3",)


def test_a_bad_echo_urls_setting_names_the_variable():
    with pytest.raises(EchoUrlError) as caught:
        probe_config(ProbeEvent(), Settings(echo_urls="https://a.example,http://b.example"))
    assert caught.value.source == "function environment"
    assert caught.value.field == "ECHO_URLS[1]"


def test_validate_echo_urls_drops_duplicates_before_counting():
    with pytest.raises(EchoUrlError):
        validate_echo_urls(["https://a.example", "https://a.example "], source="s", field="f")


def test_the_direct_contrast_refuses_okx_hosts_before_any_network_use():
    with pytest.raises(EchoUrlError):
        direct_echo_for_contrast("https://www.okx.com/api/v5/account/config")
