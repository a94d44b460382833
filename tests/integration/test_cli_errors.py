"""Every `okx-shield` subcommand given bad input ends in one line on stderr and a documented exit code: never a
traceback (docs/local.md, "The command line's errors and exit codes"). In-process, so that an exception escaping
`main` fails the test; the Ctrl-C case runs the demo as a program."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from okxcli.exits import EXIT_INPUT, EXIT_INTERRUPTED
from okxcli.main import main

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    made = {
        "broken.json": '{"plan_id": "x", ',
        "list.json": "[1, 2]",
        "seed-fields.json": json.dumps({"keys": [{"label": "no credentials"}]}),
        "shield.json": json.dumps({"url": "https://user:pw@127.0.0.1:9", "expected_ips": ["127.0.0.2"]}),
    }
    for name, text in made.items():
        (tmp_path / name).write_text(text)
    return {name: tmp_path / name for name in made} | {"missing.json": tmp_path / "missing.json"}


@pytest.fixture
def port_in_use():
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


@pytest.fixture
def no_aws_setup(monkeypatch, tmp_path):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


@pytest.fixture
def empty_shell(monkeypatch):
    for name in ("SHIELD_SECRET_NAME", "REPORT_TOPIC_ARN", "STATE_TABLE_NAME"):
        monkeypatch.delenv(name, raising=False)


def one_line_error(capsys, code: int, expected: int, words: str) -> None:
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "Traceback" not in text and "UserWarning" not in text, text
    assert code == expected, text
    last = captured.err.strip().splitlines()[-1]
    assert last.startswith("error: ") and words in last, last


# (argv with {file} placeholders, exit code, words of the last line)
CASES = {
    "call-path-without-slash": (["call", "GET", "api/v5/public/time", "--public", "--shield-file", "{shield.json}"],
                                EXIT_INPUT, "field 'PATH': must start with /api/v5/"),
    "call-body-not-json": (["call", "POST", "/api/v5/trade/order", "--public", "--shield-file", "{shield.json}",
                            "--body", "{"], EXIT_INPUT, "field '--body': is not valid JSON"),
    "call-missing-key-file": (["call", "GET", "/api/v5/account/config", "--key-file", "{missing.json}",
                               "--shield-file", "{shield.json}"], EXIT_INPUT, "missing.json"),
    "sim-seed-not-json": (["sim", "--seed", "{broken.json}"], EXIT_INPUT, "is not valid JSON: "),
    "sim-seed-wrong-fields": (["sim", "--seed", "{seed-fields.json}"], EXIT_INPUT,
                              "field 'keys[0].api_key': is missing"),
    "sim-seed-missing": (["sim", "--seed", "{missing.json}"], EXIT_INPUT, "missing.json: no such file"),
    "sim-port-in-use": (["sim", "--port", "{port}", "--out", "{out}"], EXIT_INPUT, "field '--port': {port} is in use"),
    "invoke-event-missing": (["invoke", "probe", "--event", "{missing.json}"], EXIT_INPUT, "no such file"),
    "invoke-event-not-json": (["invoke", "trade", "--event", "{broken.json}"], EXIT_INPUT,
                              "is not valid JSON: Expecting property name enclosed in double quotes at line 1"),
    "invoke-event-not-object": (["invoke", "audit", "--event", "{list.json}"], EXIT_INPUT, "is not a JSON object"),
    "invoke-real-shell-unset": (["invoke", "probe", "--real", "--event", str(EVENTS / "probe.json")], EXIT_INPUT,
                                "field 'SHIELD_SECRET_NAME': is missing; field 'REPORT_TOPIC_ARN': is missing; "
                                "field 'STATE_TABLE_NAME': is missing"),
    "invoke-shards-real": (["invoke", "audit", "--real", "--shards", "2", "--event", str(EVENTS / "audit.json")],
                           EXIT_INPUT, "--shards"),
    "keys-real-shell-unset": (["keys", "bind-ips", "--secret", "s", "--real"], EXIT_INPUT,
                              "this shell's environment (okx-shield keys --real)"),
    "orders-cancel-without-plan": (["orders", "--key-secret", "s", "--cancel-expired"], EXIT_INPUT,
                                   "field '--plan': is missing"),
    "call-no-aws-region": (["call", "GET", "/api/v5/public/time", "--public", "--shield-secret", "okx-shield/shield"],
                           EXIT_INPUT, "no AWS region is configured"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_to_each_subcommand_is_one_line_and_exit_2(
    case, files, port_in_use, no_aws_setup, empty_shell, capsys
):
    argv, expected, words = CASES[case]
    fill = {f"{{{name}}}": str(path) for name, path in files.items()}
    fill |= {"{port}": str(port_in_use), "{out}": str(files["broken.json"].parent / "sim-out")}
    argv = [fill.get(arg, arg) for arg in argv]
    one_line_error(capsys, main(argv), expected, words.replace("{port}", str(port_in_use)))


@pytest.mark.parametrize("command", [["keys", "rotate"], ["keys", "bind-ips"]])
def test_a_secret_that_does_not_exist_is_the_same_input_error_for_every_keys_command(command, capsys):
    code = main([*command, "--secret", "okx-shield/keys/nosuch"])  # the local stack, whose fleet has no such key
    one_line_error(capsys, code, EXIT_INPUT, "okx-shield/keys/nosuch: field '(whole secret)': does not exist")


def test_an_edited_event_stops_the_demo_before_it_starts_naming_the_file(tmp_path, monkeypatch, capsys):
    events = tmp_path / "events"
    events.mkdir()
    for path in EVENTS.glob("*.json"):
        (events / path.name).write_text(path.read_text())
    (events / "audit.json").write_text('{"key_secret_prefix": "okx-shield/keys/",')  # edited into invalid JSON
    monkeypatch.setattr("okxcli.demo.run.EVENTS", events)
    code = main(["demo"])
    one_line_error(capsys, code, EXIT_INPUT, "audit.json is not valid JSON")
    assert "invoking" not in capsys.readouterr().out  # nothing ran half way


def test_an_unknown_command_is_argparses_usage_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["audit"])
    assert exited.value.code == EXIT_INPUT
    assert "Traceback" not in capsys.readouterr().err


def _as_a_foreground_job() -> None:
    """Ctrl-C as a terminal delivers it: a suite started in the background (`make test &`, a CI runner) has SIGINT
    ignored, its children inherit that, and Python then never raises KeyboardInterrupt (the demo ran to its end)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _demo_at_its_first_invocation() -> tuple[subprocess.Popen[str], list[str]]:
    """The demo running as a program, in its own process group as a shell runs it, once it invokes a function."""
    demo = subprocess.Popen(
        [sys.executable, "-m", "okxcli", "demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=_as_a_foreground_job,
    )
    assert demo.stdout is not None
    deadline = time.monotonic() + 120
    seen: list[str] = []
    while time.monotonic() < deadline:
        line = demo.stdout.readline()
        seen.append(line)
        if not line or ">>> invoking" in line:
            break
    assert ">>> invoking" in seen[-1], f"the demo ended before its first invocation:\n{''.join(seen)}"
    return demo, seen


@pytest.mark.e2e
@pytest.mark.parametrize("presses", [1, 2], ids=["once", "twice"])
def test_ctrl_c_during_the_demo_stops_everything_and_ends_in_one_line(presses):
    # Given the demo running as a program
    demo, seen = _demo_at_its_first_invocation()
    # When Ctrl-C reaches the whole group (the demo and the proxy programs it started), and maybe again once the
    # demo has said it stopped, while the process ends
    os.killpg(demo.pid, signal.SIGINT)
    assert demo.stderr is not None
    lines = [demo.stderr.readline()]
    if presses == 2:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(demo.pid, signal.SIGINT)
    out, rest = demo.communicate(timeout=60)
    err = "".join(lines) + rest
    # Then it ends in one line and exit 130, with no traceback
    assert demo.returncode == EXIT_INTERRUPTED, f"stderr: {err}\nstdout: {''.join(seen) + out}"
    assert "Traceback" not in out + err
    assert err.strip().splitlines()[-1] == "error: okx-shield demo: interrupted; everything it started was stopped"
