"""The bots benchmark's worker: one library through okxcore.bots and through its own SOCKS5 path, round-robin.

Runs on the .venv-clients interpreter with src/ on PYTHONPATH, a JSON job on stdin (the SOCKS5 proxy URL carries
its password: stdin, never argv), one JSON answer on stdout. Both paths of a library make the same call
(GET /api/v5/public/time) through the same microsocks, with the library's rate-limit throttle off on both, so the
difference is the transport: okx-shield's tunnel (and, for aiohttp and httpx, its loopback relay) against the
library's own SOCKS5 support (requests+PySocks, aiohttp-socks, httpx+socksio).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from okxcore import bots


def _sync_pair(job: dict[str, Any]) -> tuple[Callable[[], Any], Callable[[], Any], Any]:
    if job["library"] == "ccxt":
        import ccxt

        ours = bots.ccxt_okx(config={"enableRateLimit": False})
        # ccxt (sync) reaches requests' CA setting only through the environment (bench/RESULTS.md §4).
        os.environ["REQUESTS_CA_BUNDLE"] = job["ca"]
        own = ccxt.okx(
            {
                "enableRateLimit": False,
                "socksProxy": job["socks_url"],
                "requests_trust_env": True,
                "hostname": job["netloc"],
            }
        )
        return ours.fetch_time, own.fetch_time, ours.okx_shield
    from okx.PublicData import PublicAPI

    ours_api = bots.python_okx(PublicAPI)
    os.environ["SSL_CERT_FILE"] = job["ca"]  # python-okx's only way to a CA (its own path trusts the environment)
    own_api = PublicAPI(flag="0", domain=job["base_url"], proxy=job["socks_url"].replace("socks5h://", "socks5://"))
    return ours_api.get_system_time, own_api.get_system_time, ours_api.okx_shield


AsyncCall = Callable[[], Awaitable[Any]]


async def _async_pair(job: dict[str, Any]) -> tuple[AsyncCall, AsyncCall, Any, Any]:
    import ccxt.async_support

    ours = bots.ccxt_okx_async(config={"enableRateLimit": False})
    own = ccxt.async_support.okx(
        {"enableRateLimit": False, "socksProxy": job["socks_url"], "cafile": job["ca"], "hostname": job["netloc"]}
    )
    return ours.fetch_time, own.fetch_time, ours.okx_shield, (ours, own)


def _timed(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


async def _atimed(call: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await call()
    return (time.perf_counter() - started) * 1000


def measure(job: dict[str, Any]) -> dict[str, Any]:
    samples = job["samples"]
    out: dict[str, Any] = {"ours_ms": [], "own_ms": []}
    if job["library"] == "ccxt_async":

        async def main() -> None:
            ours, own, binding, clients = await _async_pair(job)
            try:
                out["ours_first_ms"] = await _atimed(ours)
                out["own_first_ms"] = await _atimed(own)
                for _ in range(19):
                    await ours()
                out["tunnels_for_first_20_calls"] = binding.transport.tunnel.stats.tunnels_opened
                for _ in range(samples):
                    out["ours_ms"].append(await _atimed(ours))
                    out["own_ms"].append(await _atimed(own))
            finally:
                for client in clients:
                    await client.close()

        asyncio.run(main())
    else:
        ours, own, binding = _sync_pair(job)
        out["ours_first_ms"] = _timed(ours)
        out["own_first_ms"] = _timed(own)
        for _ in range(19):
            ours()
        out["tunnels_for_first_20_calls"] = binding.transport.tunnel.stats.tunnels_opened
        for _ in range(samples):
            out["ours_ms"].append(_timed(ours))
            out["own_ms"].append(_timed(own))
    return out


def main() -> int:
    job = json.loads(sys.stdin.read())
    print(json.dumps(measure(job)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
