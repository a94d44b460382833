"""Fleet audit: the audit Lambda over 1,000 keys, 50 ms added per OKX request, per-user rate limits on.

The measured process (``--worker``) starts the whole local stack in-process (okxlocal.stack.running_stack:
simulator, a real proxy program, moto with one secret per key) and then calls ``handlers.audit.handler``
with a Scheduler event selecting the keys by prefix, as Lambda would. Its wall time is the handler call
alone; its memory is read by the parent with wait4() (ru_maxrss of that one child) and, inside, as the
peak RSS during the handler only (VmHWM reset through /proc/self/clear_refs just before the call). Both
include the simulator and moto living in the same process, so they bound the Lambda's own figures from
above.

Fleet layout (deterministic): users own 1, 2, 3, 5, 8, 13, 1, 2, ... keys in turn, so the fleet mixes
one-bot users with users above OKX's account/config limit (5 per 2 s per user), and the keys of one user
are adjacent in the name-sorted listing (the audit meets them as a burst). Every rate-limit answer the
simulator gives is counted and compared with the keys that ended on a rate-limit error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from common import BENCH_DIR, Result

KEYS_FULL = 1000
KEYS_SMOKE = 30
LATENCY_S = 0.05
# Keys per user, in turn. "mixed" is the headline: one-bot users next to users above OKX's account/config
# limit (5 per 2 s per user); the other two bracket it.
LAYOUTS: dict[str, tuple[int, ...]] = {
    "mixed": (1, 2, 3, 5, 8, 13),
    "mixed-interleaved": (1, 2, 3, 5, 8, 13),
    "mixed-shuffled": (1, 2, 3, 5, 8, 13),
    "one-per-user": (1,),
    "five-per-user": (5,),
}
# The same mixed fleet with names that sort users' keys apart: "interleaved" puts the key number first
# (round-robin over users, the best case), "shuffled" prefixes a seeded random rank (what an audit that
# shuffled its work list would meet).
ORDERS = {"mixed-interleaved": "interleaved", "mixed-shuffled": "shuffled"}
WALL_TARGET_S = 60.0
RSS_TARGET_MB = 256.0
PREFIX = "okx-shield/keys/"


def fleet_layout(keys: int, sizes: tuple[int, ...], *, order: str = "grouped") -> list[tuple[str, str]]:
    """(uid, label) per key; the labels sort a user's keys together unless the order says otherwise."""
    ranks = list(range(keys))
    random.Random(7).shuffle(ranks)
    out: list[tuple[str, str]] = []
    user = 0
    while len(out) < keys:
        size = sizes[user % len(sizes)]
        uid = str(100_000 + user)
        for n in range(min(size, keys - len(out))):
            label = {
                "interleaved": f"fleet-k{n:02d}-u{user:04d}",
                "shuffled": f"fleet-r{ranks[len(out)]:04d}-u{user:04d}-k{n:02d}",
            }.get(order, f"fleet-u{user:04d}-k{n:02d}")
            out.append((uid, label))
        user += 1
    return out


def _vm(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def worker(keys: int, layout_name: str, latency_s: float, proxy_kind: str, workers: int) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from okxlocal.proxies import ProxyKind
    from okxlocal.seeds import new_key, seed_with
    from okxlocal.stack import running_stack

    both = ["127.0.0.2", "127.0.0.3"]
    layout = fleet_layout(keys, LAYOUTS[layout_name], order=ORDERS.get(layout_name, "grouped"))
    seed = seed_with([new_key(uid, label, ips=both, created_days_ago=30) for uid, label in layout])
    setup_started = time.perf_counter()
    with running_stack(seed, proxy_kind=ProxyKind(proxy_kind)) as stack:
        setup_s = time.perf_counter() - setup_started
        import handlers.audit as audit

        context = LambdaContext()
        context._function_name = "okx-shield-audit"
        context._function_version = "$LATEST"
        context._invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:okx-shield-audit"
        context._memory_limit_in_mb = 256
        context._aws_request_id = "bench-0000"
        event = {"scheduled_time": "2026-11-23T06:00:00Z", "key_secret_prefix": PREFIX, "max_workers": workers}
        stack.sim.faults.latency_s = latency_s
        stack.sim.stats.reset()
        rss_before = _vm("VmRSS")
        hwm_reset = False
        with contextlib.suppress(OSError):
            Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM: the peak below is the handler's
            hwm_reset = True
        # The handler logs the full report to stdout; the parent reads only our last line.
        started = time.perf_counter()
        with contextlib.redirect_stdout(sys.stderr):
            result = audit.handler(event, context)
        wall_s = time.perf_counter() - started
        peak_mb = _vm("VmHWM")
        records = stack.sim.stats.requests
        connections = stack.sim.stats.connections_from("127.0.0.2")
        reports = stack.reports()

    last_code: dict[str, str] = {}
    for record in records:  # oldest first: the last one per key is how that key's calls ended
        if record.api_key:
            last_code[record.api_key] = record.code
    findings = result.get("findings", [])
    rate_limited_keys = sum(1 for f in findings if "rate limited" in str(f.get("message", "")))
    errors = [f for f in findings if f.get("status") == "ERROR"]
    fleet = result.get("details", {}).get("fleet", {})
    return {
        "layout": layout_name,
        "keys": keys,
        "users": len({uid for uid, _ in layout}),
        "max_keys_per_user": max(LAYOUTS[layout_name]),
        "latency_s": latency_s,
        "proxy_kind": proxy_kind,
        "max_workers": workers,
        "setup_s": round(setup_s, 2),
        "wall_s": round(wall_s, 3),
        "keys_per_s": round(keys / wall_s, 1),
        "rss_before_audit_mb": round(rss_before, 1),
        "peak_rss_during_audit_mb": round(peak_mb, 1) if hwm_reset else None,
        "requests_at_sim": len(records),
        "answers_50011": sum(1 for r in records if r.code == "50011"),
        "answers_not_ok": sum(1 for r in records if r.code not in ("0", "")),
        "tunnels_at_sim": connections,
        "keys_in_report": len(result.get("details", {}).get("keys", [])),
        "keys_ended_rate_limited": rate_limited_keys,
        "keys_whose_last_answer_was_50011": sum(1 for code in last_code.values() if code == "50011"),
        "keys_seen_at_sim": len(last_code),
        "error_findings": len(errors),
        "error_examples": sorted({str(f.get("message", "")) for f in errors})[:5],
        "fleet_stats": fleet,
        "severity": result.get("severity"),
        "sns_reports": len(reports),
    }


def measure(keys: int, layout: str, workers: int) -> dict[str, Any]:
    argv = [sys.executable, str(Path(__file__).resolve()), "--worker", "--keys", str(keys), "--layout", layout]
    argv += ["--latency", str(LATENCY_S), "--proxy-kind", "https", "--workers", str(workers)]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(argv, stdout=out, stderr=err, text=True)
        killer = threading.Timer(900, child.kill)
        killer.start()
        try:
            # wait4 reads this one child's ru_maxrss (RUSAGE_CHILDREN would be the max over every child so far).
            _pid, status, usage = os.wait4(child.pid, 0)
        finally:
            killer.cancel()
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if child.returncode != 0 or not stdout.strip():
        raise RuntimeError(f"fleet audit worker failed ({child.returncode}): {stderr.strip()[-3000:]}")
    row = dict(json.loads(stdout.strip().splitlines()[-1]))
    row["child_max_rss_mb"] = round(usage.ru_maxrss / 1024, 1)
    # CPU of the whole child (stack set-up included): far below wall time means the audit mostly waits.
    row["child_cpu_s"] = round(usage.ru_utime + usage.ru_stime, 2)
    return row


def run(*, smoke: bool) -> Result:
    keys = KEYS_SMOKE if smoke else KEYS_FULL
    workers = 16  # the event's maximum
    layouts = ["mixed"] if smoke else list(LAYOUTS)
    result = Result(
        "fleet_audit",
        "smoke" if smoke else "full",
        params={
            "keys": keys,
            "latency_s": LATENCY_S,
            "proxy_kind": "https",
            "max_workers": workers,
            "layouts": {name: LAYOUTS[name] for name in layouts},
        },
    )
    if not (BENCH_DIR.parent / "src" / "handlers" / "audit.py").is_file():
        result.findings.append("handlers.audit does not exist yet: not measured")
        result.target("audit wall time", None, WALL_TARGET_S, "s")
        return result
    for layout in layouts:
        row = measure(keys, layout, workers)
        result.rows.append(row)
        where = f"[{layout}, {keys} keys]"
        result.target(f"audit handler wall time {where}", row["wall_s"], WALL_TARGET_S, "s")
        result.target(
            f"peak RSS of the audit process, stack included {where}", row["child_max_rss_mb"], RSS_TARGET_MB, "MB"
        )
        result.target(
            f"keys left on a rate-limit error {where}",
            max(row["keys_ended_rate_limited"], row["keys_whose_last_answer_was_50011"]),
            0,
            "keys",
            note=(
                f"{row['answers_50011']} answers 50011 at the simulator; the larger of: keys the report calls "
                "rate limited, keys whose last answer at the simulator was 50011"
            ),
        )
        if row["keys_in_report"] != keys:
            result.findings.append(f"{where}: the report lists {row['keys_in_report']} keys, {keys} were selected")
        if row["error_findings"]:
            result.findings.append(f"{where}: {row['error_findings']} ERROR findings: {row['error_examples']}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--keys", type=int, default=KEYS_FULL)
    parser.add_argument("--layout", choices=sorted(LAYOUTS), default="mixed")
    parser.add_argument("--latency", type=float, default=LATENCY_S)
    parser.add_argument("--proxy-kind", default="https")
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()
    if not args.worker:
        parser.error("run through bench/run.py (this entry is the measured child process)")
    print(json.dumps(worker(args.keys, args.layout, args.latency, args.proxy_kind, args.workers)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
