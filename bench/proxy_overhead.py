"""Proxy overhead: per-call latency on loopback through each Shield transport vs a direct connection.

One GET /api/v5/public/time (no rate limit, no signing: pure transport) per sample, on one warm
connection per path; the first call of each path (tunnel + TLS set-up) is reported apart. The paths are
sampled round-robin so that machine noise hits them alike.

"direct" is bench-only code: a plain requests session straight to the simulator. The product has no
direct path and never will; this exists only as the zero of the scale.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests

from common import Result, median, ms, percentile
from okxcore.shield import ShieldEndpoint
from okxcore.transport import build_session
from okxlocal.pki import LocalPKI, local_okx_hostname
from okxlocal.proxies import ProxyKind, ProxyStack
from okxlocal.seeds import new_key, seed_with
from okxlocal.sim import OkxSimulator

PATH = "/api/v5/public/time"
# A call this much slower than the direct median waited on a delayed ACK somewhere (see RESULTS.md): counted
# apart, because such stalls come and go between runs and would otherwise decide the median alone.
STALL_S = 0.030


def _timed(call: Callable[[], requests.Response]) -> float:
    started = time.perf_counter()
    response = call()
    elapsed = time.perf_counter() - started
    if response.status_code != 200 or response.json().get("code") != "0":
        raise RuntimeError(f"unexpected answer {response.status_code}: {response.text[:200]}")
    return elapsed


def run(*, smoke: bool) -> Result:
    samples_per_path = 10 if smoke else 200
    result = Result("proxy_overhead", "smoke" if smoke else "full", params={"calls_per_path": samples_per_path})
    with tempfile.TemporaryDirectory(prefix="okx-shield-overhead-") as tmp:
        pki = LocalPKI(Path(tmp) / "pki")
        cert = pki.server_cert("okx-sim")
        seed = seed_with([new_key("1001", "bench-overhead")])
        with (
            OkxSimulator(
                seed, certfile=cert.cert_chain_path, keyfile=cert.key_path, hostname=local_okx_hostname()
            ) as sim,
            ProxyStack(Path(tmp) / "proxies", pki) as proxies,
        ):
            url = sim.url + PATH
            direct = requests.Session()
            direct.trust_env = False
            sessions: dict[str, requests.Session] = {"direct": direct}
            for kind in ProxyKind:
                sessions[kind.name] = build_session(
                    ShieldEndpoint.parse(proxies.get(kind).url()),
                    ca_bundle=str(pki.ca_path),
                    proxy_ca_bundle=str(pki.ca_path),
                )
            calls = {
                name: (lambda s=session: s.get(url, timeout=10, verify=str(pki.ca_path)))
                for name, session in sessions.items()
            }
            first = {name: _timed(call) for name, call in calls.items()}
            samples: dict[str, list[float]] = {name: [] for name in calls}
            for _ in range(samples_per_path):
                for name, call in calls.items():
                    samples[name].append(_timed(call))
            egress_requests = sim.stats.requests_from("127.0.0.2")
            for session in sessions.values():
                session.close()

    direct_median = median(samples["direct"])
    for name, values in samples.items():
        result.rows.append(
            {
                "path": name,
                "first_call_ms": ms(first[name]),
                "median_ms": ms(median(values)),
                "p99_ms": ms(percentile(values, 99)),
                "min_ms": ms(min(values)),
                "max_ms": ms(max(values)),
                "median_overhead_ms": ms(median(values) - direct_median),
                "stalled_calls": sum(1 for v in values if v - direct_median >= STALL_S),
                "median_unstalled_ms": ms(median([v for v in values if v - direct_median < STALL_S] or [float("nan")])),
                "calls": len(values),
            }
        )
    expected_proxied = (samples_per_path + 1) * len(ProxyKind)
    if egress_requests != expected_proxied:
        result.findings.append(f"expected {expected_proxied} proxied requests at the simulator, saw {egress_requests}")
    return result
