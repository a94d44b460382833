"""CPU per key: the audit and the probe over one fleet, this checkout's code beside an older commit's, on one core.

    python bench/cpu_per_key.py --base REF [--new REF] [--keys 1000] [--rounds 3] [--function audit,probe]

Issue 23 §2 asks for audit ≤ 1.5 ms and probe ≤ 1.0 ms of CPU per key on one full core of this machine, measured
in the same run as the code before the change. This benchmark does that:

- the code under comparison: ``--base REF`` (and ``--new REF``, else this checkout as it is) is exported (``git
  archive``) into a temporary folder; the measured process imports okx-shield from that folder's src/ and local/
  (fleet_scale.use_source_tree). Same interpreter, same dependencies, same bench code;
- one stack process for the whole run (fleet_scale's: the simulator with its per-user rate limits and
  ``--latency`` per request, stunnel + tinyproxy, moto served over HTTP), pinned to the second core with taskset;
- each measured process (one handler call, as fleet_scale/probe_scale make it) pinned to the first core, the old
  and the new code alternating, ``--rounds`` times each. The machine is shared: CPU time (rusage of the measured
  process, and process_time() around the handler call) is what is compared, never wall time;
- the reports: every run's full report (from its structured log, as CloudWatch gets it) is compared, old with new,
  key by key, after the fields that a second run of the same code changes anyway (times, ages in days to 3
  decimals, rate-limit retry counts, request counts) are set aside (see ``comparable``).

Prints one JSON document: per function and code, the median handler CPU ms per key and process CPU ms per key,
every round's figures, the load average, and the report comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path
from typing import Any

from common import ROOT
from fleet_scale import run_function, start_stack, stop_stack, taskset

FUNCTION_CPU = "0"  # the measured function's core
STACK_CPUS = "1"  # the simulator, the proxies and moto: never on the measured core
TARGETS_MS_PER_KEY = {"audit": 1.5, "probe": 1.0}


def export_tree(ref: str, into: Path) -> str:
    """`ref`'s src/, local/ and bench/ in `into`; returns the commit id."""
    commit = subprocess.run(["git", "rev-parse", ref], cwd=ROOT, capture_output=True, text=True, check=True)
    archive = subprocess.run(["git", "archive", commit.stdout.strip(), "src", "local"], cwd=ROOT, capture_output=True)
    archive.check_returncode()
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return commit.stdout.strip()


def report_from_log(log: Path) -> dict[str, Any]:
    """The full report as the structured log holds it (whole, or in numbered parts: Wiring.log_report)."""
    whole: dict[str, Any] | None = None
    parts: dict[int, str] = {}
    for line in log.read_text().splitlines():
        if not line.startswith("{"):
            continue
        entry = json.loads(line)
        if entry.get("message") == "report" and "parts" not in entry:
            whole = entry["report"]
        elif entry.get("message") == "report part":
            parts[int(entry["part"])] = entry["json_part"]
    if whole is not None:
        return whole
    if not parts:
        raise ValueError(f"no report in {log}")
    return dict(json.loads("".join(parts[n] for n in sorted(parts))))


# Summary lines a second run of the same code words differently: elapsed time, retries, request counts.
_VOLATILE_LINES = re.compile(r"^(Rate limits:|Requests sent through Shield|Key checks:|Echo)")
_VOLATILE_DETAILS = {"fleet", "shield_requests", "key_checks", "elapsed_s", "budget_s"}


def comparable(report: dict[str, Any]) -> dict[str, Any]:
    """The report less what differs between two runs of the same code on the same fleet: generated_at, elapsed
    seconds, how many calls a rate limit made retry (timing decides it), ages to 3 decimals (the clock moved),
    milliseconds columns."""
    out = {k: v for k, v in report.items() if k not in {"generated_at"}}
    out["summary"] = [line for line in report.get("summary", []) if not _VOLATILE_LINES.match(line)]
    details = {k: v for k, v in report.get("details", {}).items() if k not in _VOLATILE_DETAILS}
    if isinstance(details.get("keys"), list):
        details["keys"] = [
            {k: (round(v, 1) if k.endswith("_days") and isinstance(v, float) else v) for k, v in key.items()}
            for key in details["keys"]
        ]
    out["details"] = details
    # A column of milliseconds (the probe's echo services) is timing, not a finding.
    out["tables"] = {
        name: [[cell for cell, head in zip(row, rows[0], strict=False) if head != "ms"] for row in rows]
        for name, rows in report.get("tables", {}).items()
        if rows
    }
    return out


def compare_reports(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Findings matched key by key (resource, check), then the rest of the report."""
    a, b = comparable(old), comparable(new)

    def by_key(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
        return {(f["resource"], f["check_id"]): f for f in report.get("findings", [])}

    fa, fb = by_key(a), by_key(b)
    differing = sorted(k for k in fa.keys() | fb.keys() if fa.get(k) != fb.get(k))
    rest_a = {k: v for k, v in a.items() if k != "findings"}
    rest_b = {k: v for k, v in b.items() if k != "findings"}
    other = sorted(k for k in rest_a.keys() | rest_b.keys() if rest_a.get(k) != rest_b.get(k))
    return {
        "findings_old": len(fa),
        "findings_new": len(fb),
        "findings_differing": len(differing),
        "first_differing": [list(k) for k in differing[:5]],
        "other_fields_differing": other,
        "same": not differing and not other,
    }


def measure_once(function: str, tree: str | None, env: dict[str, str], log: Path, timeout_s: float) -> dict[str, Any]:
    here = Path(__file__).resolve().parent
    if function == "audit":
        argv = [sys.executable, str(here / "fleet_scale.py"), "--audit", "--log", str(log)]
    else:
        argv = [sys.executable, str(here / "probe_scale.py"), "--probe", "--log", str(log), "--timeout", str(timeout_s)]
    if tree:
        argv += ["--tree", tree]
    row, usage = run_function(function, [*taskset(FUNCTION_CPU), *argv], env, kill_after_s=timeout_s + 600)
    return {
        "handler_cpu_s": row["handler_cpu_s"],
        "process_cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "wall_s": row["wall_s"],
        "max_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "load_avg_1m_after": round(os.getloadavg()[0], 2),
    }


def run(
    base: str, new: str | None, *, keys: int, rounds: int, functions: list[str], latency_s: float, layout: str
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "command": " ".join(["python", "bench/cpu_per_key.py", *sys.argv[1:]]),
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "keys": keys,
        "layout": layout,
        "latency_s": latency_s,
        "load_avg_1m_before": round(os.getloadavg()[0], 2),
        "function_cpu": FUNCTION_CPU,
        "stack_cpus": STACK_CPUS,
    }
    with tempfile.TemporaryDirectory(prefix="cpu-per-key-") as tmp:
        tree = Path(tmp) / "base"
        out["base"] = export_tree(base, tree)
        new_tree: str | None = None
        if new:
            new_tree = str(Path(tmp) / "new")
            out["new"] = export_tree(new, Path(new_tree))
        else:
            head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
            status = ["git", "status", "--porcelain", "src", "local"]
            dirty = subprocess.run(status, cwd=ROOT, capture_output=True, text=True).stdout
            out["new"] = head.stdout.strip() + (" + uncommitted changes" if dirty.strip() else "")
        stack, ready = start_stack(keys, latency_s, cpus=STACK_CPUS, layout=layout)
        try:
            for function in functions:
                runs: dict[str, list[dict[str, Any]]] = {"base": [], "new": []}
                reports: dict[str, dict[str, Any]] = {}
                for number in range(rounds):
                    for name, where in (("base", str(tree)), ("new", new_tree)):
                        log = Path(tmp) / f"{function}-{name}-{number}.log"
                        runs[name].append(measure_once(function, where, ready["env"], log, 120.0))
                        reports.setdefault(name, report_from_log(log))
                out[function] = {
                    name: {
                        "handler_cpu_ms_per_key": round(
                            statistics.median(r["handler_cpu_s"] for r in rows) * 1000 / keys, 3
                        ),
                        "process_cpu_ms_per_key": round(
                            statistics.median(r["process_cpu_s"] for r in rows) * 1000 / keys, 3
                        ),
                        "rounds": rows,
                    }
                    for name, rows in runs.items()
                }
                out[function]["target_ms_per_key"] = TARGETS_MS_PER_KEY[function]
                out[function]["reports"] = compare_reports(reports["base"], reports["new"])
        finally:
            out["sim"] = stop_stack(stack)
    out["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="the commit to compare with (e.g. main, or a commit id)")
    parser.add_argument("--new", help="the commit measured against --base (default: this checkout as it is)")
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--function", default="audit,probe", help="audit, probe, or both (comma-separated)")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds added to every OKX request")
    parser.add_argument("--layout", default="mixed", help="fleet_audit's layouts: mixed, one-per-user, ...")
    args = parser.parse_args()
    functions = [f.strip() for f in args.function.split(",") if f.strip()]
    result = run(
        args.base,
        args.new,
        keys=args.keys,
        rounds=args.rounds,
        functions=functions,
        latency_s=args.latency,
        layout=args.layout,
    )
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
