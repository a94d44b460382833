"""Drives a bot written for plain ccxt or python-okx, built by okxcore.bots, against the local stack.

Run on the .venv-clients interpreter with src/ on PYTHONPATH (as a bot function with the okx-shield layer) and
a JSON job as the first line on stdin: the library, the scenario and, for the failure scenarios, the Shield URLs
to try (they hold proxy passwords: stdin, never argv). Prints one JSON answer on stdout. A scenario that needs the
test to act midway prints `PROMPT <step>` and waits for a `done` line. The environment is the bot function's
(SHIELD_SECRET_NAME, OKX_KEY_SECRET_NAME, STATE_TABLE_NAME, AWS_ENDPOINT_URL at the moto server, plus whatever
hostile proxy variables the test sets). Each library runs with its own verbose/debug output on, so the test
can scan everything it printed for secrets.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

from okxcore import bots
from okxcore.shield import ShieldEndpoint

SYMBOL, INST = "BTC/USDT", "BTC-USDT"


def _ok(answer: Any) -> Any:
    if not isinstance(answer, dict) or answer.get("code") != "0":
        raise RuntimeError(f"OKX answered {str(answer)[:300]}")
    return answer["data"]


def _error(exc: BaseException) -> dict[str, Any]:
    return {"classes": [c.__module__ + "." + c.__qualname__ for c in type(exc).__mro__], "message": str(exc)}


# --- one bot per library, written as its users write it ------------------------------------------------------


def ccxt_trade(job: dict[str, Any]) -> dict[str, Any]:
    exchange = bots.ccxt_okx(config={"verbose": True, "enableRateLimit": False})
    out: dict[str, Any] = {"balance": exchange.fetch_balance()["total"]}
    out["ticker"] = exchange.fetch_ticker(SYMBOL)["last"]
    order = exchange.create_order(SYMBOL, "limit", "buy", 0.001, 50000, {"clientOrderId": "botccxt1"})
    out["open"] = [o["clientOrderId"] for o in exchange.fetch_open_orders(SYMBOL)]
    out["cancel"] = exchange.cancel_order(order["id"], SYMBOL)["id"] == order["id"]
    before = exchange.okx_shield.transport.tunnel.stats.tunnels_opened
    for _ in range(20):
        exchange.fetch_ticker(SYMBOL)
    out["tunnels_for_20_calls"] = exchange.okx_shield.transport.tunnel.stats.tunnels_opened - before
    out["tunnels"] = exchange.okx_shield.transport.tunnel.stats.tunnels_opened
    bots.flush()
    return out


def ccxt_async_trade(job: dict[str, Any]) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        exchange = bots.ccxt_okx_async(config={"verbose": True, "enableRateLimit": False})
        try:
            out: dict[str, Any] = {"balance": (await exchange.fetch_balance())["total"]}
            out["ticker"] = (await exchange.fetch_ticker(SYMBOL))["last"]
            order = await exchange.create_order(SYMBOL, "limit", "buy", 0.001, 50000, {"clientOrderId": "botasync1"})
            out["open"] = [o["clientOrderId"] for o in await exchange.fetch_open_orders(SYMBOL)]
            out["cancel"] = (await exchange.cancel_order(order["id"], SYMBOL))["id"] == order["id"]
            stats = exchange.okx_shield.transport.tunnel.stats
            before = stats.tunnels_opened
            for _ in range(20):
                await exchange.fetch_ticker(SYMBOL)
            out["tunnels_for_20_calls"] = stats.tunnels_opened - before
            tickers = await asyncio.gather(*(exchange.fetch_ticker(SYMBOL) for _ in range(20)))
            out["concurrent_ok"] = sum(1 for t in tickers if t["last"])
            out["tunnels"] = stats.tunnels_opened
            return out
        finally:
            await exchange.close()

    out = asyncio.run(main())
    bots.flush()
    return out


def python_okx_trade(job: dict[str, Any]) -> dict[str, Any]:
    from okx.Account import AccountAPI
    from okx.MarketData import MarketAPI
    from okx.Trade import TradeAPI

    account = bots.python_okx(AccountAPI, debug=True)
    market = bots.python_okx(MarketAPI, debug=True)
    trade = bots.python_okx(TradeAPI, debug=True)
    out: dict[str, Any] = {"balance": [d["ccy"] for d in _ok(account.get_account_balance())[0]["details"]]}
    out["ticker"] = _ok(market.get_ticker(instId=INST))[0]["last"]
    order = {"instId": INST, "tdMode": "cash", "side": "buy", "ordType": "limit", "px": "50000", "sz": "0.001"}
    out["place"] = _ok(trade.place_order(**order, clOrdId="botpyokx1"))[0]["sCode"]
    out["open"] = [o["clOrdId"] for o in _ok(trade.get_order_list(instType="SPOT"))]
    out["cancel"] = _ok(trade.cancel_order(instId=INST, clOrdId="botpyokx1"))[0]["sCode"]
    stats = trade.okx_shield.transport.tunnel.stats
    before = stats.tunnels_opened
    for _ in range(10):
        _ok(market.get_ticker(instId=INST))
        _ok(account.get_account_balance())
    out["tunnels_for_20_calls"] = stats.tunnels_opened - before
    out["tunnels"] = stats.tunnels_opened
    bots.flush()
    return out


TRADE: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "ccxt": ccxt_trade,
    "ccxt_async": ccxt_async_trade,
    "python_okx": python_okx_trade,
}


# --- failures: each Shield URL in the job, one read and one order each ----------------------------------------


def _attempt(library: str, shield: ShieldEndpoint | None, action: str) -> dict[str, Any]:
    """Run one call; the exception it raised (classes, message) and how long it took."""
    started = time.monotonic()
    try:
        if library == "ccxt":
            exchange = bots.ccxt_okx(shield=shield)
            if action == "read":
                exchange.fetch_ticker(SYMBOL)
            else:
                exchange.create_order(SYMBOL, "limit", "buy", 0.001, 50000)
        elif library == "ccxt_async":

            async def run() -> None:
                exchange = bots.ccxt_okx_async(shield=shield)
                try:
                    if action == "read":
                        await exchange.fetch_ticker(SYMBOL)
                    else:
                        await exchange.create_order(SYMBOL, "limit", "buy", 0.001, 50000)
                finally:
                    await exchange.close()

            asyncio.run(run())
        else:
            from okx.MarketData import MarketAPI
            from okx.Trade import TradeAPI

            if action == "read":
                _ok(bots.python_okx(MarketAPI, shield=shield).get_ticker(instId=INST))
            else:
                trade = bots.python_okx(TradeAPI, shield=shield)
                _ok(trade.place_order(instId=INST, tdMode="cash", side="buy", ordType="limit", px="50000", sz="0.001"))
    except Exception as exc:
        return {"ok": False, "seconds": round(time.monotonic() - started, 2), **_error(exc)}
    return {"ok": True, "seconds": round(time.monotonic() - started, 2)}


def failures(job: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, url in job.get("shield_urls", {}).items():
        out[name] = _attempt(job["library"], ShieldEndpoint.parse(url) if url else None, job.get("action", "read"))
    return out


def paused(job: dict[str, Any]) -> dict[str, Any]:
    return {"read": _attempt(job["library"], None, "read"), "order": _attempt(job["library"], None, "order")}


def _outcome(call: Callable[[], Any]) -> dict[str, Any]:
    try:
        call()
    except Exception as exc:
        return {"ok": False, **_error(exc)}
    return {"ok": True}


def bypasses(job: dict[str, Any]) -> dict[str, Any]:
    """Every library setting that would route around the tunnel, each tried on a fresh client."""
    trap = job["trap_url"]
    out: dict[str, Any] = {}
    if job["library"] == "ccxt":
        for name, value in (("socksProxy", trap), ("httpsProxy", trap), ("proxyUrl", trap), ("verify", False)):
            out[f"config {name}"] = _outcome(lambda n=name, v=value: bots.ccxt_okx(config={n: v}))
        for name, value in (("httpsProxy", trap), ("socksProxy", trap), ("proxies", {"https": trap}), ("verify", False),
                            ("hostname", "evil.example")):
            exchange = bots.ccxt_okx()
            setattr(exchange, name, value)
            out[f"set {name}"] = _outcome(lambda e=exchange: e.fetch_ticker(SYMBOL))
    elif job["library"] == "ccxt_async":
        out["config aiohttp_proxy"] = _outcome(lambda: bots.ccxt_okx_async(config={"aiohttp_proxy": trap}))

        async def changed(name: str, value: Any) -> None:
            exchange = bots.ccxt_okx_async()
            try:
                setattr(exchange, name, value)
                await exchange.fetch_ticker(SYMBOL)
            finally:
                await exchange.close()

        for name, value in (("aiohttp_proxy", None), ("aiohttp_proxy", trap), ("socksProxy", trap),
                            ("aiohttp_trust_env", True), ("hostname", "evil.example")):
            out[f"set {name}={value is None}"] = _outcome(lambda n=name, v=value: asyncio.run(changed(n, v)))
    else:
        from okx.MarketData import MarketAPI

        out["proxy"] = _outcome(lambda: MarketAPI.__init__(bots.python_okx(MarketAPI), proxy=trap))
        market = bots.python_okx(MarketAPI)
        market.base_url = "https://evil.example"
        out["set base_url"] = _outcome(lambda: _ok(market.get_ticker(instId=INST)))
    return out


def _wait_for_test(step: str) -> None:
    """Ask the test to act on the stack now (PROMPT on stdout) and wait until it says it has (a line on stdin)."""
    print(f"PROMPT {step}", flush=True)
    if sys.stdin.readline().strip() != "done":
        raise RuntimeError(f"the test did not finish {step!r}")


def rotation(job: dict[str, Any]) -> dict[str, Any]:
    """One warm client across a rotation: signed calls, then the test rotates the key (AWSCURRENT gets a new key,
    the old one is deleted at OKX), then signed calls again once the client's refresh interval has passed."""
    library, wait_s = job["library"], float(job["refresh_s"]) + 0.5
    if library == "ccxt":
        exchange = bots.ccxt_okx(config={"verbose": True, "enableRateLimit": False})

        def balance() -> Any:
            return exchange.fetch_balance()["total"]
    elif library == "ccxt_async":
        loop = asyncio.new_event_loop()  # one loop for the client's whole life, as a warm function keeps it
        async_exchange = bots.ccxt_okx_async(config={"verbose": True, "enableRateLimit": False})

        def balance() -> Any:
            return loop.run_until_complete(async_exchange.fetch_balance())["total"]
    else:
        from okx.Account import AccountAPI

        account = bots.python_okx(AccountAPI, debug=True)

        def balance() -> Any:
            return [d["ccy"] for d in _ok(account.get_account_balance())[0]["details"]]

    out: dict[str, Any] = {"before": [balance(), balance()]}
    _wait_for_test("rotate")
    time.sleep(wait_s)
    out["after"] = [balance(), balance()]
    if library == "ccxt_async":
        loop.run_until_complete(async_exchange.close())
        loop.close()
    bots.flush()
    return out


def example(job: dict[str, Any]) -> dict[str, Any]:
    """examples/dca-bot's handler, as Lambda calls it: the same scheduled slot twice (a retried invocation)."""
    sys.path.insert(0, job["example_dir"])
    import app

    refused = {}
    for name, bad_event in (("missing", {}), ("not a time", {"scheduled_time": "tomorrow at nine"})):
        try:
            app.handler(bad_event, None)
        except ValueError as exc:
            refused[name] = str(exc)
    for amount in ("inf", "nan", "-1", "ten"):
        try:
            app.quote_amount(amount)
        except ValueError as exc:
            refused[f"DCA_QUOTE_AMOUNT={amount}"] = str(exc)
    event = {"scheduled_time": job["slot"]}
    return {"refused": refused, "first": app.handler(event, None), "again": app.handler(event, None)}


def main() -> int:
    job = json.loads(sys.stdin.readline())  # one line: later lines answer the scenario's prompts
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)  # every library's debug log on
    for quiet in ("botocore", "boto3"):  # AWS's own calls: thousands of lines, none about OKX
        logging.getLogger(quiet).setLevel(logging.WARNING)
    scenario = job["scenario"]
    try:
        if scenario == "trade":
            result = TRADE[job["library"]](job)
        elif scenario == "failures":
            result = failures(job)
        elif scenario == "example":
            result = example(job)
        elif scenario == "bypasses":
            result = bypasses(job)
        elif scenario == "rotation":
            result = rotation(job)
        else:
            result = paused(job)
        answer: dict[str, Any] = {"ok": True, "result": result}
    except Exception as exc:
        import traceback

        answer = {"ok": False, **_error(exc), "traceback": traceback.format_exc()[-3000:]}
    print("RESULT " + json.dumps(answer, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
