"""Bots (issue 20): a bot's own ccxt / python-okx client through okxcore.bots vs the same library's own SOCKS5 path.

- **Per-call overhead**: GET /api/v5/public/time, the same client library, the same microsocks, in one worker
  process, okx-shield's path and the library's own SOCKS5 path alternating call by call (round-robin), ccxt's
  `rateLimit` throttle off in both (enableRateLimit False: it would add up to 110 ms per call to both). Target:
  median(okx-shield) - median(own SOCKS5) <= +0.5 ms.
- **Tunnels**: 20 calls from a cold client in one process = 1 tunnel (okx-shield's tunnel opener counts them).
- **Cold import** of `okxcore.bots` (ccxt not installed: the product's interpreter) vs `okxcore.client`, each in
  a fresh interpreter, round-robin. Target: <= +30 ms.

The stack is the local one: the simulator, microsocks as the SOCKS5 Shield form, moto served over HTTP for the
secrets and the state table, as a bot function sees them.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
from typing import Any

from common import BENCH_DIR, PRODUCT_PYTHON, ROOT, SRC, Result, median, ms, percentile, scrub

CLIENTS_PYTHON = ROOT / ".venv-clients" / "bin" / "python"
WORKER = BENCH_DIR / "bots_worker.py"
LIBRARIES = ("ccxt", "ccxt_async", "python_okx")
OVERHEAD_LIMIT_MS = 0.5
IMPORT_LIMIT_MS = 30.0


def _import_ms(module: str) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    env = {"PATH": os.environ["PATH"], "PYDANTIC_DISABLE_PLUGINS": "__all__", "PYTHONPATH": str(SRC)}
    done = subprocess.run([str(PRODUCT_PYTHON), "-c", code], capture_output=True, text=True, env=env, check=True)
    return float(done.stdout.strip()) * 1000


def cold_import(runs: int) -> dict[str, list[float]]:
    series: dict[str, list[float]] = {"okxcore.client": [], "okxcore.bots": []}
    for module in series:
        _import_ms(module)  # warm the file cache and bytecode once
    for _ in range(runs):
        for module in series:
            series[module].append(_import_ms(module))
    return series


def _measure_library(library: str, env: dict[str, str], job: dict[str, Any], secrets: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        [str(CLIENTS_PYTHON), str(WORKER)],
        input=json.dumps({**job, "library": library}),
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        return {"error": scrub(done.stderr.strip()[-1500:], secrets)}
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def run(*, smoke: bool) -> Result:
    from moto.server import ThreadedMotoServer

    from okxlocal.proxies import ProxyKind
    from okxlocal.seeds import new_key, seed_with
    from okxlocal.stack import key_secret_name, running_stack

    samples = 20 if smoke else 300
    import_runs = 3 if smoke else 21
    result = Result("bots_overhead", "smoke" if smoke else "full", params={"samples_per_path": samples})
    started = time.perf_counter()
    if not CLIENTS_PYTHON.is_file():
        result.findings.append("ccxt / python-okx not installed (.venv-clients): run scripts/bootstrap.sh --clients")
    else:
        key = new_key("1001", "bench-bot", ips=["127.0.0.2"])
        with running_stack(seed_with([key]), proxy_kind=ProxyKind.SOCKS5) as stack:
            stack.sim.state.rate_limits_enabled = False
            logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per AWS call otherwise
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            server.start()
            try:
                host, port = server.get_host_and_port()
                env = {
                    "PATH": os.environ["PATH"],
                    "PYTHONPATH": str(SRC),
                    "PYDANTIC_DISABLE_PLUGINS": "__all__",
                    **stack.env,
                    "OKX_KEY_SECRET_NAME": key_secret_name(key),
                    "AWS_ENDPOINT_URL": f"http://{host}:{port}",
                    **{n: os.environ[n] for n in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")},
                }
                job = {
                    "samples": samples,
                    "ca": str(stack.pki.ca_path),
                    "base_url": stack.sim.url,
                    "netloc": stack.sim.url.split("://", 1)[1],
                    "socks_url": stack.proxy.url(),
                }
                secrets = [stack.proxy.password, key.secret, key.passphrase]
                for library in LIBRARIES:
                    answer = _measure_library(library, env, job, secrets)
                    if "error" in answer:
                        result.findings.append(f"FAILED {library}: {answer['error']}")
                        continue
                    ours, own = answer["ours_ms"], answer["own_ms"]
                    overhead = median(ours) - median(own)
                    result.rows.append(
                        {
                            "library": library,
                            "okx_shield_median_ms": ms(median(ours) / 1000),
                            "own_socks5_median_ms": ms(median(own) / 1000),
                            "median_overhead_ms": ms(overhead / 1000),
                            "okx_shield_p99_ms": ms(percentile(ours, 99) / 1000),
                            "own_socks5_p99_ms": ms(percentile(own, 99) / 1000),
                            "okx_shield_first_call_ms": ms(answer["ours_first_ms"] / 1000),
                            "own_socks5_first_call_ms": ms(answer["own_first_ms"] / 1000),
                            "tunnels_for_first_20_calls": answer["tunnels_for_first_20_calls"],
                            "calls": len(ours),
                        }
                    )
                    result.target(f"{library}: per-call median vs own SOCKS5", overhead, OVERHEAD_LIMIT_MS, "ms")
                    tunnels = answer["tunnels_for_first_20_calls"]
                    result.target(f"{library}: tunnels for 20 calls", tunnels, 1, "tunnels")
            finally:
                server.stop()
    imports = cold_import(import_runs)
    delta = median(imports["okxcore.bots"]) - median(imports["okxcore.client"])
    result.details["cold_import_ms"] = {name: round(median(values), 1) for name, values in imports.items()}
    result.rows.append(
        {
            "library": "cold import (no ccxt)",
            "okx_shield_median_ms": round(median(imports["okxcore.bots"]), 1),
            "own_socks5_median_ms": None,
            "median_overhead_ms": round(delta, 1),
            "calls": import_runs,
            "note": f"okxcore.bots vs okxcore.client {round(median(imports['okxcore.client']), 1)} ms",
        }
    )
    result.target("cold import okxcore.bots over okxcore.client", delta, IMPORT_LIMIT_MS, "ms")
    result.duration_s = round(time.perf_counter() - started, 1)
    return result


if __name__ == "__main__":
    print(json.dumps(run(smoke=True).__dict__, default=str, indent=1)[:4000])
