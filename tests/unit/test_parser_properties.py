"""Property and fuzz tests of every parser at the boundary: events, plans, secrets, settings, the Shield URL
and OKX's answers. Arbitrary input in; out comes a model or the product's typed error naming a field, never
another exception, and never a value of a secret in a message. Bounded: a few seconds in all."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.settings import RuntimeSettings
from okxcore.answers import answer_data, many
from okxcore.credentials import OkxKeySecret, parse_okx_key_secret, parse_shield_secret
from okxcore.errors import InvalidInputError, OkxShieldError
from okxcore.models import AccountConfig, Balance, Instrument, Order, OrderAck, Ticker
from okxcore.probe import parse_probe_event
from okxcore.shield import ShieldEndpoint
from okxcore.trading.plan import PlanValidationError, TradePlan, parse_plan

EVENTS = Path(__file__).resolve().parents[2] / "events"
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Every string a secret holds carries this marker, and every unknown key carries KEY: neither may ever
# appear in an error message.
MARK, KEY = "SEKRET", "K3Y"

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=12)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip


def attempt(parse: Any, *args: Any) -> Any:
    """The parser's result, or the InvalidInputError it raised (any other exception fails the test)."""
    try:
        return parse(*args)
    except InvalidInputError as error:
        return error


def assert_names_a_field(error: InvalidInputError) -> None:
    assert error.field and error.problem
    assert error.describe().startswith(f"{error.source}: field '{error.field}': ")


# --- events and plans -------------------------------------------------------------------------------

PLAN = json.loads((EVENTS / "trade-dca.json").read_text())
LIMIT_PLAN = json.loads((EVENTS / "trade-limit.json").read_text())
PLAN_PATHS = [
    ("dry_run",), ("demo",), ("scheduled_time",), ("caps", "max_notional"), ("caps", "max_delay_s"),
    ("legs", 0, "quote_amount"), ("legs", 0, "kind"), ("legs", 0, "side"), ("fill_wait_s",), ("legs",),
    ("plan_id",), ("caps",), ("slot_interval_s",), ("legs", 0, "post_only"), ("legs", 0, "offset_pct"),
]  # fmt: skip


def mutated(base: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    event = json.loads(json.dumps(base))
    target = event
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return event


@FAST
@given(st.sampled_from([PLAN, LIMIT_PLAN]), st.lists(st.tuples(st.sampled_from(PLAN_PATHS), json_values), max_size=3))
def test_a_plan_with_any_fields_replaced_is_a_plan_or_an_error_naming_a_field(base, changes):
    event = base
    for path, value in changes:
        try:
            event = mutated(event, path, value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change replaced a container with a scalar
    try:
        plan = parse_plan(event)
    except PlanValidationError as error:
        assert_names_a_field(error)
        return
    assert isinstance(plan, TradePlan)
    assert isinstance(plan.dry_run, bool)
    assert plan.slot.iso.endswith("Z") and plan.fingerprint()


@FAST
@given(json_values)
def test_any_json_as_a_plan_or_probe_event_is_a_model_or_an_error_naming_a_field(value):
    for parse in (parse_plan, parse_probe_event):
        try:
            parse(value)
        except InvalidInputError as error:
            assert_names_a_field(error)


PROBE_FIELDS = ["scheduled_time", "echo_urls", "key_secret_names", "direct_echo_for_contrast", "repair_mode", "x"]
AUDIT_FIELDS = [
    "key_secret_tag",
    "key_secret_prefix",
    "master_secret",
    "max_workers",
    "thresholds",
    "scheduled_time",
    "x",
]


@FAST
@given(st.dictionaries(st.sampled_from(PROBE_FIELDS), json_values, max_size=4))
def test_a_probe_event_of_known_fields_with_any_values(event):
    try:
        parsed = parse_probe_event(event)
    except InvalidInputError as error:
        assert_names_a_field(error)
        return
    assert isinstance(parsed.direct_echo_for_contrast, bool)


@FAST
@given(st.dictionaries(st.sampled_from(AUDIT_FIELDS), json_values, max_size=4))
def test_an_audit_event_with_any_values_is_a_request_or_an_error_naming_a_field(event):
    from okxcore.audit.event import parse_event

    env = {"SHIELD_SECRET_NAME": "s", "REPORT_TOPIC_ARN": "t", "STATE_TABLE_NAME": "t", "KEY_SECRET_PREFIX": "p/"}
    try:
        parse_event(event, RuntimeSettings.from_environ(env))
    except InvalidInputError as error:
        assert_names_a_field(error)


@FAST
@given(st.dictionaries(st.text(max_size=30), st.text(max_size=30), max_size=6))
def test_any_environment_is_settings_or_an_error_naming_the_variable(environ):
    base = {"SHIELD_SECRET_NAME": "s", "REPORT_TOPIC_ARN": "t", "STATE_TABLE_NAME": "t"}
    try:
        settings_ = RuntimeSettings.from_environ({**base, **environ})
        settings_.okx_target()
    except InvalidInputError as error:
        assert_names_a_field(error)


# --- secrets ------------------------------------------------------------------------------------------

marked_text = st.text(max_size=10).map(lambda t: f"{MARK}{t}")
marked_scalars = st.none() | st.booleans() | st.integers() | st.floats() | marked_text
marked_values = st.recursive(
    marked_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(marked_text, inner, max_size=3),
    max_leaves=8,
)  # fmt: skip
KEY_FIELDS = sorted(OkxKeySecret.model_fields)
known_entries = st.dictionaries(st.sampled_from(KEY_FIELDS), marked_values | st.sampled_from(
    ["www", "eea", "trade", "read_only", "2026-11-01T09:00:00Z", True, False]), max_size=9)  # fmt: skip
unknown_entries = st.dictionaries(st.text(max_size=10).map(lambda t: f"{KEY}{t}"), marked_values, max_size=3)


def assert_nothing_of_the_secret_in(error: InvalidInputError) -> None:
    text = error.describe() + repr(error) + repr(error.problems)
    assert MARK not in text and KEY not in text, text


@FAST
@given(known_entries, unknown_entries)
def test_a_key_secret_with_any_fields_never_repeats_a_value_or_an_unknown_name(known, unknown):
    outcome = attempt(parse_okx_key_secret, "okx/bot", json.dumps({**known, **unknown}))
    if isinstance(outcome, InvalidInputError):
        assert_names_a_field(outcome)
        assert_nothing_of_the_secret_in(outcome)
        if unknown:
            assert outcome.field == "(whole secret)" and f"{len(unknown)} unknown field(s)" in outcome.problem
    else:
        assert MARK not in repr(outcome) + str(outcome) + outcome.model_dump_json()


@FAST
@given(st.binary(max_size=200) | st.text(max_size=200).map(lambda t: f'{{"url": "{t}"}}'))
def test_any_bytes_as_a_secret_are_a_secret_or_a_format_error(raw):
    for parse in (parse_okx_key_secret, parse_shield_secret):
        try:
            parse("okx/bot", raw)
        except InvalidInputError as error:
            assert_names_a_field(error)


# --- the Shield URL -----------------------------------------------------------------------------------

PASSWORD = "pw-" + MARK
url_parts = st.tuples(
    st.sampled_from(["https", "socks5h", "socks5h+tls", "socks5", "http", "HTTPS", "", "ftp"]),
    st.sampled_from(["://", ":/", "//", "://user:" + PASSWORD + "@", "://:" + PASSWORD + "@", "://user@"]),
    st.text(max_size=20),
    st.sampled_from(["", ":9294", ":0", ":99999", ":x", ":1081"]),
    st.text(max_size=6),
)


@FAST
@given(url_parts | st.binary(max_size=80).map(lambda b: ("", "", b.decode("latin-1"), "", "")))
def test_any_text_as_a_shield_url_is_an_endpoint_or_a_url_error_without_the_password(parts):
    endpoint = attempt(ShieldEndpoint.parse, "".join(parts))
    if isinstance(endpoint, InvalidInputError):
        assert endpoint.field == "url"
        assert MARK not in endpoint.describe() + repr(endpoint)
    else:
        assert MARK not in repr(endpoint) + str(endpoint) + endpoint.redacted_url()
        assert 0 < endpoint.port < 65536 and endpoint.host and endpoint.username and endpoint.password


# --- OKX's answers ---------------------------------------------------------------------------------------

answers = st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()) | st.builds(
    lambda code, data, msg: json.dumps({"code": code, "data": data, "msg": msg}).encode(),
    st.sampled_from(["0", "1", "2", 0, "50110", "51016", "50011", None, "x"]), json_values, json_values,
) | st.just(b"[" * 50_000 + b"]" * 50_000)  # fmt: skip
MODELS = [AccountConfig, Balance, Instrument, Order, OrderAck, Ticker]


@FAST
@given(answers, st.sampled_from([200, 400, 401, 429, 500, 503]), st.sampled_from([None, "osabc"]))
def test_any_bytes_from_okx_are_data_or_a_typed_error(body, status, item_id):
    # The answer parser needs no connection: it is fed responses built here.
    response = requests.Response()
    response.status_code, response._content = status, body
    with contextlib.suppress(OkxShieldError):  # a typed error is a right answer; anything else fails
        data = answer_data(response, "/api/v5/x", item_id)
        for model in MODELS:
            with contextlib.suppress(OkxShieldError):
                many(model, data)
