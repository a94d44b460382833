"""okx-shield benchmarks: cold import, package size, fleet audit and scale, probe scale, connection reuse, proxy
overhead; on request (--only), lambda_share (each function at Lambda's CPU share, in the Lambda image).

    python bench/run.py [--smoke] [--only NAME[,NAME]] [--out DIR] [--setup | --no-setup]

Writes DIR/<name>.json (default bench/out/) and DIR/summary.md, and prints the same Markdown tables.
Exit code 1 if a benchmark failed to run; a missed target is reported, never an error (timing is not a
test). Run it with the product's interpreter (.venv/bin/python, as `make bench` does).

The peers (ccxt, python-okx) live in their own virtualenv, .venv-bench, installed from
bench/requirements.txt. A full run installs it when it is missing or older than the requirements; a smoke
run uses it only if it is already there (installing it takes ~25 s, too long for CI's smoke test), unless
--setup is given. --setup alone (no other work) just installs it.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bots_overhead
import cold_import
import connection_reuse
import fleet_audit
import fleet_scale
import lambda_share
import package_size
import probe_scale
import proxy_overhead
from common import BENCH_REQUIREMENTS, BENCH_VENV, DEFAULT_OUT, ROOT, Result, bench_python

BENCHMARKS: dict[str, Callable[..., Result]] = {
    "cold_import": cold_import.run,
    "package_size": package_size.run,
    "fleet_audit": fleet_audit.run,
    "fleet_scale": fleet_scale.run,
    "probe_scale": probe_scale.run,
    "connection_reuse": connection_reuse.run,
    "proxy_overhead": proxy_overhead.run,
    "bots_overhead": bots_overhead.run,
    "lambda_share": lambda_share.run,
}
# Run only when named with --only: lambda_share needs Docker and the Lambda image (issue 19) and takes ~30 min.
ON_REQUEST = {"lambda_share"}

# Columns shown in the printed tables (the JSON files hold everything).
COLUMNS: dict[str, list[str]] = {
    "cold_import": [
        "series",
        "target",
        "import_median_ms",
        "import_min_ms",
        "import_max_ms",
        "import_cpu_median_ms",
        "process_wall_median_ms",
        "vs_baseline",
        "ccxt_over_this",
    ],
    "package_size": ["package", "total_mb", "own_package_mb", "files", "largest_mb"],
    "fleet_audit": [
        "layout",
        "keys",
        "users",
        "max_keys_per_user",
        "wall_s",
        "keys_per_s",
        "child_max_rss_mb",
        "peak_rss_during_audit_mb",
        "child_cpu_s",
        "requests_at_sim",
        "answers_50011",
        "keys_ended_rate_limited",
        "keys_whose_last_answer_was_50011",
        "tunnels_at_sim",
    ],
    "fleet_scale": [
        "keys",
        "latency_s",
        "wall_s",
        "keys_per_s",
        "audit_max_rss_mb",
        "audit_cpu_s",
        "requests_at_sim",
        "answers_50011",
        "keys_ended_rate_limited",
        "sns_reports",
        "sns_body_bytes",
        "load_avg_1m_after",
    ],
    "probe_scale": [
        "keys",
        "latency_s",
        "timeout_s",
        "wall_s",
        "key_checks_s",
        "keys_checked_per_s",
        "keys_not_reached",
        "probe_max_rss_mb",
        "probe_cpu_s",
        "requests_at_sim",
        "answers_50011",
        "keys_ended_rate_limited",
        "tunnels_at_sim",
        "result_bytes",
        "load_avg_1m_after",
    ],
    "connection_reuse": [
        "transport",
        "client",
        "calls_ok",
        "sim_connections_from_egress",
        "proxy_handshakes",
        "median_call_ms",
        "calls_over_30ms",
        "first_call_ms",
        "proxy_url_given",
        "error",
    ],
    "bots_overhead": [
        "library",
        "okx_shield_median_ms",
        "own_socks5_median_ms",
        "median_overhead_ms",
        "okx_shield_p99_ms",
        "own_socks5_p99_ms",
        "okx_shield_first_call_ms",
        "own_socks5_first_call_ms",
        "tunnels_for_first_20_calls",
        "calls",
    ],
    "lambda_share": [
        "case",
        "latency_s",
        "memory_mb",
        "vcpu",
        "init_s",
        "wall_s",
        "cpu_ms_per_unit",
        "peak_rss_mb",
        "gb_s",
        "timeout_share",
        "keys_not_reached",
        "error",
        "load_avg_1m_after",
    ],
    "proxy_overhead": [
        "path",
        "first_call_ms",
        "median_ms",
        "p99_ms",
        "max_ms",
        "median_overhead_ms",
        "stalled_calls",
        "median_unstalled_ms",
        "calls",
    ],
}


def ensure_bench_venv() -> Path:
    """Create or refresh .venv-bench from bench/requirements.txt; return its interpreter."""
    stamp = BENCH_VENV / ".installed"
    python = BENCH_VENV / "bin" / "python"
    if stamp.is_file() and python.is_file() and stamp.stat().st_mtime >= BENCH_REQUIREMENTS.stat().st_mtime:
        return python
    print(f"installing the peers into {BENCH_VENV.relative_to(ROOT)} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    if not python.is_file():
        # The same base interpreter as the product's virtualenv, so import times compare like for like.
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(BENCH_VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", str(BENCH_REQUIREMENTS)],
        check=True,
    )
    stamp.touch()
    print(f"... done in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    return python


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in list(value.items())[:5])
    if isinstance(value, float):
        return f"{value:g}"
    text = str(value).replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= 90 else text[:87] + "..."


def markdown(results: list[Result]) -> str:
    lines: list[str] = []
    for result in results:
        lines.append(f"### {result.benchmark} ({result.mode}, {result.duration_s:.1f} s)")
        lines.append("")
        columns = COLUMNS.get(result.benchmark) or sorted({k for row in result.rows for k in row})
        if result.rows:
            lines.append("| " + " | ".join(columns) + " |")
            lines.append("|" + "---|" * len(columns))
            for row in result.rows:
                lines.append("| " + " | ".join(_cell(row.get(c)) for c in columns) + " |")
            lines.append("")
        for finding in result.findings:
            lines.append(f"- {_cell(finding) if len(finding) > 300 else finding}")
        if result.findings:
            lines.append("")
    lines.append("### Targets")
    lines.append("")
    lines.append("| benchmark | target | measured | limit | verdict |")
    lines.append("|---|---|---|---|---|")
    for result in results:
        for target in result.targets:
            verdict = {True: "met", False: "**MISSED**", None: "not measured"}[target.met]
            measured = "–" if target.value is None else f"{target.value:g} {target.unit}"
            lines.append(
                f"| {result.benchmark} | {target.name} | {measured} | {target.limit:g} {target.unit} | {verdict} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="few samples, small fleet: checks the scripts run")
    parser.add_argument("--only", action="append", default=[], help=f"comma-separated, from: {', '.join(BENCHMARKS)}")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the JSON results")
    setup = parser.add_mutually_exclusive_group()
    setup.add_argument("--setup", action="store_true", help="install/refresh .venv-bench (alone: only that)")
    setup.add_argument("--no-setup", action="store_true", help="never install .venv-bench")
    args = parser.parse_args(argv)
    raw_argv = sys.argv[1:] if argv is None else argv

    if args.setup and not args.only and not args.smoke:
        ensure_bench_venv()
        return 0
    chosen = [name.strip() for spec in args.only for name in spec.split(",") if name.strip()] or [
        name for name in BENCHMARKS if name not in ON_REQUEST
    ]
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    if args.setup or (not args.smoke and not args.no_setup):
        try:
            ensure_bench_venv()
        except (subprocess.CalledProcessError, OSError) as exc:
            print(f"warning: could not install the peers ({exc}); measuring okx-shield alone", file=sys.stderr)
    print(f"peers: {bench_python() or 'not installed (.venv-bench)'}", file=sys.stderr)

    command = shlex.join(["python", "bench/run.py", *raw_argv])
    results: list[Result] = []
    failed = False
    for name in chosen:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            result = BENCHMARKS[name](smoke=args.smoke)
        except Exception as exc:
            failed = True
            result = Result(name, "smoke" if args.smoke else "full")
            result.findings.append(f"FAILED to run: {type(exc).__name__}: {exc}")
            traceback.print_exc()
        result.duration_s = round(time.perf_counter() - started, 2)
        result.params["command"] = command
        result.write(args.out)
        results.append(result)
    summary = markdown(results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.md").write_text(f"Command: `{command}`\n\n" + summary)
    print(summary)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
