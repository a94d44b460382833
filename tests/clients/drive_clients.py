"""Drives one real OKX client (ccxt or python-okx) through what its users do first, against a given host.

Run on the .venv-clients interpreter as ``python drive_clients.py`` with a JSON job on stdin (the key travels
on stdin, never in argv) and one JSON answer on stdout: each step's name, whether it worked, and a small
summary of what the client returned. The client is configured as its own docs say, with only the base URL
and the CA changed (and the proxy, when there is one). Standalone: it imports only the client under test.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

Steps = list[tuple[str, Callable[[], Any]]]


def _ccxt(job: dict[str, Any]) -> Steps:
    # ccxt's sync client reaches requests' CA setting only through the environment (trust_env).
    os.environ["REQUESTS_CA_BUNDLE"] = job["ca"]
    import ccxt

    key = job["key"]
    exchange = ccxt.okx(
        {"apiKey": key["api_key"], "secret": key["secret"], "password": key["passphrase"], "requests_trust_env": True}
    )
    exchange.urls["api"] = {"rest": job["base_url"]}
    if job.get("proxy_url"):
        exchange.socksProxy = job["proxy_url"]
    placed: dict[str, Any] = {}

    def create_limit() -> Any:
        order = exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 50000, {"clientOrderId": "ccxtlimit1"})
        placed.update(order)
        return {"id": order["id"], "clientOrderId": order["clientOrderId"]}

    return [
        ("load_markets", lambda: sorted(exchange.load_markets())),
        ("currencies", lambda: sorted(exchange.currencies)),
        ("fetch_balance", lambda: exchange.fetch_balance()["total"]),
        ("fetch_balance_funding", lambda: exchange.fetch_balance({"type": "funding"})["total"]),
        ("fetch_ticker", lambda: exchange.fetch_ticker("BTC/USDT")["last"]),
        ("create_order", create_limit),
        ("fetch_order", lambda: exchange.fetch_order(placed["id"], "BTC/USDT")["status"]),
        ("fetch_open_orders", lambda: [o["clientOrderId"] for o in exchange.fetch_open_orders("BTC/USDT")]),
        ("cancel_order", lambda: exchange.cancel_order(placed["id"], "BTC/USDT")["id"]),
        ("fetch_order_canceled", lambda: exchange.fetch_order(placed["id"], "BTC/USDT")["status"]),
        (
            "create_market_order",
            lambda: exchange.create_order("BTC/USDT", "market", "buy", 0.001, None, {"tgtCcy": "base_ccy"})["id"],
        ),
        ("fetch_closed_orders", lambda: [(o["id"], o["status"]) for o in exchange.fetch_closed_orders("BTC/USDT")]),
        ("fetch_my_trades", lambda: [(t["order"], t["amount"]) for t in exchange.fetch_my_trades("BTC/USDT")]),
    ]


def _ok(answer: Any) -> Any:
    # python-okx returns OKX's error bodies instead of raising: a step only worked when OKX said code 0.
    if not isinstance(answer, dict) or answer.get("code") != "0":
        raise RuntimeError(f"OKX answered {str(answer)[:300]}")
    return answer["data"]


def _python_okx(job: dict[str, Any]) -> Steps:
    # python-okx's httpx trusts SSL_CERT_FILE; flag "0" is live trading (its own default "1" is demo).
    os.environ["SSL_CERT_FILE"] = job["ca"]
    from okx.Account import AccountAPI
    from okx.Trade import TradeAPI

    key = job["key"]
    credentials = (key["api_key"], key["secret"], key["passphrase"], False, "0")
    proxy = {"proxy": job["proxy_url"]} if job.get("proxy_url") else {}
    account = AccountAPI(*credentials, domain=job["base_url"], **proxy)
    trade = TradeAPI(*credentials, domain=job["base_url"], **proxy)
    order = {"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit", "px": "50000", "sz": "0.001"}
    return [
        ("get_account_balance", lambda: [d["ccy"] for d in _ok(account.get_account_balance())[0]["details"]]),
        ("place_order", lambda: _ok(trade.place_order(**order, clOrdId="pyokxlimit1"))[0]["sCode"]),
        ("get_order", lambda: _ok(trade.get_order(instId="BTC-USDT", clOrdId="pyokxlimit1"))[0]["state"]),
        ("get_order_list", lambda: [o["clOrdId"] for o in _ok(trade.get_order_list(instType="SPOT"))]),
        ("cancel_order", lambda: _ok(trade.cancel_order(instId="BTC-USDT", clOrdId="pyokxlimit1"))[0]["sCode"]),
    ]


CLIENTS = {"ccxt": _ccxt, "python-okx": _python_okx}


def main() -> int:
    job = json.loads(sys.stdin.read())
    secrets = [job["key"]["secret"], job["key"]["passphrase"], job.get("proxy_password", "")]
    steps: list[dict[str, Any]] = []
    try:
        for name, step in CLIENTS[job["client"]](job):
            try:
                steps.append({"step": name, "ok": True, "result": step()})
            except Exception as exc:
                where = traceback.extract_tb(exc.__traceback__)[-1]
                error = f"{type(exc).__name__}: {exc} (at {where.filename}:{where.lineno})"
                steps.append({"step": name, "ok": False, "error": error})
                break
    except Exception as exc:  # the client could not even be set up
        steps.append({"step": "setup", "ok": False, "error": f"{type(exc).__name__}: {exc}"})
    text = json.dumps({"client": job["client"], "steps": steps}, default=str)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
