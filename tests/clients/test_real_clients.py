"""ccxt and python-okx, unchanged, against the simulator: directly and through the SOCKS5 stand-in.

Each client runs in its own interpreter (.venv-clients, created by `scripts/bootstrap.sh --clients`, never
the product's environment) and does what its users do first. The assertions are on what the simulator
saw and booked: which endpoints were called from which peer, and the orders' final states.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from okxlocal.proxies import ProxyKind
from okxlocal.sim import OkxSimulator, SimKey

pytestmark = pytest.mark.clients

ROOT = Path(__file__).resolve().parents[2]
CLIENTS_PYTHON = ROOT / ".venv-clients" / "bin" / "python"
DRIVER = Path(__file__).with_name("drive_clients.py")
UID = "1001"  # the root conftest's trade_key

# What each client must have asked the simulator for (method, path without query).
CCXT_CALLS = {
    ("GET", "/api/v5/public/instruments"),
    ("GET", "/api/v5/asset/currencies"),
    ("GET", "/api/v5/account/balance"),
    ("GET", "/api/v5/asset/balances"),
    ("GET", "/api/v5/market/ticker"),
    ("POST", "/api/v5/trade/batch-orders"),
    ("GET", "/api/v5/trade/order"),
    ("GET", "/api/v5/trade/orders-pending"),
    ("POST", "/api/v5/trade/cancel-order"),
    ("GET", "/api/v5/trade/orders-history"),
    ("GET", "/api/v5/trade/fills-history"),
}
PYTHON_OKX_CALLS = {
    ("GET", "/api/v5/account/balance"),
    ("POST", "/api/v5/trade/order"),
    ("GET", "/api/v5/trade/order"),
    ("GET", "/api/v5/trade/orders-pending"),
    ("POST", "/api/v5/trade/cancel-order"),
}


def drive(client: str, sim: OkxSimulator, key: SimKey, ca_path: Path, proxy_url: str = "") -> dict[str, Any]:
    assert CLIENTS_PYTHON.is_file(), "run `scripts/bootstrap.sh --clients` (make test does) to create .venv-clients"
    job = {
        "client": client,
        "base_url": sim.url,
        "ca": str(ca_path),
        "key": {"api_key": key.api_key, "secret": key.secret, "passphrase": key.passphrase},
        "proxy_url": proxy_url,
    }
    done = subprocess.run(
        [str(CLIENTS_PYTHON), str(DRIVER)], input=json.dumps(job), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    answer: dict[str, Any] = json.loads(done.stdout)
    failed = [step for step in answer["steps"] if not step["ok"]]
    assert not failed, failed
    return {step["step"]: step["result"] for step in answer["steps"]}


def calls_seen(sim: OkxSimulator) -> dict[tuple[str, str], set[str]]:
    """(method, path) -> the peers the simulator saw it from; only calls OKX answered with code 0."""
    seen: dict[tuple[str, str], set[str]] = {}
    for record in sim.stats.requests:
        if record.code == "0":
            seen.setdefault((record.method, record.path.split("?")[0]), set()).add(record.peer_ip)
    return seen


@pytest.fixture(params=["direct", "socks5"])
def route(request: pytest.FixtureRequest, sim: OkxSimulator, trade_key: SimKey, proxy_stack: Any) -> tuple[str, str]:
    """(proxy URL or "", the peer IP OKX must see); the key is bound to exactly that IP."""
    if request.param == "direct":
        peer, url = "127.0.0.1", ""
    else:
        proxy = proxy_stack.get(ProxyKind.SOCKS5)
        peer, url = proxy.egress_ip, proxy.url()
    with sim.exchange.lock:
        live_key = sim.key(trade_key.api_key)
        assert live_key is not None
        live_key.ips = [peer]
    return url, peer


def test_ccxt_in_its_default_configuration(sim, trade_key, ca_path, route) -> None:
    proxy_url, peer = route
    sim.set_funding_balance(UID, "ETH", "1.5")

    results = drive("ccxt", sim, trade_key, ca_path, proxy_url)

    assert results["load_markets"] == ["BTC/USDT", "ETH/USDT"]
    assert {"BTC", "ETH", "USDT"} <= set(results["currencies"])
    assert results["fetch_balance_funding"] == {"ETH": 1.5}
    assert results["fetch_order"] == "open" and results["fetch_order_canceled"] == "canceled"
    assert results["fetch_open_orders"] == ["ccxtlimit1"]
    booked = {o["clOrdId"]: o for o in sim.orders(UID)}
    assert booked["ccxtlimit1"]["state"] == "canceled"
    market = next(o for o in booked.values() if o["ordType"] == "market")
    assert market["state"] == "filled"
    assert (market["ordId"], "closed") in [tuple(item) for item in results["fetch_closed_orders"]]
    assert [market["ordId"], 0.001] in results["fetch_my_trades"]
    seen = calls_seen(sim)
    assert set(seen) >= CCXT_CALLS
    assert all(seen[call] == {peer} for call in CCXT_CALLS if call[0] == "POST")


def test_python_okx_in_its_default_configuration(sim, trade_key, ca_path, route) -> None:
    proxy_url, peer = route

    results = drive("python-okx", sim, trade_key, ca_path, proxy_url)

    assert results["place_order"] == "0" and results["get_order"] == "live"
    assert results["get_order_list"] == ["pyokxlimit1"]
    assert results["cancel_order"] == "0"
    assert [(o["clOrdId"], o["state"]) for o in sim.orders(UID)] == [("pyokxlimit1", "canceled")]
    seen = calls_seen(sim)
    assert set(seen) >= PYTHON_OKX_CALLS
    assert all(peers == {peer} for call, peers in seen.items() if call in PYTHON_OKX_CALLS)
