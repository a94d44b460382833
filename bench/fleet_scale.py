"""Fleet scale: the audit Lambda over 10,000 keys in ONE invocation, at 50 ms and at 250 ms per OKX request.

Unlike fleet_audit (everything in one process, which bounds the Lambda from above), this benchmark runs the
local stack in one process and the audit in another, so that the audit process's peak RSS and CPU are the
Lambda's own:

- the stack process (``--stack``): okxlocal.stack.running_stack (the OKX simulator with its per-user rate
  limits and ``faults.latency_s``, a real HTTPS proxy program, moto with one secret per key) plus moto's
  threaded HTTP server over the same in-memory AWS state, so another process can reach it;
- the audit process (``--audit``): imports ``handlers.audit`` and calls its handler once, as Lambda would,
  with the template's environment and ``AWS_ENDPOINT_URL`` pointing at the moto server. Its structured log
  (the full per-key report) goes to a file, as Lambda's goes to CloudWatch.

The parent reads the audit process's peak RSS and CPU with wait4() and then asks the stack process for what
the simulator saw. Fleet layout: fleet_audit's "mixed" (users own 1, 2, 3, 5, 8, 13 keys in turn), every
secret tagged with its user (okx-uid). Wall time is the handler call alone.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from common import BENCH_DIR, TEMPLATE_ENV, Result
from fleet_audit import LAYOUTS, fleet_layout

KEYS_FULL = 10_000
KEYS_SMOKE = 30
# (latency per OKX request, wall-time target in s): the two figures.
CASES_FULL = ((0.05, 120.0), (0.25, 600.0))
CASES_SMOKE = ((0.05, 120.0),)
RSS_TARGET_MB = 256.0
WORKERS = 16
PREFIX = "okx-shield/keys/"


def stack_main(keys: int, latency_s: float, layout_name: str = "mixed") -> int:
    """The stack process: start everything, print the audit's environment, answer "stats", stop on "stop"."""
    from moto.server import ThreadedMotoServer

    from okxlocal.proxies import ProxyKind
    from okxlocal.seeds import new_key, seed_with
    from okxlocal.stack import running_stack

    both = ["127.0.0.2", "127.0.0.3"]
    layout = fleet_layout(keys, LAYOUTS[layout_name])
    seed = seed_with([new_key(uid, label, ips=both, created_days_ago=30) for uid, label in layout])
    started = time.perf_counter()
    with running_stack(seed, proxy_kind=ProxyKind.HTTPS) as stack:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per AWS call otherwise
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        stack.sim.faults.latency_s = latency_s
        stack.sim.stats.reset()
        # One invocation is what is measured: without a state machine the audit never fans out.
        env = {**stack.env, "AWS_ENDPOINT_URL": f"http://{host}:{port}", "AUDIT_STATE_MACHINE_ARN": ""}
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"):
            env[name] = os.environ[name]
        print(json.dumps({"env": env, "setup_s": round(time.perf_counter() - started, 1)}), flush=True)
        for line in sys.stdin:
            if line.strip() == "stats":
                print(json.dumps(_sim_stats(stack, keys)), flush=True)
            if line.strip() == "stop":
                break
        server.stop()
    return 0


def _sim_stats(stack: Any, keys: int) -> dict[str, Any]:
    records = list(stack.sim.stats.requests)
    last_code: dict[str, str] = {}
    for record in records:  # oldest first: the last one per key is how that key's calls ended
        if record.api_key:
            last_code[record.api_key] = record.code
    reports = stack.reports()
    return {
        "requests_at_sim": len(records),
        "answers_50011": sum(1 for r in records if r.code == "50011"),
        "keys_whose_last_answer_was_50011": sum(1 for code in last_code.values() if code == "50011"),
        "keys_seen_at_sim": len(last_code),
        "tunnels_at_sim": stack.sim.stats.connections_from("127.0.0.2"),
        "sns_reports": len(reports),
        "sns_body_bytes": max((len(m.body.encode()) for m in reports), default=0),
    }


def _vm(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def use_source_tree(tree: str | None) -> None:
    """Import okx-shield from another checkout (its src/ and local/) instead of this one: cpu_per_key.py measures
    an older commit's code beside this one's in the same run."""
    if tree:
        sys.path[:0] = [str(Path(tree) / "src"), str(Path(tree) / "local")]


def audit_main(log_path: str, tree: str | None = None) -> int:
    """The audit process: one handler call, as Lambda makes it. Prints one JSON line."""
    use_source_tree(tree)
    from aws_lambda_powertools.utilities.typing import LambdaContext

    rss_before_import = _vm("VmRSS")
    import handlers.audit as audit

    context = LambdaContext()
    context._function_name = "okx-shield-audit"
    context._function_version = "$LATEST"
    context._invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:okx-shield-audit"
    context._memory_limit_in_mb = 256
    context._aws_request_id = "bench-0000"
    event = {"scheduled_time": "2026-12-02T06:00:00Z", "key_secret_prefix": PREFIX, "max_workers": WORKERS}
    profile_path = os.environ.get("FLEET_SCALE_PROFILE")  # a cProfile dump of the handler call, when set
    row_out = os.fdopen(os.dup(1), "w")
    with open(log_path, "w") as log:
        # The structured log (the logger holds sys.stdout's file descriptor): CloudWatch in AWS.
        sys.stdout.flush()
        os.dup2(log.fileno(), 1)
        started = time.perf_counter()
        cpu_started = time.process_time()
        if profile_path:
            import cProfile

            profiler = cProfile.Profile()
            result = profiler.runcall(audit.handler, event, context)
            profiler.dump_stats(profile_path)
        else:
            result = audit.handler(event, context)
        wall_s = time.perf_counter() - started
        cpu_s = time.process_time() - cpu_started
        sys.stdout.flush()
    details = result.get("details", {})
    fleet = details.get("fleet", {})
    findings = result.get("findings", [])
    print(
        json.dumps(
            {
                "wall_s": round(wall_s, 2),
                "handler_cpu_s": round(cpu_s, 2),
                "rss_before_import_mb": round(rss_before_import, 1),
                "peak_rss_mb_in_process": round(_vm("VmHWM"), 1),
                "result_bytes": len(json.dumps(result, default=str)),
                "keys_audited": details.get("keys_audited", len(details.get("keys", []))),
                "keys_ended_rate_limited": sum(1 for f in findings if "rate limited" in str(f.get("message", ""))),
                "error_findings": sum(1 for f in findings if f.get("status") == "ERROR"),
                "shield_requests": details.get("shield_requests"),
                "fleet_stats": fleet,
                "severity": result.get("severity"),
                "log_mb": round(Path(log_path).stat().st_size / 2**20, 1),
            }
        ),
        file=row_out,
        flush=True,
    )
    return 0


def taskset(cpus: str | None) -> list[str]:
    """The prefix that pins a process to `cpus` (e.g. "0"), or none."""
    return ["taskset", "-c", cpus] if cpus else []


def start_stack(
    keys: int, latency_s: float, *, cpus: str | None = None, layout: str = "mixed"
) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """The stack process (stack_main) and its first line: the environment the measured function runs with."""
    here = str(Path(__file__).resolve())
    options = ["--keys", str(keys), "--latency", str(latency_s), "--layout", layout]
    stack = subprocess.Popen(
        [*taskset(cpus), sys.executable, here, "--stack", *options],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert stack.stdin is not None and stack.stdout is not None
    try:
        return stack, json.loads(stack.stdout.readline())
    except BaseException:
        stack.kill()
        raise


def stop_stack(stack: subprocess.Popen[str]) -> dict[str, Any]:
    """What the simulator saw (_sim_stats), then the stack stops."""
    assert stack.stdin is not None and stack.stdout is not None
    try:
        stack.stdin.write("stats\n")
        stack.stdin.flush()
        stats: dict[str, Any] = json.loads(stack.stdout.readline())
        stack.stdin.write("stop\n")
        stack.stdin.flush()
        stack.wait(timeout=120)
        return stats
    finally:
        if stack.poll() is None:
            stack.kill()


def run_function(
    name: str, argv: list[str], stack_env: dict[str, str], *, kill_after_s: float
) -> tuple[dict[str, Any], Any]:
    """One measured function process with the template's environment and the stack's: its last stdout line (one
    JSON row) and its rusage from wait4(), which are the Lambda's own peak RSS and CPU."""
    with tempfile.TemporaryFile("w+") as out:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AWS_", "POWERTOOLS"))}
        env.update(TEMPLATE_ENV)
        env.update(stack_env)
        child = subprocess.Popen(argv, env=env, stdout=out)
        killer = threading.Timer(kill_after_s, child.kill)
        killer.start()
        try:
            _pid, status, usage = os.wait4(child.pid, 0)
        finally:
            killer.cancel()
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"{name} process failed ({status})")
        out.seek(0)
        return dict(json.loads(out.read().strip().splitlines()[-1])), usage


def process_fields(usage: Any, prefix: str) -> dict[str, float]:
    """The measured process's peak RSS and CPU (its rusage), and the machine's load after it."""
    return {
        f"{prefix}_max_rss_mb": round(usage.ru_maxrss / 1024, 1),
        f"{prefix}_cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "load_avg_1m_after": round(os.getloadavg()[0], 2),
    }


def measure(keys: int, latency_s: float) -> dict[str, Any]:
    here = str(Path(__file__).resolve())
    stack, ready = start_stack(keys, latency_s)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            argv = [sys.executable, here, "--audit", "--log", str(Path(tmp) / "audit.log")]
            if os.environ.get("FLEET_SCALE_PYSPY"):  # profiling only: the rusage is then py-spy's
                argv = ["py-spy", "record", "-r", "50", "-f", "raw", "-o", os.environ["FLEET_SCALE_PYSPY"], "--", *argv]
            row, usage = run_function("fleet scale audit", argv, ready["env"], kill_after_s=1200)
    finally:
        stats = stop_stack(stack)
    row.update(stats, keys=keys, latency_s=latency_s, workers=WORKERS, stack_setup_s=ready["setup_s"])
    row.update(process_fields(usage, "audit"))
    row["keys_per_s"] = round(keys / row["wall_s"], 1)
    return row


def run(*, smoke: bool) -> Result:
    keys = KEYS_SMOKE if smoke else KEYS_FULL
    cases = CASES_SMOKE if smoke else CASES_FULL
    result = Result(
        "fleet_scale",
        "smoke" if smoke else "full",
        params={"keys": keys, "cases": [list(c) for c in cases], "max_workers": WORKERS, "layout": "mixed"},
    )
    if not (BENCH_DIR.parent / "src" / "handlers" / "audit.py").is_file():
        result.findings.append("handlers.audit does not exist yet: not measured")
        result.target("audit wall time", None, CASES_FULL[0][1], "s")
        return result
    for latency_s, wall_target in cases:
        row = measure(keys, latency_s)
        result.rows.append(row)
        where = f"[{keys} keys, {latency_s * 1000:.0f} ms per request]"
        result.target(f"audit handler wall time {where}", row["wall_s"], wall_target, "s")
        result.target(f"peak RSS of the audit process {where}", row["audit_max_rss_mb"], RSS_TARGET_MB, "MB")
        result.target(
            f"keys left on a rate-limit error {where}",
            max(row["keys_ended_rate_limited"], row["keys_whose_last_answer_was_50011"]),
            0,
            "keys",
            note=f"{row['answers_50011']} answers 50011 at the simulator",
        )
        if row["keys_audited"] != keys:
            result.findings.append(f"{where}: the report counts {row['keys_audited']} keys, {keys} were selected")
        if row["error_findings"]:
            result.findings.append(f"{where}: {row['error_findings']} ERROR findings")
        if row["sns_reports"] != 1:
            result.findings.append(f"{where}: {row['sns_reports']} SNS reports, expected exactly 1")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", action="store_true")
    parser.add_argument("--audit", action="store_true")
    parser.add_argument("--keys", type=int, default=KEYS_FULL)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--layout", default="mixed", choices=sorted(LAYOUTS))
    parser.add_argument("--log", default=os.devnull)
    parser.add_argument("--tree", help="import okx-shield from this checkout (its src/ and local/)")
    parser.add_argument("--measure", action="store_true", help="one measurement, printed as JSON")
    args = parser.parse_args()
    if args.stack:
        return stack_main(args.keys, args.latency, args.layout)
    if args.audit:
        return audit_main(args.log, args.tree)
    if args.measure:
        print(json.dumps(measure(args.keys, args.latency), indent=2))
        return 0
    parser.error("run through bench/run.py, or --measure for one case")
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
