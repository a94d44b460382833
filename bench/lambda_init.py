"""Cold start inside a Lambda container: each function's Init Duration against a minimal function.

Each function runs in the stand-in Lambda Python 3.11 image (okxlocal.containers.image, built from Debian
packages, cached) with the package `sam build` ships (src/Makefile, for this machine's architecture) mounted
read-only as /var/task, behind the Runtime Interface Emulator, exactly as `sam local invoke` runs it but without
SAM's own start-up around it. Every sample is a new container: a cold start. The baseline is a function whose
module only does ``import boto3, requests, pydantic`` (boto3 from /var/runtime, the others from /var/task), built
the same way (our Makefile's bytecode), and run the same way.

The number is the emulator's init phase, ``INIT REPORT(durationMs: ...)`` in its log: from starting the runtime
to the handler module imported (Python start-up, awslambdaric, the handler's imports). The emulator's REPORT
line also prints an "Init Duration", but the emulator runs the init inside the first invoke and reports ~0 ms
there, so that field is not used.

Also recorded, per function: the first invoke's duration after init (cold) and a second invoke's (warm). The
invokes get an empty event and no stack: what they time is the handler's own start (settings, the report of
the problem), not a run against OKX; the container tier times real runs (tests/containers).

    .venv/bin/python bench/lambda_init.py [--runs 7] [--cpus 1.0] [--memory 256] [--out bench/out]

``--cpus``/``--memory`` give each container a share of the machine (issue 23: Lambda's CPU share at a MemorySize).
Needs a Docker daemon (started when absent, as root) and the image (built when absent: ~2 min, once).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import package_size
from common import DEFAULT_OUT, ROOT, Result, machine, median

sys.path.insert(0, str(ROOT / "local"))

from okxlocal.containers.daemon import docker_cli, ensure_daemon
from okxlocal.containers.image import ensure_base_image, host_architecture, run_function_argv

BASELINE = "baseline: import boto3, requests, pydantic"
TARGET_FACTOR = 1.3
FUNCTIONS = {
    "probe": "handlers.probe.handler",
    "audit": "handlers.audit.handler",
    "trade": "handlers.trade.handler",
    "rotate": "handlers.rotate.handler",
    "audit_fanout": "handlers.audit_fanout.handler",
}
BASELINE_MODULE = '''"""The cold-start baseline: what every Python Lambda using these three libraries imports."""

import boto3
import pydantic
import requests


def handler(event, context):
    return {"imported": [boto3.__name__, pydantic.__name__, requests.__name__]}
'''
# What template.yaml gives every function at import time (Globals), plus fake credentials.
ENVIRONMENT = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "POWERTOOLS_SERVICE_NAME": "okx-shield",
    "POWERTOOLS_METRICS_NAMESPACE": "OkxShield",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "PYDANTIC_DISABLE_PLUGINS": "__all__",
}
_INIT = re.compile(r"INIT REPORT\(durationMs: (?P<ms>[0-9.]+)\)")
_REPORT_DURATION = re.compile(r"REPORT RequestId: \S+\s+Init Duration: [0-9.]+ ms\s+Duration: (?P<ms>[0-9.]+) ms")
_PLAIN_DURATION = re.compile(r"REPORT RequestId: \S+\s+Duration: (?P<ms>[0-9.]+) ms")
INVOKE_PATH = "/2015-03-31/functions/function/invocations"


def baseline_package(product: Path, work: Path) -> Path:
    """The product's package without our code, plus the baseline module, compiled as src/Makefile compiles ours."""
    folder = work / "baseline"
    shutil.copytree(product, folder, ignore=shutil.ignore_patterns("okxcore", "handlers"))
    (folder / "baseline.py").write_text(BASELINE_MODULE)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "compileall",
            "-q",
            "--invalidation-mode",
            "unchecked-hash",
            "-s",
            str(folder),
            "-p",
            "/var/task",
            str(folder / "baseline.py"),
        ],
        check=True,
        timeout=120,
    )
    return folder


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _invoke(port: int, deadline: float) -> None:
    while True:
        try:
            request = urllib.request.Request(f"http://127.0.0.1:{port}{INVOKE_PATH}", data=b"{}", method="POST")
            with urllib.request.urlopen(request, timeout=120) as answer:  # noqa: S310 - our container, loopback
                answer.read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)  # the emulator is not listening yet


def cold_sample(arch: str, task: Path, handler: str, *, cpus: float | None, memory_mb: int | None) -> dict[str, float]:
    """One new container: init ms (emulator's INIT REPORT), first invoke ms (cold), second invoke ms (warm)."""
    port = _free_port()
    argv = run_function_argv(arch, task, handler, port=port, environment=ENVIRONMENT, cpus=cpus, memory_mb=memory_mb)
    container = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=120).stdout.strip()
    try:
        deadline = time.monotonic() + 60
        _invoke(port, deadline)
        _invoke(port, deadline)
        cpu_ms = _runtime_cpu_ms(container)
        logs = subprocess.run([docker_cli(), "logs", container], capture_output=True, text=True, check=True, timeout=60)
        text = logs.stdout + logs.stderr
    finally:
        subprocess.run([docker_cli(), "rm", "-f", container], capture_output=True, timeout=60, check=False)
    init = _INIT.search(text)
    first = _REPORT_DURATION.search(text)
    warm = list(_PLAIN_DURATION.finditer(text))
    if init is None or first is None or not warm:
        raise RuntimeError(f"no INIT REPORT / REPORT lines in the container's log:\n{text[-3000:]}")
    init_ms = float(init["ms"])
    return {
        "init_ms": init_ms,
        "runtime_cpu_ms": cpu_ms,
        "cold_invoke_ms": float(first["ms"]) - init_ms,  # the emulator's first Duration includes the init
        "warm_invoke_ms": float(warm[-1]["ms"]),
    }


def _runtime_cpu_ms(container: str) -> float:
    """CPU time (user + system) of the runtime's Python process so far: its init plus two empty invokes (a few ms).
    Steadier than the init's wall time on a busy machine; /proc's clock ticks give it a 10 ms resolution."""
    script = (
        "for stat in /proc/[0-9]*/stat; do read -r line < $stat; case $line in *'(python3.11)'*) echo $line;; esac;"
        " done"
    )
    done = subprocess.run(
        [docker_cli(), "exec", container, "sh", "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    fields = done.stdout.split(")")[-1].split()  # after "pid (comm)": state is field 3, utime/stime 14/15
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) * 1000.0 / ticks


def run(runs: int, cpus: float | None, memory_mb: int | None) -> Result:
    arch = host_architecture()
    result = Result(
        "lambda_init",
        "full",
        params={
            "runs_per_target": runs,
            "architecture": arch,
            "cpus": cpus,
            "memory_mb": memory_mb,
            "measure": "emulator INIT REPORT durationMs in a new container per sample (cold), round-robin",
        },
        details={"machine": machine()},
    )
    daemon = ensure_daemon()
    try:
        image = ensure_base_image(arch)
        result.details["image"] = image
        with tempfile.TemporaryDirectory(prefix="okx-shield-lambda-init-") as tmp:
            product, _removed = package_size.product_package(Path(tmp))
            targets = {BASELINE: (baseline_package(product, Path(tmp)), "baseline.handler")}
            targets.update({name: (product, handler) for name, handler in FUNCTIONS.items()})
            samples: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
            for _round in range(runs):
                for name, (task, handler) in targets.items():
                    samples[name].append(cold_sample(arch, task, handler, cpus=cpus, memory_mb=memory_mb))
    finally:
        daemon.stop()
    base = median([s["init_ms"] for s in samples[BASELINE]])
    base_cpu = median([s["runtime_cpu_ms"] for s in samples[BASELINE]])
    for name, values in samples.items():
        init = median([s["init_ms"] for s in values])
        result.rows.append(
            {
                "target": name,
                "init_median_ms": round(init, 1),
                "init_min_ms": round(min(s["init_ms"] for s in values), 1),
                "init_max_ms": round(max(s["init_ms"] for s in values), 1),
                "vs_baseline": round(init / base, 2),
                "runtime_cpu_median_ms": round(median([s["runtime_cpu_ms"] for s in values]), 1),
                "cpu_vs_baseline": round(median([s["runtime_cpu_ms"] for s in values]) / base_cpu, 2),
                "cold_invoke_median_ms": round(median([s["cold_invoke_ms"] for s in values]), 1),
                "warm_invoke_median_ms": round(median([s["warm_invoke_ms"] for s in values]), 2),
            }
        )
        if name != BASELINE:
            cpu = median([s["runtime_cpu_ms"] for s in values])
            result.target(
                f"{name} init CPU ≤ {TARGET_FACTOR}× baseline's (in the container)",
                cpu / base_cpu,
                TARGET_FACTOR,
                "× baseline",
            )
            result.target(
                f"{name} init ≤ {TARGET_FACTOR}× baseline (in the container)", init / base, TARGET_FACTOR, "× baseline"
            )
    result.details["samples"] = samples
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--cpus", type=float)
    parser.add_argument("--memory", type=int, help="MB")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    result = run(args.runs, args.cpus, args.memory)
    path = result.write(args.out)
    for row in result.rows:
        print(json.dumps(row))
    for target in result.targets:
        print(f"{'met ' if target.met else 'MISS'} {target.name}: {target.value} (limit {target.limit})")
    print(f"written: {path}")
    return 0 if all(t.met for t in result.targets) else 1


if __name__ == "__main__":
    sys.exit(main())
