"""Connection reuse: 20 OKX calls in one warm invocation, through each Shield transport, per client library.

Counted at the simulator: TCP connections it accepted from the proxy's egress address (127.0.0.2), i.e.
one per tunnel through the proxy; and, for okx-shield, the proxy handshakes its tunnel opener made. The
target is 1 of each for the 20 calls. The same calls are made with python-okx and ccxt, configured for
the same proxy the way their own source allows; where a library cannot be configured for a transport,
that is recorded as a finding instead of a number.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from common import BENCH_DIR, PRODUCT_PYTHON, Result, bench_python, median, scrub
from okxlocal.pki import LocalPKI, local_okx_hostname
from okxlocal.proxies import ProxyKind, ProxyStack, RunningProxy
from okxlocal.seeds import new_key, seed_with
from okxlocal.sim import OkxSimulator, SimKey

EGRESS_IP = "127.0.0.2"
CALLS = 20
# Every library gets the same request timeout (httpx's default, which python-okx keeps).
CLIENT_TIMEOUT_S = 5.0
WORKER_TIMEOUT_S = 30.0
WORKER = BENCH_DIR / "call_worker.py"


def peer_proxy_url(proxy: RunningProxy) -> tuple[str, str]:
    """The URL a peer library is given for this proxy, and how it differs from Shield's."""
    if proxy.kind is ProxyKind.SOCKS5_TLS:
        # Neither requests/PySocks nor httpx/socksio has a "SOCKS5 inside TLS" scheme; socks5h:// is the
        # closest they accept, aimed at the TLS port it cannot speak to.
        return proxy.url().replace("socks5h+tls://", "socks5h://", 1), "socks5h:// at the TLS port (no TLS form)"
    return proxy.url(), ""


def run_worker(python: Path, job: dict[str, Any], secrets: list[str], timeout_s: float) -> dict[str, Any]:
    try:
        done = subprocess.run(
            [str(python), str(WORKER)],
            input=json.dumps(job),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {
            "error": f"no answer within {timeout_s:g} s: hung (its own {CLIENT_TIMEOUT_S:g} s timeout never fired)",
            "calls_ok": 0,
            "latencies_ms": [],
            "tunnels_opened": None,
        }
    if done.returncode != 0 or not done.stdout.strip():
        return {
            "error": scrub(f"worker exit {done.returncode}: {done.stderr.strip()[-1500:]}", secrets),
            "calls_ok": 0,
            "latencies_ms": [],
            "tunnels_opened": None,
        }
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def measure(sim: OkxSimulator, key: SimKey, proxy: RunningProxy, client: str, python: Path, ca: Path) -> dict[str, Any]:
    url, note = (proxy.url(), "") if client == "okx-shield" else peer_proxy_url(proxy)
    secrets = [key.api_key, key.secret, key.passphrase, proxy.password]
    job = {
        "client": client,
        "proxy_url": url,
        "proxy_password": proxy.password,
        "base_url": sim.url,
        "ca_path": str(ca),
        "key": {"api_key": key.api_key, "secret": key.secret, "passphrase": key.passphrase},
        "calls": CALLS,
        "timeout_s": CLIENT_TIMEOUT_S,
    }
    sim.stats.reset()
    sim.reset_rate_limits()
    answer = run_worker(python, job, secrets, WORKER_TIMEOUT_S)
    records = sim.stats.requests
    return {
        "transport": proxy.kind.name,
        "client": client,
        "calls_ok": answer["calls_ok"],
        "sim_connections_from_egress": sim.stats.connections_from(EGRESS_IP),
        "sim_connections_direct": sim.stats.connections_from("127.0.0.1"),
        "proxy_handshakes": answer.get("tunnels_opened"),
        "requests_seen": len(records),
        "non_ok_answers": sum(1 for r in records if r.code not in ("0", "")),
        "median_call_ms": round(median(answer["latencies_ms"]), 2) if answer["latencies_ms"] else None,
        "calls_over_30ms": sum(1 for latency in answer["latencies_ms"][1:] if latency >= 30.0),
        "first_call_ms": answer["latencies_ms"][0] if answer["latencies_ms"] else None,
        "proxy_url_given": note or "Shield URL as is",
        "error": answer.get("error"),
    }


def run(*, smoke: bool) -> Result:
    result = Result("connection_reuse", "smoke" if smoke else "full", params={"calls": CALLS})
    peers = bench_python()
    clients: list[tuple[str, Path]] = [("okx-shield", PRODUCT_PYTHON)]
    if peers is not None:
        clients += [("python-okx", peers), ("ccxt", peers)]
    else:
        result.findings.append("ccxt / python-okx not measured: the peers' virtualenv (.venv-bench) is not installed")
    key = new_key("1001", "bench-reuse", ips=[EGRESS_IP])
    with tempfile.TemporaryDirectory(prefix="okx-shield-reuse-") as tmp:
        pki = LocalPKI(Path(tmp) / "pki")
        cert = pki.server_cert("okx-sim")
        with (
            OkxSimulator(
                seed_with([key]), certfile=cert.cert_chain_path, keyfile=cert.key_path, hostname=local_okx_hostname()
            ) as sim,
            ProxyStack(Path(tmp) / "proxies", pki) as proxies,
        ):
            for kind in ProxyKind:
                for client, python in clients:
                    if smoke and client != "okx-shield" and kind is ProxyKind.SOCKS5_TLS:
                        # Known not to work (see RESULTS.md), and python-okx hangs there: full mode only.
                        result.findings.append(f"{client} via {kind.name}: not attempted in smoke mode")
                        continue
                    result.rows.append(measure(sim, key, proxies.get(kind), client, python, pki.ca_path))

    for row in result.rows:
        where = f"{row['client']} via {row['transport']}"
        if row["client"] == "okx-shield":
            result.target(f"TCP connections at the simulator, {where}", row["sim_connections_from_egress"], 1, "conn")
            result.target(f"proxy handshakes, {where}", row["proxy_handshakes"], 1, "handshakes")
        if row["error"]:
            result.findings.append(f"{where}: {row['calls_ok']}/{CALLS} calls, failed: {row['error']}")
        elif row["sim_connections_from_egress"] > 1:
            result.findings.append(
                f"{where}: {row['sim_connections_from_egress']} connections through the proxy for {CALLS} calls"
            )
    return result
