"""The rotation's derivations: passphrases meet OKX's rules, labels tie a key to (secret, token), and the new
key's permissions and IPs follow the old key, the secret's allowance and Shield."""

from __future__ import annotations

import string

import pytest

from okxcore.errors import InvalidInputError
from okxcore.keys.rotation.model import (
    PASSPHRASE_SPECIALS,
    CleanupEvent,
    RotationStepEvent,
    bind_list,
    new_passphrase,
    new_permissions,
    rotation_label,
    secret_label_prefix,
)
from okxcore.keys.rotation.run import parse_rotate_event
from okxcore.slot import Slot


def test_passphrases_meet_okx_rules_and_never_repeat():
    seen = set()
    for _ in range(200):
        phrase = new_passphrase()
        assert 8 <= len(phrase) <= 32
        for group in (string.ascii_uppercase, string.ascii_lowercase, string.digits, PASSPHRASE_SPECIALS):
            assert any(c in group for c in phrase)
        seen.add(phrase)
    assert len(seen) == 200
    with pytest.raises(ValueError, match="8 to 32"):
        new_passphrase(40)


def test_a_label_is_the_same_for_one_secret_and_token_and_differs_otherwise():
    label = rotation_label("okx-shield/keys/a", "t1" * 18)
    assert label == rotation_label("okx-shield/keys/a", "t1" * 18)
    assert label != rotation_label("okx-shield/keys/a", "t2" * 18)
    assert label != rotation_label("okx-shield/keys/b", "t1" * 18)
    assert label.startswith(secret_label_prefix("okx-shield/keys/a"))
    assert len(label) <= 32 and set(label) <= set(string.ascii_lowercase + string.digits + "-")


@pytest.mark.parametrize(
    ("old", "allowed", "new"),
    [
        ({"read_only", "trade"}, {"read_only", "trade"}, {"read_only", "trade"}),
        ({"read_only", "trade"}, {"read_only"}, {"read_only"}),
        ({"read_only", "trade", "withdraw"}, {"read_only", "trade", "withdraw"}, {"read_only", "trade"}),
        ({"read_only"}, {"read_only", "trade"}, {"read_only"}),  # never more than the old key had
    ],
)
def test_new_permissions_are_the_old_ones_within_the_allowance_and_never_withdraw(old, allowed, new):
    assert new_permissions(old, allowed) == new


def test_both_shield_ips_come_first_the_users_own_stay_and_twenty_is_the_limit():
    assert bind_list(["1.1.1.1", "2.2.2.2"], ["2.2.2.2", "9.9.9.9"]) == ["1.1.1.1", "2.2.2.2", "9.9.9.9"]
    many = [f"10.0.0.{i}" for i in range(30)]
    bound = bind_list(["1.1.1.1", "2.2.2.2"], many)
    assert len(bound) == 20 and bound[:2] == ["1.1.1.1", "2.2.2.2"]


def test_events_are_a_secrets_manager_step_or_the_cleanup_and_anything_else_names_the_field():
    step = parse_rotate_event({"SecretId": "s", "ClientRequestToken": "a" * 36, "Step": "testSecret", "New": 1})
    assert isinstance(step, RotationStepEvent) and step.step == "testSecret"
    cleanup = parse_rotate_event({"cleanup": True, "scheduled_time": "2026-11-23T13:00:00+01:00"})
    assert isinstance(cleanup, CleanupEvent) and cleanup.slot == Slot.parse("2026-11-23T12:00:00Z")
    with pytest.raises(InvalidInputError) as caught:
        parse_rotate_event({"cleanup": True, "scheduled_time": "x"})
    assert caught.value.field == "scheduled_time"
    with pytest.raises(InvalidInputError, match="Step"):
        parse_rotate_event({"SecretId": "s", "ClientRequestToken": "a" * 36, "Step": "dropSecret"})


@pytest.mark.parametrize("value", ["no", "false", 0, 1, "1"])
def test_the_cleanup_events_dry_run_is_strict_and_the_error_names_it(value):
    with pytest.raises(InvalidInputError) as caught:
        parse_rotate_event({"cleanup": True, "dry_run": value})
    assert "dry_run" in str(caught.value)
