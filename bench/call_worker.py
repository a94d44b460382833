"""One "warm invocation" of N OKX calls through one proxy, made by one client library, in its own process.

Run by connection_reuse.py as ``PYTHON bench/call_worker.py`` with a JSON job on stdin (secrets travel on
stdin, never in argv) and one JSON answer on stdout. okx-shield runs on the product's interpreter; ccxt
and python-okx on the peers' virtualenv. The calls alternate GET account/balance (signed) and GET
market/ticker (public), each library in its idiomatic way, within the simulator's rate limits.

Standalone on purpose: it imports only the library under test, so each runs on its own interpreter.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

Call = Callable[[int], Any]


def _okx_shield(job: dict[str, Any]) -> tuple[list[Call], Callable[[], int | None]]:
    from okxcore.client import OkxClient, Timeouts
    from okxcore.credentials import OkxKeySecret
    from okxcore.shield import ShieldEndpoint
    from okxcore.transport import build_session

    session = build_session(
        ShieldEndpoint.parse(job["proxy_url"]), ca_bundle=job["ca_path"], proxy_ca_bundle=job["ca_path"]
    )
    key = OkxKeySecret.model_validate(
        {"api_key": job["key"]["api_key"], "api_secret": job["key"]["secret"], "passphrase": job["key"]["passphrase"]}
    )
    timeouts = Timeouts(connect_s=job["timeout_s"], read_s=job["timeout_s"])
    # The simulator is not an OKX host: this benchmark is a local run, so it says so explicitly.
    client = OkxClient(session, key=key, base_url=job["base_url"], allow_other_hosts=True, timeouts=timeouts)
    calls: list[Call] = [lambda _i: client.balance(["USDT"]), lambda _i: client.ticker("BTC-USDT")]
    return calls, lambda: session.tunnel.stats.tunnels_opened


def _check_okx_answer(answer: Any) -> Any:
    # python-okx returns OKX's error bodies instead of raising; a benchmark must not count them as calls.
    if not isinstance(answer, dict) or str(answer.get("code")) != "0":
        raise RuntimeError(f"OKX answered {str(answer)[:200]}")
    return answer


def _python_okx(job: dict[str, Any]) -> tuple[list[Call], Callable[[], int | None]]:
    # python-okx's httpx trusts SSL_CERT_FILE (for OKX and for the proxy's TLS) and takes proxy= and domain=.
    os.environ["SSL_CERT_FILE"] = job["ca_path"]
    from okx.Account import AccountAPI
    from okx.MarketData import MarketAPI

    credentials = (job["key"]["api_key"], job["key"]["secret"], job["key"]["passphrase"])
    # flag="0": live trading; python-okx's default "1" is demo mode (the simulator then answers 50101).
    account = AccountAPI(*credentials, flag="0", domain=job["base_url"], proxy=job["proxy_url"])
    market = MarketAPI(flag="0", domain=job["base_url"], proxy=job["proxy_url"])
    calls: list[Call] = [
        lambda _i: _check_okx_answer(account.get_account_balance(ccy="USDT")),
        lambda _i: _check_okx_answer(market.get_ticker(instId="BTC-USDT")),
    ]
    return calls, lambda: None


def _ccxt(job: dict[str, Any]) -> tuple[list[Call], Callable[[], int | None]]:
    # ccxt's sync client passes verify=True to requests whatever `verify` holds (it ANDs it with
    # validateServerSsl), so a custom CA only gets in through requests' environment: trust_env + REQUESTS_CA_BUNDLE.
    os.environ["REQUESTS_CA_BUNDLE"] = job["ca_path"]
    import ccxt

    exchange = ccxt.okx(
        {
            "apiKey": job["key"]["api_key"],
            "secret": job["key"]["secret"],
            "password": job["key"]["passphrase"],
            "requests_trust_env": True,
            "timeout": int(job["timeout_s"] * 1000),
        }
    )
    exchange.urls["api"] = {"rest": job["base_url"]}
    if job["proxy_url"].startswith("https://"):
        exchange.httpsProxy = job["proxy_url"]
    else:
        exchange.socksProxy = job["proxy_url"]
    # The implicit API methods: the same two endpoints, no load_markets() round trips first.
    calls: list[Call] = [
        lambda _i: exchange.private_get_account_balance({"ccy": "USDT"}),
        lambda _i: exchange.public_get_market_ticker({"instId": "BTC-USDT"}),
    ]
    return calls, lambda: None


CLIENTS = {"okx-shield": _okx_shield, "python-okx": _python_okx, "ccxt": _ccxt}


def main() -> int:
    job = json.loads(sys.stdin.read())
    secrets = [job["key"]["api_key"], job["key"]["secret"], job["key"]["passphrase"], job.get("proxy_password", "")]
    answer: dict[str, Any] = {"client": job["client"], "calls_ok": 0, "latencies_ms": [], "tunnels_opened": None}
    try:
        setup_started = time.perf_counter()
        calls, tunnels = CLIENTS[job["client"]](job)
        answer["setup_ms"] = round((time.perf_counter() - setup_started) * 1000, 3)
        for index in range(job["calls"]):
            started = time.perf_counter()
            calls[index % len(calls)](index)
            answer["latencies_ms"].append(round((time.perf_counter() - started) * 1000, 3))
            answer["calls_ok"] += 1
        answer["tunnels_opened"] = tunnels()
        answer["error"] = None
    except Exception as exc:
        last = traceback.extract_tb(exc.__traceback__)[-1]
        answer["error"] = f"{type(exc).__module__}.{type(exc).__name__}: {exc} (at {last.filename}:{last.lineno})"
    text = json.dumps(answer)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
