"""Given a secret's JSON, it parses into typed credentials, or fails naming the secret and field, never a value."""

import json

import pytest

from okxcore.credentials import parse_okx_key_secret, parse_shield_secret
from okxcore.errors import InvalidInputError, SecretFormatError, ShieldUrlError

SECRET_VALUES = {"api_key": "key-AAA-111", "api_secret": "SECRET-BBB-222", "passphrase": "PASS-CCC-333"}


def test_okx_key_secret_round_trip_hides_values():
    key = parse_okx_key_secret("okx/bot1", json.dumps({**SECRET_VALUES, "label": "bot1", "region": "eea"}))
    assert key.api_secret.get_secret_value() == "SECRET-BBB-222"
    assert key.region == "eea" and not key.demo and key.purpose == "trade"
    dumped = repr(key) + str(key) + key.model_dump_json()
    for value in SECRET_VALUES.values():
        assert value not in dumped


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        ({"api_secret": None}, "api_secret", "is missing"),
        ({"passphrase": ""}, "passphrase", "must not be empty"),
        ({"api_secret": "SECRET-BBB-222\n"}, "api_secret", "whitespace"),
        ({"region": "asia"}, "region", "'www', 'eea' or 'us'"),
        ({"demo": "maybe"}, "demo", "boolean"),
        ({"demo": "no"}, "demo", "true or false"),
        ({"demo": 1}, "demo", "true or false"),
        ({"apikey": "x"}, "(whole secret)", "1 unknown field(s)"),
        ({"created_at": "yesterday"}, "created_at", "datetime"),
        ({"created_at": 1767000000}, "created_at", "ISO 8601"),
    ],
)
def test_malformed_key_secret_names_field_not_value(change, field, problem):
    raw = {**SECRET_VALUES, **change}
    raw = {k: v for k, v in raw.items() if v is not None}
    with pytest.raises(SecretFormatError) as caught:
        parse_okx_key_secret("okx/bot1", raw)
    error = caught.value
    assert error.source == "okx/bot1"
    assert error.field == field
    assert problem in error.problem
    text = error.describe()
    for value in (*SECRET_VALUES.values(), "SECRET-BBB-222\n", "asia", "maybe", "yesterday"):
        assert value not in text


def test_key_secret_that_is_not_json():
    with pytest.raises(SecretFormatError, match="not valid JSON"):
        parse_okx_key_secret("okx/bot1", "api_key=abc")


def test_shield_secret_valid_and_invalid():
    secret, endpoint = parse_shield_secret(
        "shield", {"url": "https://u:TOPSECRETPW@proxy.example:9294", "expected_ips": ["52.0.0.1", "52.0.0.2"]}
    )
    assert endpoint.expected_ips == ("52.0.0.1", "52.0.0.2")
    assert "TOPSECRETPW" not in repr(secret) + repr(endpoint)
    with pytest.raises(ShieldUrlError) as caught:
        parse_shield_secret("shield", {"url": "socks5://u:TOPSECRETPW@proxy.example:9293"})
    assert caught.value.source == "shield" and caught.value.field == "url"
    assert "TOPSECRETPW" not in caught.value.describe()
    with pytest.raises(ShieldUrlError) as caught_ips:  # checked where the endpoint is built, as the url is
        parse_shield_secret("shield", {"url": "https://u:p@h:9294", "expected_ips": ["1.2.3"]})
    assert caught_ips.value.source == "shield" and caught_ips.value.field == "expected_ips"


def test_a_secret_pasted_as_a_field_name_is_never_repeated():
    # Given a console key/value swap: the api_secret's value became a JSON key, and its field went missing
    raw = {"api_key": "key-AAA-111", "SECRET-BBB-222": "api_secret", "passphrase": "PASS-CCC-333", "X-99": 1}
    with pytest.raises(SecretFormatError) as caught:
        parse_okx_key_secret("okx/bot1", raw)
    # Then the error counts the unknown fields and names the missing known field, and repeats no name or value
    text = caught.value.describe()
    assert caught.value.field == "(whole secret)"
    assert "2 unknown field(s)" in text and "missing: api_secret" in text
    for value in (*SECRET_VALUES.values(), "X-99"):
        assert value not in text


@pytest.mark.parametrize(
    "raw",
    [b"\xff\xfe{}", "[" * 100_000 + "]" * 100_000, "null", "[]", '"x"'],
    ids=["not-utf8", "deep", "null", "list", "str"],
)
def test_a_secret_that_is_not_a_json_object_is_one_clear_error(raw):
    with pytest.raises(SecretFormatError) as caught:
        parse_okx_key_secret("okx/bot1", raw)
    assert caught.value.field == "(whole secret)"


def test_expected_ips_as_one_string_says_it_must_be_a_list():
    with pytest.raises(InvalidInputError) as caught:
        parse_shield_secret("shield", {"url": "https://u:p@h:9294", "expected_ips": "127.0.0.2"})
    assert caught.value.field == "expected_ips"
    assert "must be a JSON list" in caught.value.problem  # it said "Input should be a valid tuple"
    assert "tuple" not in caught.value.describe()
