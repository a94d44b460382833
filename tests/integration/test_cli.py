"""`okx-shield call` and `okx-shield sim`, run as a user runs them: as processes."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import requests

from okxlocal.proxies import ProxyKind

pytestmark = pytest.mark.e2e  # okx-shield as a program, in subprocesses

CLI = [sys.executable, "-m", "okxcli"]


def write_secrets(tmp_path, key, proxy):
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps({"api_key": key.api_key, "api_secret": key.secret, "passphrase": key.passphrase}))
    shield_file = tmp_path / "shield.json"
    shield_file.write_text(json.dumps({"url": proxy.url(), "expected_ips": ["127.0.0.2"]}))
    return key_file, shield_file


def run_call(*args, key_file, shield_file, sim, ca_path) -> subprocess.CompletedProcess:
    """`okx-shield call ARGS`, pointed at the simulator and trusting the local CA for OKX and the proxy."""
    return subprocess.run(
        [
            *CLI,
            "call",
            *args,
            "--key-file",
            str(key_file),
            "--shield-file",
            str(shield_file),
            "--base-url",
            sim.url,
            "--ca-bundle",
            str(ca_path),
            "--proxy-ca-bundle",
            str(ca_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_call_prints_the_answer_through_shield(tmp_path, proxy_stack, sim, ca_path, trade_key):
    key_file, shield_file = write_secrets(tmp_path, trade_key, proxy_stack.get(ProxyKind.SOCKS5_TLS))
    done = run_call(
        "GET", "/api/v5/account/config", key_file=key_file, shield_file=shield_file, sim=sim, ca_path=ca_path
    )
    assert done.returncode == 0, done.stderr
    [config] = json.loads(done.stdout)
    assert config["ip"] == "127.0.0.2"
    assert sim.stats.requests_from("127.0.0.2") == 1
    assert trade_key.secret not in done.stdout + done.stderr


def test_call_prints_a_typed_error_in_words(tmp_path, proxy_stack, sim, ca_path, trade_key):
    trade_key_copy = trade_key.model_copy(update={"passphrase": "wrong-passphrase-123"})
    key_file, shield_file = write_secrets(tmp_path, trade_key_copy, proxy_stack.get(ProxyKind.HTTPS))
    done = run_call(
        "GET",
        "/api/v5/account/balance",
        "--param",
        "ccy=BTC,USDT",
        key_file=key_file,
        shield_file=shield_file,
        sim=sim,
        ca_path=ca_path,
    )
    assert done.returncode == 3
    assert "50105" in done.stderr
    assert "passphrase" in done.stderr
    assert "wrong-passphrase-123" not in done.stderr


def test_call_names_each_failed_items_code_and_its_fix(tmp_path, proxy_stack, sim, ca_path, trade_key):
    # Given an order the account cannot pay for
    key_file, shield_file = write_secrets(tmp_path, trade_key, proxy_stack.get(ProxyKind.HTTPS))
    order = {"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "market", "sz": "99000000"}
    # When it is sent with `okx-shield call`
    done = run_call(
        "POST",
        "/api/v5/trade/order",
        "--body",
        json.dumps(order),
        key_file=key_file,
        shield_file=shield_file,
        sim=sim,
        ca_path=ca_path,
    )
    # Then the one error line names the item's sCode and OKX's words, and the fix from the error table
    assert done.returncode == 3
    [line] = done.stderr.strip().splitlines()
    assert "OKX error 1 on /api/v5/trade/order" in line  # what it said, and all it said, before
    assert "item 0: sCode 51008" in line and "Fix: sCode 51008: Not enough balance for this order" in line


def test_call_refuses_a_socks5_url_naming_the_fix(tmp_path, sim, ca_path, trade_key):
    shield_file = tmp_path / "shield.json"
    shield_file.write_text(json.dumps({"url": "socks5://u:pw-xyz@127.0.0.1:1080"}))
    done = subprocess.run(
        [
            *CLI,
            "call",
            "GET",
            "/api/v5/public/time",
            "--public",
            "--shield-file",
            str(shield_file),
            "--base-url",
            sim.url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "socks5h://" in done.stderr
    assert "field 'url'" in done.stderr
    assert "pw-xyz" not in done.stderr
    assert sim.stats.total_requests() == 0


def test_sim_runs_standalone_and_prints_url_and_ca(tmp_path):
    process = subprocess.Popen([*CLI, "sim", "--out", str(tmp_path / "sim")], stdout=subprocess.PIPE, text=True)
    try:
        lines = [process.stdout.readline().strip() for _ in range(2)]
        url = lines[0].removeprefix("url: ")
        ca = lines[1].removeprefix("ca: ")
        answer = requests.get(f"{url}/api/v5/public/time", verify=ca, timeout=5).json()
        assert answer["code"] == "0"
        assert abs(int(answer["data"][0]["ts"]) - time.time() * 1000) < 5000
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert process.returncode is not None


# --- input errors: exit 2, the file and the problem named, no traceback -------------------------------


def _call_in_process(capsys, *args: str) -> tuple[int, str]:
    from okxcli.main import main

    code = main(["call", "GET", "/api/v5/account/config", *args])
    return code, capsys.readouterr().err


def test_a_non_utf8_key_file_is_exit_2_naming_the_file(tmp_path, capsys):
    key_file, shield_file = tmp_path / "key.json", tmp_path / "shield.json"
    key_file.write_bytes(b'{"api_key": "\xff\xfe"}')
    shield_file.write_text(json.dumps({"url": "https://u:p@127.0.0.1:9294"}))
    code, err = _call_in_process(capsys, "--key-file", str(key_file), "--shield-file", str(shield_file))
    assert code == 2
    assert str(key_file) in err and "not UTF-8" in err and "Traceback" not in err


def test_an_unreadable_or_missing_secret_file_is_exit_2_naming_the_file(tmp_path, capsys):
    shield_file = tmp_path / "shield.json"
    shield_file.write_text(json.dumps({"url": "https://u:p@127.0.0.1:9294"}))
    for key_file in (tmp_path / "missing.json", tmp_path):  # a file that is not there, and a directory
        code, err = _call_in_process(capsys, "--key-file", str(key_file), "--shield-file", str(shield_file))
        assert code == 2, err
        assert str(key_file) in err and "cannot be read" in err


def test_a_missing_ca_file_is_exit_2_naming_the_file(tmp_path, capsys):
    shield_file = tmp_path / "shield.json"
    shield_file.write_text(json.dumps({"url": "https://u:p@127.0.0.1:9294"}))
    missing = tmp_path / "nope" / "ca.pem"
    for flag in ("--ca-bundle", "--proxy-ca-bundle"):
        code, err = _call_in_process(capsys, "--public", "--shield-file", str(shield_file), flag, str(missing))
        assert code == 2, err
        assert str(missing) in err and "does not exist" in err and flag in err
        assert "unexpected" not in err


def test_a_seed_key_and_a_key_file_spell_their_fields_alike(tmp_path, capsys):
    """A key copied from the example seed into a key file is read by `call --key-file` as it is written."""
    from okxcore.credentials import parse_okx_key_secret
    from okxlocal.sim.standalone import EXAMPLE_SEED

    [first, *_] = json.loads(EXAMPLE_SEED.read_text())["keys"]
    copied = {name: first[name] for name in ("api_key", "api_secret", "passphrase")}
    key = parse_okx_key_secret("key.json", json.dumps(copied))
    read = (key.api_key, key.api_secret, key.passphrase)
    assert [value.get_secret_value() for value in read] == [first["api_key"], first["api_secret"], first["passphrase"]]
