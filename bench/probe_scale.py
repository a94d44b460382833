"""Probe scale: the probe Lambda over 1,000 and 5,000 keys in ONE invocation, at 50 ms and 250 ms per OKX request.

The probe checks every key's binding with one signed account/config each, 16 at a time (okxcore/probe/fleet.py).
This measures how far that goes inside the function's Timeout and MemorySize. Like fleet_scale, two processes:

- the stack process is fleet_scale's own (``fleet_scale.py --stack``): the OKX simulator with its per-user rate
  limits and ``faults.latency_s`` added to every request (the echoes too), a real HTTPS proxy program, moto with
  one secret per key behind moto's HTTP server. Fleet: fleet_audit's "mixed" layout (users own 1, 2, 3, 5, 8, 13
  keys in turn), every key bound to both Shield IPs;
- the probe process (``--probe``): imports ``handlers.probe`` and calls its handler once, as Lambda would, with
  the template's environment and a context that counts down from the Timeout (``--timeout``, the template's 120 s),
  so the key checks get the budget a deployed probe gets (the remaining time less 20 s). Its structured log goes to
  a file, as Lambda's goes to CloudWatch.

Measured per case: the handler's wall time against the Timeout, keys checked and keys left "not checked (time)",
the probe process's peak RSS (wait4) against MemorySize, its CPU, what the simulator saw (requests, 50011 answers,
tunnels) and the size of the return value (Lambda fails a response over 6 MB).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import Result
from fleet_scale import _vm, process_fields, run_function, start_stack, stop_stack, use_source_tree

KEYS_FULL = (1_000, 5_000)
LATENCIES_FULL = (0.05, 0.25)
KEYS_SMOKE = (11,)  # users with 1, 2, 3 and 5 keys: none waits on its rate limit, so the smoke stays quick
LATENCIES_SMOKE = (0.05,)
# template.yaml's ProbeFunction: Timeout 120 s (60 s until the measurements in RESULTS.md section 7), MemorySize
# 256 MB (Globals).
TIMEOUT_S = 120.0
MEMORY_MB = 256.0
RESPONSE_LIMIT_BYTES = 6 * 2**20
WORKERS = 16


def probe_main(log_path: str, timeout_s: float, tree: str | None = None) -> int:
    """The probe process: one handler call, as Lambda makes it. Prints one JSON line."""
    use_source_tree(tree)
    from aws_lambda_powertools.utilities.typing import LambdaContext

    rss_before_import = _vm("VmRSS")
    import handlers.probe as probe

    deadline = time.monotonic() + timeout_s

    class Context(LambdaContext):
        """Lambda's countdown: the handler sizes its key-check budget from it."""

        def get_remaining_time_in_millis(self) -> int:  # type: ignore[override]
            return max(0, int((deadline - time.monotonic()) * 1000))

    context = Context()
    context._function_name = "okx-shield-probe"
    context._function_version = "$LATEST"
    context._invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:okx-shield-probe"
    context._memory_limit_in_mb = int(MEMORY_MB)
    context._aws_request_id = "bench-probe-0000"
    event = {"scheduled_time": "2026-12-02T06:00:00Z", "max_workers": WORKERS}
    row_out = os.fdopen(os.dup(1), "w")
    with open(log_path, "w") as log:
        sys.stdout.flush()
        os.dup2(log.fileno(), 1)  # the structured log (the logger holds sys.stdout's descriptor): CloudWatch
        started = time.perf_counter()
        cpu_started = time.process_time()
        result = probe.handler(event, context)
        wall_s = time.perf_counter() - started
        cpu_s = time.process_time() - cpu_started
        sys.stdout.flush()
    details = result.get("details", {})
    checks = details.get("key_checks", {})
    findings = result.get("findings", [])
    rows = result.get("tables", {}).get("Keys", [])[1:]
    print(
        json.dumps(
            {
                "wall_s": round(wall_s, 2),
                "handler_cpu_s": round(cpu_s, 2),
                "rss_before_import_mb": round(rss_before_import, 1),
                "keys_listed": len(rows),
                "keys_ok": sum(1 for row in rows if row[3] == "ok"),
                "keys_not_reached": checks.get("not_reached"),
                "keys_ended_rate_limited": sum(1 for f in findings if f.get("check_id") == "probe.keys.okx"),
                "budget_s": checks.get("budget_s"),
                "key_checks_s": checks.get("elapsed_s"),
                "max_in_flight": checks.get("max_in_flight"),
                "rate_limited_retried": checks.get("rate_limited_retried"),
                "shield_requests": details.get("shield_requests"),
                "egress": details.get("egress", {}).get("state"),
                "trading": result.get("trading"),
                "severity": result.get("severity"),
                "result_bytes": len(json.dumps(result, default=str)),
                "log_mb": round(Path(log_path).stat().st_size / 2**20, 1),
            }
        ),
        file=row_out,
        flush=True,
    )
    return 0


def measure(keys: int, latency_s: float, timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
    stack, ready = start_stack(keys, latency_s)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            log = str(Path(tmp) / "probe.log")
            argv = [sys.executable, __file__, "--probe", "--log", log, "--timeout", str(timeout_s)]
            row, usage = run_function("probe scale", argv, ready["env"], kill_after_s=timeout_s + 600)
    finally:
        stats = stop_stack(stack)
    row.update(stats, keys=keys, latency_s=latency_s, timeout_s=timeout_s, workers=WORKERS)
    row.update(stack_setup_s=ready["setup_s"], **process_fields(usage, "probe"))
    row["keys_checked_per_s"] = round((row["keys_listed"] - (row["keys_not_reached"] or 0)) / row["key_checks_s"], 1)
    return row


def run(*, smoke: bool) -> Result:
    fleets = KEYS_SMOKE if smoke else KEYS_FULL
    latencies = LATENCIES_SMOKE if smoke else LATENCIES_FULL
    result = Result(
        "probe_scale",
        "smoke" if smoke else "full",
        params={"keys": list(fleets), "latencies_s": list(latencies), "max_workers": WORKERS, "layout": "mixed"},
    )
    for keys in fleets:
        for latency_s in latencies:
            row = measure(keys, latency_s)
            result.rows.append(row)
            where = f"[{keys} keys, {latency_s * 1000:.0f} ms per request]"
            result.target(f"probe handler wall time {where}", row["wall_s"], TIMEOUT_S, "s")
            result.target(f"keys not checked within the budget {where}", row["keys_not_reached"], 0, "keys")
            result.target(f"peak RSS of the probe process {where}", row["probe_max_rss_mb"], MEMORY_MB, "MB")
            result.target(f"return value {where}", row["result_bytes"] / 2**20, RESPONSE_LIMIT_BYTES / 2**20, "MB")
            if row["keys_listed"] != keys:
                result.findings.append(f"{where}: the Keys table lists {row['keys_listed']} keys, {keys} were stored")
            if row["sns_reports"] != 1:
                result.findings.append(f"{where}: {row['sns_reports']} SNS reports, expected exactly 1")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--probe", action="store_true")
    parser.add_argument("--keys", type=int, default=KEYS_FULL[0])
    parser.add_argument("--latency", type=float, default=LATENCIES_FULL[0])
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S, help="the Lambda Timeout the probe is given")
    parser.add_argument("--log", default=os.devnull)
    parser.add_argument("--tree", help="import okx-shield from this checkout (its src/ and local/)")
    parser.add_argument("--measure", action="store_true", help="one measurement, printed as JSON")
    args = parser.parse_args()
    if args.probe:
        return probe_main(args.log, args.timeout, args.tree)
    if args.measure:
        print(json.dumps(measure(args.keys, args.latency, args.timeout), indent=2))
        return 0
    parser.error("run through bench/run.py, or --measure for one case")
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
