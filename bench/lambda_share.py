"""Lambda's share: each function's heavy path in the Lambda image, with the CPU and memory Lambda gives a MemorySize.

    python bench/lambda_share.py [--sizes 256,512,1024,1769] [--latencies 0.05,0.25] [--cases audit-1000,...]
    python bench/run.py --only lambda_share          # the same, as a Result (bench/out/lambda_share.json)

Lambda gives a function CPU in proportion to its memory: one vCPU at 1,769 MB, so 256 MB gets 0.145 of one. Every
other figure in bench/RESULTS.md was measured on this machine's two full cores. Here each case runs in a container
of the Lambda-compatible image (issue 19's ``public.ecr.aws/lambda/python:3.11-x86_64``: Python 3.11, boto3 as the
runtime ships it) with ``--cpus`` = MemorySize / 1,769 and ``--memory`` = MemorySize (no swap), the function package
as ``sam build`` makes it (src/Makefile, for x86_64) mounted read-only as /var/task, the template's environment.

- **The local stack runs outside the container and is not limited with it**: fleet_scale's stack process (the OKX
  simulator with its per-user rate limits and 50 or 250 ms added to every request, stunnel + tinyproxy, moto served
  over HTTP), or the demo fleet's for trade and rotation. It is pinned to the second core (taskset) and the
  container to the first (``--cpuset-cpus``), so the function's quota is never spent waiting behind the stack.
  The container shares the host's network namespace (``--network host``): everything stays on 127.0.0.1.
- **One cold invocation per container**, as a new Lambda sandbox runs it: the handler module is imported ("init",
  as Lambda's Init Duration), then the handler is called once (rotation: its four steps in one warm container,
  as Secrets Manager invokes them), with a context counting down from the function's Timeout in template.yaml.
- **Measured inside the container**: init and handler wall time, the process's CPU time and peak RSS (rusage), and
  what the run did (keys audited or checked, keys left unchecked, the trade's outcome, the rotation's steps).
  GB-seconds = MemorySize in GB × (init + handler) seconds, what Lambda bills for a cold invocation.

The machine is shared with other developers: the load average before and after each row is recorded. A container
at 0.145 vCPU gets that share of one core at most (CFS quota); other work on the first core can only lower it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
IMAGE = "public.ecr.aws/lambda/python:3.11-x86_64"
IMAGE_PYTHON = "/var/lang/bin/python3.11"
FULL_VCPU_MB = 1769  # Lambda: one vCPU at 1,769 MB
SIZES_MB = (256, 512, 1024, 1769)
LATENCIES_S = (0.05, 0.25)
FUNCTION_CPU = "0"
STACK_CPUS = "1"
# template.yaml: each function's Timeout, and AuditKeysPerShard's default (the fan-out's shard size).
TIMEOUT_S = {"audit": 300.0, "probe": 120.0, "trade": 120.0, "rotate": 120.0}
AUDIT_KEYS_PER_SHARD = 2000
SHARD_TIMEOUT_SHARE = 0.6  # a shard must finish within 60 % of its Timeout (issue 23 §3)
TIE = 0.05  # GB-seconds this close to the cheapest are a tie (run-to-run noise on a shared machine)


@dataclass(frozen=True)
class Case:
    name: str
    function: str
    keys: int  # 0: the demo fleet (trade, rotation)


CASES = {
    c.name: c
    for c in (
        Case("audit-1000", "audit", 1000),
        Case(f"audit-{AUDIT_KEYS_PER_SHARD}", "audit", AUDIT_KEYS_PER_SHARD),
        Case("probe-1000", "probe", 1000),
        Case("trade", "trade", 0),
        Case("rotate", "rotate", 0),
    )
}
SMOKE_CASES = ("audit-30", "probe-30", "trade", "rotate")
TRADE_KEY = "okx-shield/keys/bot-main"
ROTATED_KEY = "okx-shield/keys/expiring-bot"


def case_named(name: str) -> Case:
    if name in CASES:
        return CASES[name]
    function, _, keys = name.partition("-")
    if function in ("audit", "probe") and keys.isdigit():
        return Case(name, function, int(keys))
    raise ValueError(f"unknown case {name!r}: {', '.join(CASES)}, or audit-N / probe-N")


# --- inside the container ------------------------------------------------------------------------------------


def _context(function: str, timeout_s: float) -> Any:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    deadline = time.monotonic() + timeout_s

    class Context(LambdaContext):
        def get_remaining_time_in_millis(self) -> int:  # type: ignore[override]
            return max(0, int((deadline - time.monotonic()) * 1000))

    context = Context()
    context._function_name = f"okx-shield-{function}"
    context._function_version = "$LATEST"
    context._invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:okx-shield-{function}"
    context._memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"))
    context._aws_request_id = f"bench-{function}"
    return context


def _outcome(function: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    """What the run did, from the handler's return value(s)."""
    last = results[-1] if results else {}
    details = last.get("details", {}) if isinstance(last, dict) else {}
    if function == "audit":
        return {
            "units": details.get("keys_audited", len(details.get("keys", []))),
            "severity": last.get("severity", last.get("overall")),
        }
    if function == "probe":
        rows = last.get("tables", {}).get("Keys", [])[1:]
        checks = details.get("key_checks", {})
        left = checks.get("not_reached")
        return {
            "units": len(rows) - (left or 0),
            "keys_not_reached": left,
            "key_checks_s": checks.get("elapsed_s"),
            "budget_s": checks.get("budget_s"),
            "severity": last.get("severity", last.get("overall")),
        }
    if function == "trade":
        return {
            "units": 1,
            "severity": last.get("severity", last.get("overall")),
            "title": str(last.get("title", ""))[:120],
        }
    return {"units": 1, "steps": len(results)}  # rotation: one report per step; all four returned


def inside_main(function: str, events: list[dict[str, Any]], timeout_s: float) -> int:
    """One cold invocation: import the handler (init), call it once per event. Prints one JSON row."""
    started = time.perf_counter()
    import importlib

    handler: Callable[[dict[str, Any], Any], dict[str, Any]] = importlib.import_module(f"handlers.{function}").handler
    init_s = time.perf_counter() - started
    row_out = os.fdopen(os.dup(1), "w")
    results: list[dict[str, Any]] = []
    error = ""
    with open(os.devnull, "w") as devnull:
        sys.stdout.flush()
        os.dup2(devnull.fileno(), 1)  # the structured log: CloudWatch's in AWS
        cpu_started = time.process_time()
        started = time.perf_counter()
        for event in events:
            try:
                results.append(handler(event, _context(function, timeout_s)))
            except Exception as exc:  # the row says so; the parent reports it
                error = type(exc).__name__
                break
        wall_s = time.perf_counter() - started
        handler_cpu_s = time.process_time() - cpu_started
        sys.stdout.flush()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    row = {
        "init_s": round(init_s, 3),
        "wall_s": round(wall_s, 3),
        "handler_cpu_s": round(handler_cpu_s, 3),
        "process_cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "error": error,
        **_outcome(function, results),
    }
    print(json.dumps(row), file=row_out, flush=True)
    return 0


# --- the demo fleet's stack (trade, rotation) ----------------------------------------------------------------


def demo_stack_main(latency_s: float) -> int:
    """The demo fleet served on 127.0.0.1; answers "rotation SECRET" (a new rotation's four step events), "stop"."""
    import logging

    from moto.server import ThreadedMotoServer

    from okxlocal import rotation
    from okxlocal.demo_fleet import demo_stack

    with demo_stack() as stack:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        stack.sim.faults.latency_s = latency_s
        env = {**stack.env, "AWS_ENDPOINT_URL": f"http://{host}:{port}", "AUDIT_STATE_MACHINE_ARN": ""}
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"):
            env[name] = os.environ[name]
        print(json.dumps({"env": env, "setup_s": 0}), flush=True)
        for line in sys.stdin:
            command, _, argument = line.strip().partition(" ")
            if command == "rotation":
                rotation.enable_rotation(argument)
                token = rotation.begin_rotation(argument)
                steps = ("createSecret", "setSecret", "testSecret", "finishSecret")
                print(json.dumps([rotation.step_event(argument, token, step) for step in steps]), flush=True)
            elif command == "stats":
                print(json.dumps({}), flush=True)
            elif command == "stop":
                break
        server.stop()
    return 0


def start_demo_stack(latency_s: float) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    from fleet_scale import taskset

    argv = [*taskset(STACK_CPUS), sys.executable, str(Path(__file__).resolve()), "--demo-stack"]
    stack = subprocess.Popen(
        [*argv, "--latency", str(latency_s)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert stack.stdout is not None
    try:
        return stack, json.loads(stack.stdout.readline())
    except BaseException:
        stack.kill()
        raise


def ask(stack: subprocess.Popen[str], line: str) -> Any:
    assert stack.stdin is not None and stack.stdout is not None
    stack.stdin.write(line + "\n")
    stack.stdin.flush()
    return json.loads(stack.stdout.readline())


# --- the parent ----------------------------------------------------------------------------------------------


def cpus_for(memory_mb: int) -> float:
    return round(memory_mb / FULL_VCPU_MB, 4)


def image_ready() -> str:
    """'' when docker runs and the image exists; else why not."""
    if shutil.which("docker") is None:
        return "no docker CLI on this machine"
    done = subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return f"the Lambda image {IMAGE} is not on this machine or the Docker daemon is not running"
    return ""


def events_for(case: Case, stack: subprocess.Popen[str], number: int) -> list[dict[str, Any]]:
    # A slot of its own per run: the trade's idempotency must not swallow the next size's run as a retry.
    slot = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - number))
    if case.function == "audit":
        return [{"scheduled_time": slot, "key_secret_prefix": "okx-shield/keys/", "max_workers": 16}]
    if case.function == "probe":
        return [{"scheduled_time": slot, "max_workers": 16}]
    if case.function == "trade":
        return [
            {
                "plan_id": f"bench-dca-{number}",
                "key_secret": TRADE_KEY,
                "scheduled_time": slot,
                "dry_run": False,
                "caps": {"max_notional": "150", "quote_ccy": "USDT", "max_deviation_pct": "1.5", "max_delay_s": 600},
                "legs": [{"kind": "market", "inst_id": "BTC-USDT", "side": "buy", "quote_amount": "100"}],
            }
        ]
    events: list[dict[str, Any]] = ask(stack, f"rotation {ROTATED_KEY}")
    return events


def run_container(
    case: Case, memory_mb: int, package: Path, stack_env: dict[str, str], events: list[dict[str, Any]]
) -> dict[str, Any]:
    from common import TEMPLATE_ENV

    env = {**TEMPLATE_ENV, **stack_env, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb)}
    env.update(
        PYTHONPATH="/var/task:/var/runtime",
        PYTHONDONTWRITEBYTECODE="1",
        LAMBDA_TASK_ROOT="/var/task",
        AWS_REGION="us-east-1",
    )
    mounts = [f"{package}:/var/task:ro", f"{BENCH}:/bench:ro"]
    for name in ("OKX_CA_BUNDLE", "SHIELD_CA_BUNDLE"):  # the stack's throwaway CA, at the same path
        folder = str(Path(env[name]).parent)
        if f"{folder}:{folder}:ro" not in mounts:
            mounts.append(f"{folder}:{folder}:ro")
    timeout_s = TIMEOUT_S[case.function]
    argv = ["docker", "run", "--rm", "-i", "--network", "host", "--cpuset-cpus", FUNCTION_CPU]
    argv += ["--cpus", str(cpus_for(memory_mb)), "--memory", f"{memory_mb}m", "--memory-swap", f"{memory_mb}m"]
    for mount in mounts:
        argv += ["-v", mount]
    for name, value in env.items():
        argv += ["-e", f"{name}={value}"]
    argv += ["--entrypoint", IMAGE_PYTHON, IMAGE, "/bench/lambda_share.py", "--inside", case.function]
    argv += ["--timeout", str(timeout_s)]
    load_before = os.getloadavg()[0]
    done = subprocess.run(
        argv, input=json.dumps(events), capture_output=True, text=True, timeout=timeout_s * 3 + 120, check=False
    )
    row: dict[str, Any] = {"case": case.name, "function": case.function, "memory_mb": memory_mb}
    row.update(vcpu=cpus_for(memory_mb), load_avg_1m_before=round(load_before, 2))
    if done.returncode != 0 or not done.stdout.strip():
        oom = done.returncode == 137
        row.update(error="out of memory (killed)" if oom else f"exit {done.returncode}: {done.stderr.strip()[-300:]}")
        return row
    row.update(json.loads(done.stdout.strip().splitlines()[-1]))
    row["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    billed_s = row["init_s"] + row["wall_s"]
    row["gb_s"] = round(memory_mb / 1024 * billed_s, 3)
    row["timeout_s"] = timeout_s
    row["timeout_share"] = round(billed_s / timeout_s, 3)
    units = max(1, int(row.get("units") or 0))
    row["cpu_ms_per_unit"] = round(row["process_cpu_s"] * 1000 / units, 3)
    return row


def measure(
    cases: list[Case], sizes: list[int], latencies: list[float], package: Path, log: Callable[[str], None]
) -> list[dict[str, Any]]:
    from fleet_scale import start_stack, stop_stack

    rows: list[dict[str, Any]] = []
    for latency_s in latencies:
        by_fleet: dict[int, list[Case]] = {}
        for case in cases:
            by_fleet.setdefault(case.keys, []).append(case)
        for keys, fleet_cases in by_fleet.items():
            stack, ready = start_demo_stack(latency_s) if keys == 0 else start_stack(keys, latency_s, cpus=STACK_CPUS)
            try:
                for case in fleet_cases:
                    for number, memory_mb in enumerate(sizes):
                        events = events_for(case, stack, number)
                        row = run_container(case, memory_mb, package, ready["env"], events)
                        row.update(latency_s=latency_s, keys=keys or None)
                        rows.append(row)
                        log(json.dumps(row))
            finally:
                if keys == 0:
                    ask_stop(stack)
                else:
                    stop_stack(stack)
    return rows


def ask_stop(stack: subprocess.Popen[str]) -> None:
    assert stack.stdin is not None
    try:
        stack.stdin.write("stop\n")
        stack.stdin.flush()
        stack.wait(timeout=60)
    finally:
        if stack.poll() is None:
            stack.kill()


def build_package(work: Path) -> Path:
    """src/Makefile's build for x86_64 (the image's architecture), boto3 left to the image's runtime."""
    import package_size

    folder, _removed = package_size.product_package(work)
    return folder


def cheapest(rows: list[dict[str, Any]], case: str, latency_s: float, limit_s: float) -> dict[str, Any] | None:
    """The row of the cheapest MemorySize (GB-seconds) whose run finished within `limit_s`, all units done."""
    fits = [
        r
        for r in rows
        if r["case"] == case
        and r["latency_s"] == latency_s
        and not r.get("error")
        and r["init_s"] + r["wall_s"] <= limit_s
        and not r.get("keys_not_reached")
    ]
    return min(fits, key=lambda r: (r["gb_s"], r["memory_mb"]), default=None)


def _fits(row: dict[str, Any]) -> bool:
    """Finished with every unit done; the probe within its Timeout (it sizes its key checks to the time left, so
    its limit is the keys it checks in time), every other function within SHARD_TIMEOUT_SHARE of its Timeout."""
    if row.get("error") or row.get("keys_not_reached"):
        return False
    return bool(row["timeout_share"] <= (1.0 if row["function"] == "probe" else SHARD_TIMEOUT_SHARE))


def choose(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per case: the cheapest MemorySize (GB-seconds at the slowest latency measured) that fits at every latency;
    of sizes within TIE of the cheapest, the fastest."""
    picks: list[dict[str, Any]] = []
    for case in dict.fromkeys(r["case"] for r in rows):
        mine = [r for r in rows if r["case"] == case]
        worst = max(r["latency_s"] for r in mine)
        sizes = sorted({r["memory_mb"] for r in mine})
        at_worst = {r["memory_mb"]: r for r in mine if r["latency_s"] == worst and not r.get("error")}
        fitting = [m for m in sizes if m in at_worst and all(_fits(r) for r in mine if r["memory_mb"] == m)]
        if not fitting:
            picks.append({"case": case, "memory_mb": None, "why": "no size measured fits"})
            continue
        cost = {m: at_worst[m]["gb_s"] for m in fitting}
        # Sizes within TIE of the cheapest cost the same within this machine's noise: the fastest of them.
        near = [m for m in fitting if cost[m] <= min(cost.values()) * (1 + TIE)]
        best = min(near, key=lambda m: (at_worst[m]["init_s"] + at_worst[m]["wall_s"], m))
        chosen = at_worst[best]
        picks.append(
            {
                "case": case,
                "memory_mb": best,
                "gb_s_at_worst_latency": cost[best],
                "share_of_timeout_at_worst_latency": chosen["timeout_share"],
                "fitting_sizes": fitting,
            }
        )
    return picks


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The power-tuning-style table: per case and latency, one line per MemorySize."""
    lines = [
        "| case | ms per OKX call | MemorySize MB | vCPU | init s | handler s | billed s | CPU ms per key | "
        "peak RSS MB | GB-s | share of Timeout | fits ¹ |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in sorted(
        rows, key=lambda r: (list(CASES).index(r["case"]) if r["case"] in CASES else 99, r["latency_s"], r["memory_mb"])
    ):
        if row.get("error"):
            lines.append(
                f"| {row['case']} | {row['latency_s'] * 1000:.0f} | {row['memory_mb']} | {row['vcpu']} | "
                f"| | | | | | | {row['error'][:60]} |"
            )
            continue
        per_unit = "per run" if row["function"] in ("trade", "rotate") else "per key"
        cpu = f"{row['cpu_ms_per_unit']:.2f}" if per_unit == "per key" else f"{row['process_cpu_s'] * 1000:.0f} per run"
        lines.append(
            f"| {row['case']} | {row['latency_s'] * 1000:.0f} | {row['memory_mb']} | {row['vcpu']} "
            f"| {row['init_s']:.2f} | {row['wall_s']:.1f} | {row['init_s'] + row['wall_s']:.1f} | {cpu} "
            f"| {row['peak_rss_mb']:.0f} | "
            f"{row['gb_s']:.2f} | {row['timeout_share'] * 100:.0f} % of {row['timeout_s']:.0f} s | "
            f"{'yes' if _fits(row) else '**no**'} |"
        )
    return "\n".join(lines) + "\n"


def run(*, smoke: bool) -> Any:
    from common import Result

    sizes = [256, 1769] if smoke else list(SIZES_MB)
    latencies = [0.05] if smoke else list(LATENCIES_S)
    names = SMOKE_CASES if smoke else tuple(CASES)
    result = Result(
        "lambda_share",
        "smoke" if smoke else "full",
        params={"sizes_mb": sizes, "latencies_s": latencies, "cases": list(names), "image": IMAGE},
    )
    why_not = image_ready()
    if why_not:
        result.findings.append(f"not measured: {why_not}")
        result.target("audit shard within 60% of its Timeout at 256 MB", None, SHARD_TIMEOUT_SHARE, "of Timeout")
        return result
    with tempfile.TemporaryDirectory(prefix="lambda-share-") as tmp:
        package = build_package(Path(tmp))
        result.rows = measure([case_named(n) for n in names], sizes, latencies, package, lambda _line: None)
    for row in result.rows:
        if row.get("error"):
            result.findings.append(f"{row['case']} at {row['memory_mb']} MB, {row['latency_s']} s: {row['error']}")
    shard = f"audit-{AUDIT_KEYS_PER_SHARD}"
    for latency_s in latencies:
        for row in result.rows:
            if row["case"] == shard and row["latency_s"] == latency_s and not row.get("error"):
                result.target(
                    f"{shard} keys at {row['memory_mb']} MB, {latency_s * 1000:.0f} ms per call: share of Timeout",
                    row["timeout_share"],
                    SHARD_TIMEOUT_SHARE,
                    "of Timeout",
                )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inside", choices=sorted(TIMEOUT_S), help=argparse.SUPPRESS)
    parser.add_argument("--demo-stack", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=float, default=120.0, help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES_MB), help="MemorySize values, MB")
    parser.add_argument("--latencies", default=",".join(str(s) for s in LATENCIES_S), help="seconds per OKX call")
    parser.add_argument("--cases", default=",".join(CASES), help=f"from {', '.join(CASES)}, or audit-N / probe-N")
    parser.add_argument("--latency", type=float, default=0.05, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help="also write every row here (JSON lines)")
    parser.add_argument("--table", type=Path, help="print the table and the choices of a JSON-lines file; no run")
    args = parser.parse_args()
    if args.inside:
        return inside_main(args.inside, json.loads(sys.stdin.read()), args.timeout)
    if args.demo_stack:
        return demo_stack_main(args.latency)
    if args.table:
        rows = [json.loads(line) for line in args.table.read_text().splitlines() if '"case"' in line]
        print(markdown_table(rows))
        print(json.dumps(choose(rows), indent=2))
        return 0
    why_not = image_ready()
    if why_not:
        parser.error(why_not)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    latencies = [float(s) for s in args.latencies.split(",") if s]
    cases = [case_named(n.strip()) for n in args.cases.split(",") if n.strip()]
    out = args.out.open("a") if args.out else None

    def log(line: str) -> None:
        print(line, flush=True)
        if out is not None:
            out.write(line + "\n")
            out.flush()

    log(
        json.dumps(
            {
                "command": " ".join(["python", "bench/lambda_share.py", *sys.argv[1:]]),
                "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "load_avg_1m": round(os.getloadavg()[0], 2),
            }
        )
    )
    with tempfile.TemporaryDirectory(prefix="lambda-share-") as tmp:
        package = build_package(Path(tmp))
        measure(cases, sizes, latencies, package, log)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
