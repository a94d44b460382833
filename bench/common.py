"""What every benchmark shares: paths, the two interpreters, statistics, machine facts and the result file.

Every benchmark writes one JSON document of the same shape (see ``Result``), so the smoke test can check
them all the same way and ``run.py`` can print one table from them.
"""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
DEFAULT_OUT = BENCH_DIR / "out"
SRC = ROOT / "src"
BENCH_VENV = ROOT / ".venv-bench"
BENCH_REQUIREMENTS = BENCH_DIR / "requirements.txt"
# The product's interpreter is the one running the benchmarks (the Makefile uses .venv/bin/python).
PRODUCT_PYTHON = Path(sys.executable)
# What template.yaml gives every function before the handler module is imported.
TEMPLATE_ENV = {
    "POWERTOOLS_SERVICE_NAME": "okx-shield",
    "POWERTOOLS_METRICS_NAMESPACE": "OkxShield",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "PYDANTIC_DISABLE_PLUGINS": "__all__",
    "SHIELD_CONNECT_TIMEOUT_S": "5",
    "SHIELD_HANDSHAKE_TIMEOUT_S": "10",
}


def bench_python() -> Path | None:
    """The interpreter of the peers' virtualenv (ccxt, python-okx), or None when it is not installed."""
    python = BENCH_VENV / "bin" / "python"
    return python if (BENCH_VENV / ".installed").is_file() and python.is_file() else None


def pinned(name: str) -> str:
    """The pinned requirement line for ``name`` in bench/requirements.txt (e.g. ``ccxt==4.5.90``)."""
    for line in BENCH_REQUIREMENTS.read_text().splitlines():
        spec = line.split("#", 1)[0].strip()
        if re.match(rf"{re.escape(name)}\s*==", spec, flags=re.IGNORECASE):
            return spec
    raise KeyError(f"{name} is not pinned in {BENCH_REQUIREMENTS}")


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile: with 200 samples p99 is the 2nd largest, never an interpolation."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))  # ceil without floats drifting
    return float(ordered[int(rank) - 1])


def ms(seconds: float) -> float:
    return round(seconds * 1000.0, 3)


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
    except (OSError, StopIteration, ValueError):
        mem_kb = 0
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        # Other work on the machine skews timings: the 1-minute load when this benchmark started.
        "loadavg_1m_at_start": round(os.getloadavg()[0], 2),
    }


@dataclass
class Target:
    """One target of the issue: what was measured, the limit, and whether it was met (None: not measured)."""

    name: str
    value: float | None
    limit: float
    unit: str
    met: bool | None
    note: str = ""


@dataclass
class Result:
    benchmark: str
    mode: str  # "smoke" | "full"
    params: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    started_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    duration_s: float = 0.0
    machine: dict[str, Any] = field(default_factory=machine)

    def target(
        self, name: str, value: float | None, limit: float, unit: str, *, lower_is_better: bool = True, note: str = ""
    ) -> Target:
        met = None if value is None else (value <= limit if lower_is_better else value >= limit)
        entry = Target(name, None if value is None else round(value, 3), limit, unit, met, note)
        self.targets.append(entry)
        return entry

    def write(self, out_dir: Path) -> Path:
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{self.benchmark}.json"
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=False, default=str) + "\n")
        return path


def scrub(text: str, secrets: list[str]) -> str:
    """Hide secrets (proxy password, API secret, passphrase, key) in text that leaves a benchmark."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
