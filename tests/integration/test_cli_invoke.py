"""`okx-shield invoke` keeps the event's scheduled_time, as a deployed function gets it; `--now` is the opt-in."""

from __future__ import annotations

import json

import pytest

from okxcli.main import main
from okxlocal.template import ROOT

DCA = str(ROOT / "events" / "trade-dca.json")


def invoke(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict, str]:
    code = main(["invoke", "trade", "--event", DCA, *args])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def test_the_event_keeps_its_time_and_an_old_slot_is_skipped_in_words(capsys):
    code, result, err = invoke(capsys)
    assert code == 0
    assert result["status"] == "TOO_LATE"
    assert result["slot"].startswith("2026-01-05T09:00:00")  # the file's slot, not "now"
    text = " ".join(err.split())
    assert "after its slot (2026-01-05T09:00:00.000Z)" in text and "okx-shield invoke --now" in text


def test_now_gives_the_event_a_fresh_slot_that_trades(capsys):
    code, result, _err = invoke(capsys, "--now")
    assert code == 0
    assert result["status"] == "DONE"
    assert not result["slot"].startswith("2026-01-05T09:00:00")
