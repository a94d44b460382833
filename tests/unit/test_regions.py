"""50119: the key is tried at the other regions' hosts, and the error says which knows it, or that none does."""

from __future__ import annotations

import pytest

from okxcore.errors import (
    InvalidSignatureError,
    KeyGoneError,
    KeyInOtherRegionError,
    OkxTransportError,
    error_for,
)
from okxcore.regions import locate_key


def answers(by_region: dict[str, Exception | None]):
    asked: list[str] = []

    def ask(region: str) -> object:
        asked.append(region)
        outcome = by_region[region]
        if outcome is not None:
            raise outcome
        return {"uid": "1"}

    return ask, asked


def gone(code: str = "50119") -> KeyGoneError:
    error = error_for(code, "API key doesn't exist", path="/api/v5/account/config")
    assert isinstance(error, KeyGoneError)
    return error


KNOWN_THERE = [None, error_for("50110", "Your IP 1.2.3.4 is not included"), InvalidSignatureError("50113", "x")]


@pytest.mark.parametrize("refusal", KNOWN_THERE)
def test_a_host_that_knows_the_key_is_named_with_the_setting_to_change(refusal):
    ask, asked = answers({"eea": refusal, "us": gone()})
    located = locate_key(gone(), "www", ask)
    assert isinstance(located, KeyInOtherRegionError)
    assert (located.region, located.host) == ("eea", "eea.okx.com")
    assert located.describe() == (
        "OKX error 50119 at www.okx.com: this key belongs to eea.okx.com. Fix: Set `region` to `eea` in the key's "
        "secret (it names the OKX host the key lives on)."
    )
    assert asked == ["eea"]  # it stops at the host that knows the key


def test_no_host_knowing_the_key_says_it_was_deleted():
    ask, asked = answers({"www": gone(), "us": gone()})
    located = locate_key(gone(), "eea", ask)
    assert isinstance(located, KeyGoneError) and not located.wrong_region_possible
    assert located.regions_asked == ("eea.okx.com", "www.okx.com", "us.okx.com")
    assert "no OKX region knows this key" in located.message and "deleted or revoked" in located.hint
    assert asked == ["www", "us"]


def test_a_host_that_could_not_be_asked_leaves_the_wrong_region_possible():
    ask, _ = answers({"eea": OkxTransportError("reset"), "us": gone()})
    located = locate_key(gone(), "www", ask)
    assert isinstance(located, KeyGoneError) and located.wrong_region_possible and not located.regions_asked


def test_50111_is_not_a_region_question():
    ask, asked = answers({})
    assert locate_key(gone("50111"), "www", ask).code == "50111"
    assert asked == []
