"""Bots written for plain ccxt or python-okx, built by okxcore.bots, against the local stack.

Each bot runs on the .venv-clients interpreter with src/ on its path, as a bot function with the okx-shield layer
does, in an environment with hostile proxy and CA variables. What is asserted is what the simulator, the proxies,
a trap listener and DynamoDB saw: the calls and orders, from which peer, how many tunnels, the key's last use.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import trustme

from okxcore.aws.state import DynamoStateStore
from okxlocal.proxies import ProxyKind, StalledListener, start_proxy
from okxlocal.seeds import new_key, seed_with
from okxlocal.sim import SimKey
from okxlocal.stack import TABLE_NAME, LocalStack, key_secret_body, key_secret_name

pytestmark = pytest.mark.clients

ROOT = Path(__file__).resolve().parents[2]
CLIENTS_PYTHON = ROOT / ".venv-clients" / "bin" / "python"
DRIVER = Path(__file__).with_name("drive_bots.py")
EGRESS = "127.0.0.2"
LIBRARIES = ["ccxt", "ccxt_async", "python_okx"]
HANDSHAKE_TIMEOUT_S = 2.0
# The library's own exception class each failure must arrive as (any class in the raised one's MRO).
PROXY_DOWN = {
    "ccxt": "ccxt.base.errors.ExchangeNotAvailable",
    "ccxt_async": "ccxt.base.errors.ExchangeNotAvailable",
    "python_okx": "httpx.ProxyError",
}
PROXY_TIMEOUT = {
    "ccxt": "ccxt.base.errors.RequestTimeout",
    "ccxt_async": "ccxt.base.errors.RequestTimeout",
    "python_okx": "httpx.ProxyError",
}
PAUSED = {
    "ccxt": "ccxt.base.errors.OperationRejected",
    "ccxt_async": "ccxt.base.errors.OperationRejected",
    "python_okx": "okx.exceptions.OkxRequestException",
}


@pytest.fixture
def bot_key() -> SimKey:
    return new_key("1001", "bot-main", ips=[EGRESS], created_days_ago=10)


@pytest.fixture
def trap() -> Iterator[StalledListener]:
    """Where the hostile proxy variables point: any connection it accepts is a bypass."""
    with StalledListener() as listener:
        yield listener


@pytest.fixture
def hostile_env(tmp_path: Path, trap: StalledListener) -> dict[str, str]:
    rogue_ca = tmp_path / "rogue-ca.pem"
    trustme.CA(organization_name="not okx").cert_pem.write_to_path(str(rogue_ca))
    return {
        "HTTPS_PROXY": trap.url("http"),
        "HTTP_PROXY": trap.url("http"),
        "ALL_PROXY": trap.url("socks5h"),
        "https_proxy": trap.url("http"),
        "all_proxy": trap.url("socks5h"),
        # boto3 honours these variables too: the moto server (127.0.0.1) is exempt, as the AWS endpoints would have to
        # be in a function that sets them. "localhost" is the simulator's name: a library trusting NO_PROXY would
        # call it directly, which the simulator would see.
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "SSL_CERT_FILE": str(rogue_ca),
        "REQUESTS_CA_BUNDLE": str(rogue_ca),
        "CURL_CA_BUNDLE": str(rogue_ca),
    }


BotRun = Callable[..., dict[str, Any]]


@pytest.fixture
def bot_stack(
    local_stack: Callable[..., LocalStack], bot_key: SimKey, hostile_env: dict[str, str], tmp_path: Path
) -> Iterator[Any]:
    """start(kind) -> (stack, run): the local stack with moto also served over HTTP, and a runner of the driver."""
    from moto.server import ThreadedMotoServer

    servers: list[ThreadedMotoServer] = []
    runs = itertools.count()

    def start(kind: ProxyKind) -> tuple[LocalStack, BotRun]:
        stack = local_stack(seed_with([bot_key]), proxy_kind=kind)
        stack.sim.state.rate_limits_enabled = False  # bots call in bursts (20 concurrent); limits are not tested here
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        servers.append(server)
        host, port = server.get_host_and_port()
        env = {
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(ROOT / "src"),
            **stack.env,
            "OKX_KEY_SECRET_NAME": key_secret_name(bot_key),
            "SHIELD_HANDSHAKE_TIMEOUT_S": str(HANDSHAKE_TIMEOUT_S),
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
            **{n: os.environ[n] for n in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")},
            "PYDANTIC_DISABLE_PLUGINS": "__all__",
            **hostile_env,
        }

        def run(
            library: str,
            scenario: str,
            *,
            extra_env: dict[str, str] | None = None,
            prompts: dict[str, Callable[[], None]] | None = None,
            **job: Any,
        ) -> dict[str, Any]:
            """Run the driver; each `PROMPT <step>` it prints runs prompts[step] here before it goes on."""
            assert CLIENTS_PYTHON.is_file(), "run `scripts/bootstrap.sh --clients` (make test does)"
            stderr_file = tmp_path / f"bot-{next(runs)}.stderr"
            with stderr_file.open("w") as stderr, subprocess.Popen(
                [str(CLIENTS_PYTHON), str(DRIVER)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,  # a file: the libraries' debug logs would fill a pipe nobody reads midway
                text=True,
                env={**env, **(extra_env or {})},
            ) as driver:
                assert driver.stdin is not None and driver.stdout is not None
                driver.stdin.write(json.dumps({"library": library, "scenario": scenario, **job}) + "\n")
                driver.stdin.flush()
                stdout: list[str] = []
                for line in driver.stdout:
                    stdout.append(line)
                    if line.startswith("PROMPT "):
                        (prompts or {})[line.removeprefix("PROMPT ").strip()]()
                        driver.stdin.write("done\n")
                        driver.stdin.flush()
                returncode = driver.wait(timeout=90)
            out, err = "".join(stdout), stderr_file.read_text()
            secrets = (bot_key.secret, bot_key.passphrase, bot_key.api_key, stack.proxy.password)
            leaked = [n for n, s in zip(("secret", "passphrase", "api key", "proxy password"), secrets, strict=True)
                      if s in out or s in err]
            assert not leaked, f"{leaked} in the bot's output"
            assert returncode == 0, err[-3000:]
            line = next(row for row in out.splitlines() if row.startswith("RESULT "))
            answer: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
            assert answer["ok"], answer
            return {**answer["result"], "_stdout": out, "_stderr": err}

        return stack, run

    yield start
    for server in servers:
        server.stop()


def peers_seen(stack: LocalStack) -> set[str]:
    return {record.peer_ip for record in stack.sim.stats.requests}


@pytest.mark.parametrize("kind", list(ProxyKind), ids=[k.value for k in ProxyKind])
@pytest.mark.parametrize("library", LIBRARIES)
def test_an_unchanged_bot_trades_through_each_shield_form(bot_stack, trap, bot_key, kind, library) -> None:
    stack, run = bot_stack(kind)

    result = run(library, "trade")

    # Then every call reached the simulator from the proxy's egress IP, none directly, none through the trap
    assert peers_seen(stack) == {EGRESS}
    assert stack.sim.stats.connections_from("127.0.0.1") == 0
    assert trap.accepted == 0
    booked = stack.sim.orders(bot_key.uid)
    assert [(o["clOrdId"], o["state"]) for o in booked] == [(booked[0]["clOrdId"], "canceled")]
    assert "USDT" in str(result["balance"]) and float(result["ticker"]) > 0
    assert result["tunnels_for_20_calls"] == 0  # 20 more calls on the warm tunnel(s)
    if library == "ccxt_async":
        assert result["concurrent_ok"] == 20  # 20 concurrent calls (asyncio.gather), a tunnel per connection
    paths = {(r.method, r.path.split("?")[0]) for r in stack.sim.stats.requests}
    assert {("GET", "/api/v5/account/balance"), ("GET", "/api/v5/market/ticker")} <= paths
    assert any(m == "POST" and "order" in p for m, p in paths) and ("POST", "/api/v5/trade/cancel-order") in paths
    # And the key's use is in the state table, so the next audit sees the bot
    assert DynamoStateStore(TABLE_NAME).last_key_use(key_secret_name(bot_key)) is not None
    # and the bot's log says once that the proxy variables route boto3's calls, not okx-shield's
    told = "okx-shield: HTTPS_PROXY, https_proxy, ALL_PROXY, all_proxy are set in the function's environment."
    assert result["_stderr"].count(told) == 1


@pytest.mark.parametrize("library", LIBRARIES)
def test_a_failing_proxy_is_the_librarys_own_exception_within_the_timeout(bot_stack, tmp_path, library) -> None:
    stack, run = bot_stack(ProxyKind.SOCKS5)
    dead = start_proxy(ProxyKind.SOCKS5_TLS, tmp_path / "dead", stack.pki)
    dead_url = dead.url()
    dead.stop()  # the proxy killed: its port refuses connections
    with StalledListener() as stalled:
        urls = {
            "killed": dead_url,
            "stalled": stalled.url("socks5h+tls"),
            "wrong_password": stack.proxy.url(password="wrong-password"),
        }
        result = run(library, "failures", shield_urls=urls)

    for case, expected_class in (
        ("killed", PROXY_DOWN[library]),
        ("stalled", PROXY_TIMEOUT[library]),
        ("wrong_password", PROXY_DOWN[library]),
    ):
        outcome = result[case]
        assert not outcome["ok"], case
        assert expected_class in outcome["classes"], (case, outcome)
        assert "okx-shield" in outcome["message"] and "Fix:" in outcome["message"], (case, outcome)
        assert outcome["seconds"] < HANDSHAKE_TIMEOUT_S + 3, (case, outcome)
    assert "wrong proxy username or password" in result["wrong_password"]["message"]
    assert stack.sim.stats.total_connections() == 0  # nothing reached OKX, directly or otherwise


@pytest.mark.parametrize("library", LIBRARIES)
def test_every_library_setting_that_would_bypass_the_tunnel_is_refused(bot_stack, trap, library) -> None:
    stack, run = bot_stack(ProxyKind.SOCKS5)

    result = run(library, "bypasses", trap_url=trap.url("socks5h"))
    result.pop("_stderr")
    result.pop("_stdout")

    assert result and all(not outcome["ok"] for outcome in result.values()), result
    expected = "okx.exceptions.OkxRequestException" if library == "python_okx" else "ccxt.base.errors.ExchangeError"
    for case, outcome in result.items():
        assert expected in outcome["classes"] or "okx.exceptions.OkxParamsException" in outcome["classes"], case
        assert "okx-shield" in outcome["message"], (case, outcome)
    assert trap.accepted == 0
    assert stack.sim.stats.total_connections() == 0


@pytest.mark.parametrize("library", LIBRARIES)
def test_while_trading_is_paused_orders_are_refused_before_leaving_and_reads_pass(bot_stack, bot_key, library) -> None:
    stack, run = bot_stack(ProxyKind.HTTPS)
    DynamoStateStore(TABLE_NAME).pause_trading("egress 198.51.100.7 is not a Shield IP", set_by="probe")

    result = run(library, "paused")

    assert result["read"]["ok"], result["read"]
    order = result["order"]
    assert not order["ok"] and PAUSED[library] in order["classes"], order
    assert "trading is paused: egress 198.51.100.7" in order["message"] and "Fix:" in order["message"]
    assert not [r for r in stack.sim.stats.requests if r.method == "POST"]
    assert stack.sim.orders(bot_key.uid) == []


@pytest.mark.parametrize("library", LIBRARIES)
def test_a_warm_client_signs_with_the_rotated_key_once_the_old_one_is_deleted(bot_stack, bot_key, library) -> None:
    # Given a bot's client, warm, that has signed with its key
    stack, run = bot_stack(ProxyKind.SOCKS5)
    rotated = new_key("1001", "bot-main", ips=[EGRESS], created_days_ago=0)
    seen_before: list[int] = []

    def rotate() -> None:
        seen_before.append(len(stack.sim.stats.requests))
        # When a rotation ends: the secret's AWSCURRENT holds a new key, and after the grace period the old key is
        # deleted at OKX (here within the client's refresh interval, to see the client take the new one)
        stack.sim.add_key(rotated)
        boto3.client("secretsmanager").put_secret_value(
            SecretId=key_secret_name(bot_key), SecretString=json.dumps(key_secret_body(rotated))
        )
        stack.sim.delete_key(bot_key.api_key)

    result = run(library, "rotation", refresh_s=1, extra_env={"OKX_KEY_REFRESH_S": "1"}, prompts={"rotate": rotate})

    # Then the same client goes on working: its signed calls after the interval carry the new key, none the old
    assert result["before"] and result["after"] == result["before"]
    [cut] = seen_before
    before = [r for r in stack.sim.stats.requests[:cut] if r.api_key]
    after = [r for r in stack.sim.stats.requests[cut:] if r.api_key]
    assert {r.api_key for r in before} == {bot_key.api_key} and len(before) >= 2
    assert [r.api_key for r in after] == [rotated.api_key] * 2
    assert {r.code for r in before + after} == {"0"}  # no call was refused (50111) on the way
    assert peers_seen(stack) == {EGRESS}
    # and the new key's secrets are kept out of what the library printed, as the old key's are
    printed = result["_stdout"] + result["_stderr"]
    assert not [s for s in (rotated.secret, rotated.passphrase, rotated.api_key) if s in printed]
    assert "holds a new key (a rotation)" in result["_stderr"]


def test_the_bots_key_use_shows_in_the_next_audit(bot_stack, bot_key, lambda_context) -> None:
    from handlers.audit import handler

    _stack, run = bot_stack(ProxyKind.HTTPS)
    name = key_secret_name(bot_key)
    before = handler({"scheduled_time": "2026-01-15T06:00:00Z"}, lambda_context)
    [dormancy] = [f for f in before["findings"] if f["resource"] == name and f["check_id"] == "audit.dormancy"]
    assert "never used" in dormancy["message"]
    recorded_at = time.time()

    run("ccxt", "trade")
    after = handler({"scheduled_time": "2026-01-15T07:00:00Z"}, lambda_context)

    [dormancy] = [f for f in after["findings"] if f["resource"] == name and f["check_id"].startswith("audit.dormancy")]
    assert dormancy["status"] == "PASS" and "last used 0" in dormancy["message"], dormancy
    assert DynamoStateStore(TABLE_NAME).last_key_use(name) >= int(recorded_at * 1000) - 1000


def test_the_example_dca_bot_buys_once_per_scheduled_slot(bot_stack, bot_key) -> None:
    stack, run = bot_stack(ProxyKind.HTTPS)
    stack.sim.set_balance(bot_key.uid, "USDT", "1000")

    result = run("ccxt", "example", example_dir=str(ROOT / "examples" / "dca-bot"), slot="2026-01-15T09:00:00Z")

    # An event without the Scheduler's time is refused, naming the field, before anything reaches OKX
    refused = result["refused"]
    assert set(refused) == {"missing", "not a time"} | {f"DCA_QUOTE_AMOUNT={a}" for a in ("inf", "nan", "-1", "ten")}
    for case in ("missing", "not a time"):
        assert refused[case].startswith("event.scheduled_time must be an ISO 8601 instant"), refused[case]
        assert "nothing was ordered" in refused[case]
    # and so is a quote amount that is not a positive, finite number (checked at cold start)
    assert refused["DCA_QUOTE_AMOUNT=inf"].startswith("DCA_QUOTE_AMOUNT must be a positive number")
    first, again = result["first"], result["again"]
    assert first["placed_now"] and not again["placed_now"]  # the retried slot found its order
    assert first["orderId"] == again["orderId"] and first["clientOrderId"] == "dca20260115T090000Z"
    [order] = stack.sim.orders(bot_key.uid)
    assert (order["clOrdId"], order["ordType"], order["side"], order["state"]) == (
        "dca20260115T090000Z",
        "market",
        "buy",
        "filled",
    )
    assert peers_seen(stack) == {EGRESS}
