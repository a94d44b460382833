"""A bot's client after a rotation: the key's secret is read again (Secrets Manager on moto) once per interval, a
new key is taken from the next request on, and a read that fails or a key the client cannot take keeps the key
read before. The clock is the test's; the reads are real."""

from __future__ import annotations

import json
import logging
import secrets
from functools import partial
from typing import Any

import boto3
import pytest

from okxcore.aws.secretstore import load_okx_key
from okxcore.bots import BotSettings
from okxcore.bots.live_key import RETRY_S, LiveKey
from okxcore.bots.redaction import REDACTED, Redactor
from okxcore.errors import InvalidInputError

NAME = "okx-shield/keys/bot-main"
REFRESH_S = 300.0


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


def new_key_json(**fields: Any) -> dict[str, Any]:
    return {
        "api_key": secrets.token_hex(16),
        "api_secret": secrets.token_hex(16),
        "passphrase": "Pp-" + secrets.token_hex(6),
        **fields,
    }


@pytest.fixture
def secret(aws) -> dict[str, Any]:
    first = new_key_json()
    boto3.client("secretsmanager").create_secret(Name=NAME, SecretString=json.dumps(first))
    return first


def rotate_to(value: dict[str, Any] | str) -> None:
    text = value if isinstance(value, str) else json.dumps(value)
    boto3.client("secretsmanager").put_secret_value(SecretId=NAME, SecretString=text)  # AWSCURRENT moves to it


def live_key(clock: Clock, reads: list[float]) -> tuple[LiveKey, Redactor]:
    first = load_okx_key(NAME)
    redact = Redactor([first.api_key.get_secret_value(), first.api_secret.get_secret_value()])

    def load(name: str) -> Any:
        reads.append(clock.now)
        return partial(load_okx_key, fresh=True)(name)  # as bots.bind loads it

    return LiveKey(first, secret_name=NAME, load=load, refresh_s=REFRESH_S, redact=redact, clock=clock), redact


def api_key(live: LiveKey) -> str:
    return live.signing_key().api_key.get_secret_value()


def test_a_rotated_key_is_signed_with_once_the_interval_has_passed_and_the_secret_is_read_once_per_interval(
    secret, caplog
) -> None:
    clock, reads = Clock(), []
    live, redact = live_key(clock, reads)
    rotated = new_key_json()
    rotate_to(rotated)

    # Within the interval: the key read at start, and no read of the secret
    clock.now += REFRESH_S - 1
    assert api_key(live) == secret["api_key"]
    assert reads == []

    # Past it: one read, and the new key from then on
    clock.now += 1
    with caplog.at_level(logging.INFO, logger="okxcore.bots"):
        assert api_key(live) == rotated["api_key"]
        assert live.signing_key().passphrase.get_secret_value() == rotated["passphrase"]
    assert reads == [5300.0]
    assert [r.getMessage() for r in caplog.records] == [
        f"okx-shield: the secret {NAME} holds a new key (a rotation): requests are signed with it from now on"
    ]
    clock.now += REFRESH_S - 1
    assert api_key(live) == rotated["api_key"]
    assert reads == [5300.0]  # the next read is a whole interval after the last

    # and both keys' secrets stay out of whatever the library logs
    line = f"{secret['api_key']} {rotated['api_key']} {rotated['api_secret']} {rotated['passphrase']}"
    assert redact(line) == " ".join([REDACTED] * 4)


def test_a_secret_that_cannot_be_read_keeps_the_key_read_before_and_is_tried_again_after_the_retry_interval(
    secret, caplog
) -> None:
    clock, reads = Clock(), []
    live, _ = live_key(clock, reads)
    rotate_to('{"api_key": "half a pasted secret"')  # not JSON

    clock.now += REFRESH_S
    with caplog.at_level(logging.WARNING, logger="okxcore.bots"):
        assert api_key(live) == secret["api_key"]
    [warning] = caplog.records
    assert warning.levelno == logging.WARNING
    message = warning.getMessage()
    assert message.startswith(f"okx-shield: the key's secret {NAME} could not be read again, so requests are")
    assert "next try in 30 s" in message
    assert "half a pasted secret" not in message  # the secret's text is never quoted

    clock.now += RETRY_S - 1
    assert api_key(live) == secret["api_key"]
    assert len(reads) == 1  # not a read per request while the secret is broken

    fixed = new_key_json()
    rotate_to(fixed)
    clock.now += 1
    assert api_key(live) == fixed["api_key"]
    assert len(reads) == 2


def test_a_deleted_secret_keeps_the_key_read_before(secret, caplog) -> None:
    clock, reads = Clock(), []
    live, _ = live_key(clock, reads)
    boto3.client("secretsmanager").delete_secret(SecretId=NAME, ForceDeleteWithoutRecovery=True)

    clock.now += REFRESH_S
    with caplog.at_level(logging.WARNING, logger="okxcore.bots"):
        assert api_key(live) == secret["api_key"]
    assert NAME in caplog.records[0].getMessage()


def test_a_key_for_another_region_is_not_taken_and_the_error_says_a_cold_start_will(secret, caplog) -> None:
    clock, reads = Clock(), []
    live, _ = live_key(clock, reads)
    rotate_to(new_key_json(region="eea"))

    clock.now += REFRESH_S
    with caplog.at_level(logging.INFO, logger="okxcore.bots"):
        assert api_key(live) == secret["api_key"]
        assert live.current.region == "www"
    [error] = caplog.records
    assert error.levelno == logging.ERROR
    assert "now holds a key for region 'eea'" in error.getMessage()
    assert "next cold start" in error.getMessage()
    clock.now += REFRESH_S - 1
    api_key(live)
    assert len(reads) == 1  # asked again only after a whole interval


def test_a_key_given_as_an_object_is_never_read_again(secret) -> None:
    first = load_okx_key(NAME)
    clock = Clock()
    live = LiveKey(first, secret_name="", load=None, refresh_s=REFRESH_S, redact=Redactor([]), clock=clock)
    rotate_to(new_key_json())
    clock.now += 10 * REFRESH_S
    assert api_key(live) == secret["api_key"]


@pytest.mark.parametrize("value", ["0", "601", "soon"])
def test_a_refresh_interval_outside_1_to_600_seconds_names_the_variable(value) -> None:
    with pytest.raises(InvalidInputError, match="OKX_KEY_REFRESH_S") as raised:
        BotSettings.from_environ({"OKX_KEY_REFRESH_S": value})
    assert value not in str(raised.value) or value == "0"  # the variable is named, its value is not echoed


def test_the_refresh_interval_defaults_to_two_minutes() -> None:
    assert BotSettings.from_environ({}).key_refresh_s == 120.0
    assert BotSettings.from_environ({"OKX_KEY_REFRESH_S": "60"}).key_refresh_s == 60.0
