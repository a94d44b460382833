"""`okx-shield up` / `down`: a local stack that remembers, which every other command uses while it is up.

The commands run as a user runs them, each as its own program, against one background stack in a folder of the
test's own; what one command did (an order, a binding, a schedule) the next one sees."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from okxcore.credentials import parse_okx_key_secret, parse_shield_secret
from okxlocal.attached import STATE_DIR_VARIABLE, StackRecord, process_alive
from okxlocal.template import ROOT

pytestmark = pytest.mark.e2e

CLI = [sys.executable, "-m", "okxcli"]


def okx_shield(folder: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        cwd=ROOT,
        env={**os.environ, STATE_DIR_VARIABLE: str(folder)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("state")
    started = okx_shield(folder, "up", "--background")
    assert started.returncode == 0, started.stdout + started.stderr
    record = StackRecord.model_validate_json((folder / "stack.json").read_text())
    yield folder, record, started.stdout
    if process_alive(record.pid):  # a test that failed before `down`
        os.kill(record.pid, signal.SIGTERM)


def test_up_prints_ready_files_and_the_seeded_keys_whose_fields_are_the_secrets(up):
    folder, record, printed = up
    assert f"up (pid {record.pid}" in printed and record.okx_url in printed and record.moto_url in printed
    for key in record.keys:
        assert key.secret in printed
        body = json.loads((folder / key.file).read_text())
        parsed = parse_okx_key_secret(key.file, json.dumps(body))  # a key file `call --key-file` reads as is
        assert parsed.label == key.label
    _secret, endpoint = parse_shield_secret("shield.json", (folder / "shield.json").read_text())
    assert endpoint.port and str(endpoint.port) in record.shield_url
    assert oct((folder / "keys" / "bot-main.json").stat().st_mode & 0o777) == "0o600"


def test_each_command_sees_what_the_one_before_did(up):
    folder, record, _printed = up
    # an order placed by one program ...
    placed = okx_shield(folder, "invoke", "trade", "--plan", "plans/eth-weekly-bid.json")
    assert placed.returncode == 0, placed.stderr
    assert json.loads(placed.stdout)["status"] == "DONE"
    assert "SNS  Subject: [OK] okx-shield trade (local): 1 order(s) placed: LIVE eth-weekly-bid" in placed.stderr
    assert f"the local stack `okx-shield up` keeps: pid {record.pid}" in placed.stderr
    # ... is listed by the next
    listed = okx_shield(folder, "orders", "--key-secret", "okx-shield/keys/bot-main", "--plan", "eth-weekly-bid")
    assert listed.returncode == 0, listed.stderr
    assert "Open orders of plan eth-weekly-bid, key okx-shield/keys/bot-main: 1" in listed.stdout
    assert "OKX state live" in listed.stdout
    # schedules deployed by one are there for the next
    assert okx_shield(folder, "plans", "deploy").returncode == 0
    assert okx_shield(folder, "plans", "deploy", "--dry-run").stdout.count("unchanged") == 2
    # and `up` printed the report too, as a second subscriber of the topic
    deadline = time.monotonic() + 10
    subject = "SNS  Subject: [OK] okx-shield trade (local): 1 order(s) placed: LIVE eth-weekly-bid"
    while subject not in (folder / "up.log").read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert subject in (folder / "up.log").read_text()


def test_call_works_against_the_stack_without_a_proxy_started_by_hand(up):
    folder, record, _printed = up
    by_name = okx_shield(folder, "call", "GET", "/api/v5/account/config", "--key-secret", "okx-shield/keys/bot-dca")
    assert by_name.returncode == 0, by_name.stderr
    [config] = json.loads(by_name.stdout)
    assert (config["uid"], config["ip"]) == ("1002", "127.0.0.2,127.0.0.3")
    by_file = okx_shield(
        folder, "call", "GET", "/api/v5/account/config", "--key-file", str(folder / "keys/bot-dca.json")
    )
    assert by_file.returncode == 0 and json.loads(by_file.stdout) == [config]
    # the simulator saw both through the proxy only, from its egress IP (the key is bound to it)
    sim = okx_shield(folder, "sim")
    assert sim.stdout.splitlines()[:2] == [f"url: {record.okx_url}", f"ca: {record.ca_path}"]


def test_up_again_says_so_and_a_second_stack_or_a_local_rotation_is_refused_in_one_line(up):
    folder, record, _printed = up
    again = okx_shield(folder, "up", "--background")
    assert again.returncode == 0 and f"already up (pid {record.pid})" in again.stdout
    other = okx_shield(folder, "up", "--proxy", "socks5h")
    assert other.returncode == 2 and "okx-shield down" in other.stderr
    rotate = okx_shield(folder, "keys", "rotate", "--secret", "okx-shield/keys/expiring-bot")
    assert rotate.returncode == 2 and len(rotate.stderr.strip().splitlines()) == 1 and "--dry-run" in rotate.stderr
    assert "Traceback" not in other.stderr + rotate.stderr


def test_down_stops_everything_and_forgets_the_stacks_files(up):
    folder, record, _printed = up
    stopped = okx_shield(folder, "down")
    assert stopped.returncode == 0 and f"stopped (pid {record.pid})" in stopped.stdout
    assert not process_alive(record.pid)
    assert not (folder / "stack.json").exists() and not (folder / "keys").exists()  # stale files go with it
    assert "not up" in okx_shield(folder, "down").stdout


def _as_a_background_job() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # what a shell gives a `cmd &` job: Python then keeps it ignored


def test_up_in_the_foreground_stops_on_ctrl_c(tmp_path):
    process = subprocess.Popen(
        [*CLI, "up", "--proxy", "socks5h"],
        cwd=ROOT,
        env={**os.environ, STATE_DIR_VARIABLE: str(tmp_path), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=_as_a_background_job,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith(f"okx-shield local stack: up (pid {process.pid}"), first
        assert StackRecord.model_validate_json((tmp_path / "stack.json").read_text()).proxy == "socks5h"
        process.send_signal(signal.SIGINT)
        rest = process.communicate(timeout=30)[0]
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0 and "okx-shield local stack: stopped" in rest and "Traceback" not in rest
    assert not (tmp_path / "stack.json").exists()


def test_a_stack_that_cannot_start_is_one_line_naming_why(tmp_path):
    """No proxy program on PATH: exit 3, the missing program named, no traceback, no record left."""
    empty = tmp_path / "bin"
    empty.mkdir()
    done = subprocess.run(
        [*CLI, "up", "--proxy", "socks5h"],
        cwd=ROOT,
        env={**os.environ, STATE_DIR_VARIABLE: str(tmp_path / "state"), "PATH": str(empty)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "microsocks" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "state" / "stack.json").exists()
