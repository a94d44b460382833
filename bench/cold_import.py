"""Cold import: the import cost a Lambda cold start pays, each module in a fresh interpreter.

Each target is imported N times, each time in a new ``python`` process, round-robin across targets so
that drift (CPU frequency, page cache, other work on the machine) hits all of them alike. The number is the
wall time of the import statement itself, measured inside the child with perf_counter (interpreter
start-up, the same for everyone, is reported apart as process wall time); CPU time is recorded beside it.
One warm-up round comes first.

Two series:

- "bytecode": the product's targets on the product's interpreter with ``src/`` first on sys.path, ccxt and
  python-okx on the peers' virtualenv (same base Python), all with their .pyc: the Python-level cost.
- "as shipped" (full mode): how Lambda runs a sam-built package. ``python -S``, sys.path = the folder
  src/Makefile builds (what sam build ships: dependencies as bytecode, since /var/task is read-only and
  nothing is cached between cold starts; the peers as a default sam build ships them, without .pyc), then a
  byte-compiled boto3 standing in for the runtime's, then the standard library.

For the handlers, a ``-X importtime`` breakdown names what they import, its cumulative cost and the part
of it beyond the irreducible baseline (``import boto3, requests, pydantic``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import package_size
from common import PRODUCT_PYTHON, ROOT, SRC, Result, bench_python, median, ms, pinned

HANDLERS = ("probe", "audit", "trade")
BASELINE = "boto3, requests, pydantic"
# label -> {"import": [...], "cpu": [...], "wall": [...]} in seconds
Samples = dict[str, dict[str, list[float]]]
HANDLER_VS_BASELINE = 1.3
CCXT_FACTOR = 2.0
_CHILD = (
    "import time\nt, c = time.perf_counter(), time.process_time()\n{statement}\n"
    "print(time.perf_counter() - t, time.process_time() - c)\n"
)
# `import pydantic` is lazy: the model machinery loads with the first BaseModel. Every pydantic user pays that.
PYDANTIC_IN_USE = "import boto3, requests\nfrom pydantic import BaseModel\nclass Event(BaseModel):\n    name: str = ''"


@dataclass(frozen=True)
class ImportTarget:
    label: str
    module: str  # the text after `import` (for a target that is a single module: its name)
    python: Path
    product: bool  # imports the product's code (src/ on sys.path)
    statement: str = ""  # code to time instead of `import <module>`
    # "as shipped": run with -S (no site-packages) and sys.path = these folders + the standard library,
    # the first one laid out as sam build ships it (no bytecode found or written there).
    shipped_path: tuple[Path, ...] = ()

    @property
    def code(self) -> str:
        return self.statement or f"import {self.module}"


def targets(peers: Path | None, *, smoke: bool) -> tuple[list[ImportTarget], list[str]]:
    found: list[ImportTarget] = [ImportTarget("okxcore.client", "okxcore.client", PRODUCT_PYTHON, True)]
    missing = []
    for name in HANDLERS:
        if (SRC / "handlers" / f"{name}.py").is_file():
            found.append(ImportTarget(f"handlers.{name}", f"handlers.{name}", PRODUCT_PYTHON, True))
        else:
            missing.append(f"handlers.{name}")
    found.append(ImportTarget(BASELINE, BASELINE, PRODUCT_PYTHON, False))
    if peers is not None:
        found.append(ImportTarget("ccxt", "ccxt", peers, False))
        found.append(ImportTarget("okx.Trade (python-okx)", "okx.Trade", peers, False))
    if not smoke:
        # For reading the numbers: the baseline's parts, and ccxt as a Lambda that also publishes to SNS.
        found += [ImportTarget(name, name, PRODUCT_PYTHON, False) for name in ("boto3", "requests", "pydantic")]
        found.append(
            ImportTarget("boto3, requests + a pydantic model", "", PRODUCT_PYTHON, False, statement=PYDANTIC_IN_USE)
        )
        if peers is not None:
            found.append(ImportTarget("ccxt, boto3", "ccxt, boto3", peers, False))
    return found, missing


def child_env(target: ImportTarget) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    # What the Lambda runtime sets before the handler module is imported.
    env.update(
        {
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_SERVICE_NAME": "okx-shield",
            "POWERTOOLS_METRICS_NAMESPACE": "OkxShield",
            # template.yaml sets it for every function: no scan of installed distributions for pydantic plugins
            "PYDANTIC_DISABLE_PLUGINS": "__all__",
            "LAMBDA_TASK_ROOT": str(target.shipped_path[0] if target.shipped_path else SRC),
        }
    )
    if target.shipped_path:
        env["PYTHONPATH"] = os.pathsep.join(str(folder) for folder in target.shipped_path)
        # /var/task is read-only on Lambda: whatever sam build left uncompiled is compiled at every cold start.
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    elif target.product:
        env["PYTHONPATH"] = str(SRC)
    return env


def _run_once(target: ImportTarget, *, importtime: bool = False) -> tuple[float, float, float, str]:
    """(import wall seconds and import CPU seconds measured in the child, process wall seconds, stderr)."""
    argv = [str(target.python)]
    if target.shipped_path:
        argv.append("-S")
    if importtime:
        argv += ["-X", "importtime"]
    argv += ["-c", _CHILD.format(statement=target.code)]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=child_env(target), timeout=120, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"`{target.code}` failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    import_wall, import_cpu = (float(part) for part in done.stdout.strip().splitlines()[-1].split())
    return import_wall, import_cpu, wall, done.stderr


@dataclass(frozen=True)
class ImportRecord:
    level: int  # 0: imported by the -c statement itself
    name: str
    self_us: int
    cumulative_us: int


def parse_importtime(stderr: str) -> list[ImportRecord]:
    """`python -X importtime` output, in its order (a post-order walk: children before their importer)."""
    out: list[ImportRecord] = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        try:
            self_us, cumulative_us, field = line[len("import time:") :].split("|", 2)
        except ValueError:
            continue
        field = field[1:]  # the separator's space; the rest is two spaces per nesting level
        name = field.lstrip(" ")
        out.append(ImportRecord((len(field) - len(name)) // 2, name, int(self_us), int(cumulative_us)))
    return out


def _subtrees(records: list[ImportRecord], root: str, known: set[str], depth: int = 3) -> dict[str, tuple[int, int]]:
    """For each module under the root, down to `depth` levels, keyed "child > grandchild > ...":
    (cumulative us as importtime reports it, self us of the modules in its subtree that are not in `known`).

    A module is charged to the first import that loads it, so siblings partition their parent's cost: the
    level-1 entries add up to the root's whole cost ("import handlers.wiring costs X ms, Y of it beyond the
    baseline").
    """
    index = max(i for i, r in enumerate(records) if r.level == 0 and r.name == root)
    cumulative: dict[str, int] = {}
    beyond: dict[str, int] = defaultdict(int)
    path: list[str] = []
    # Backwards through the root's subtree (a post-order walk reversed: each importer before its imports).
    for record in reversed(records[:index]):
        if record.level == 0:
            break
        path = [*path[: record.level - 1], record.name]
        if record.level <= depth:
            cumulative[" > ".join(path)] = record.cumulative_us
        if record.name in known:
            continue
        for level in range(1, min(len(path), depth) + 1):
            beyond[" > ".join(path[:level])] += record.self_us
    return {name: (us, beyond.get(name, 0)) for name, us in cumulative.items()}


def breakdown(target: ImportTarget, baseline: ImportTarget, runs: int) -> dict[str, Any]:
    """What the target imports beyond the baseline: by the module the target imports, and by package."""
    base_runs = [parse_importtime(_run_once(baseline, importtime=True)[3]) for _ in range(runs)]
    known = {r.name for records in base_runs for r in records}
    by_child: dict[str, list[int]] = defaultdict(list)
    by_child_cumulative: dict[str, list[int]] = defaultdict(list)
    by_package: dict[str, list[int]] = defaultdict(list)
    for _ in range(runs):
        records = parse_importtime(_run_once(target, importtime=True)[3])
        for child, (cumulative_us, extra_us) in _subtrees(records, target.module, known).items():
            by_child[child].append(extra_us)
            by_child_cumulative[child].append(cumulative_us)
        packages: dict[str, int] = defaultdict(int)
        for record in records:
            if record.name not in known:
                packages[record.name.split(".", 1)[0]] += record.self_us
        for package, us in packages.items():
            by_package[package].append(us)
    child_ms = {name: median(values) / 1000 for name, values in by_child.items()}
    child_cumulative_ms = {name: median(values) / 1000 for name, values in by_child_cumulative.items()}
    package_ms = {name: median(values) / 1000 for name, values in by_package.items()}
    return {
        "runs": runs,
        "note": "self time (-X importtime inflates it) of modules the baseline does not load",
        "beyond_baseline_total_ms": round(sum(package_ms.values()), 1),
        # Sorted by path, so that each import is followed by what it costs through its own imports:
        # [cumulative ms, ms beyond the baseline].
        "by_import_ms": {
            name: [round(child_cumulative_ms[name], 1), round(value, 1)]
            for name, value in sorted(child_ms.items())
            if child_cumulative_ms[name] >= 3.0 or value >= 2.0
        },
        "by_package_ms": {
            name: round(value, 1) for name, value in sorted(package_ms.items(), key=lambda kv: -kv[1]) if value >= 0.5
        },
    }


def shipped_targets(work: Path, chosen: list[ImportTarget], peers: Path | None) -> list[ImportTarget]:
    """The same imports as Lambda runs them from a sam-built package: /var/task (src/Makefile's build, as sam
    build runs it), then /var/runtime (boto3, byte-compiled, standing in for the runtime's copy), then the standard
    library; no site-packages. Everything on the base interpreter of the virtualenvs."""
    base = Path(getattr(sys, "_base_executable", sys.executable))
    task, _removed = package_size.product_package(work)
    runtime = work / "runtime"
    # The runtime's boto3, as the product pins it for its tests.
    boto3 = next(
        line.strip() for line in (ROOT / "requirements-dev.txt").read_text().splitlines() if line.startswith("boto3")
    )
    package_size.pip_target([boto3], runtime, compile_pyc=True)
    out = [replace(t, python=base, shipped_path=(task, runtime)) for t in chosen if t.product or t.label == BASELINE]
    if peers is not None:
        for label, module, spec in (("ccxt", "ccxt", "ccxt"), ("okx.Trade (python-okx)", "okx.Trade", "python-okx")):
            folder = work / spec
            package_size.pip_target([pinned(spec)], folder)
            out.append(ImportTarget(label, module, base, False, shipped_path=(folder,)))
    return out


# Which files the import compiled from source: the "compile" audit event fires for every module whose bytecode the
# import system did not take from a .pyc. Run once per target, apart from the timed runs (the hook costs time).
_COMPILED_CHILD = (
    "import sys\ncompiled = []\n"
    "sys.addaudithook(lambda event, args: compiled.append(str(args[1])) if event == 'compile' else None)\n"
    "{statement}\nprint('\\n'.join(name for name in compiled if name.startswith(sys.argv[1])))\n"
)


def compiled_at_import(target: ImportTarget) -> list[str]:
    """The package's files (under the first shipped folder, Lambda's /var/task) that importing the target compiled
    from source: each is compiled again at every cold start, since /var/task is read-only."""
    task = str(target.shipped_path[0])
    argv = [str(target.python), "-S", "-c", _COMPILED_CHILD.format(statement=target.code), task]
    done = subprocess.run(argv, capture_output=True, text=True, env=child_env(target), timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"`{target.code}` failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return [line for line in done.stdout.splitlines() if line]


def measure(chosen: list[ImportTarget], runs: int) -> Samples:
    """label -> {"import": [...], "cpu": [...], "wall": [...]} (seconds), round-robin after one warm-up round."""
    for target in chosen:  # warm-up: bytecode (where written) and page caches
        _run_once(target)
    out: Samples = {t.label: {"import": [], "cpu": [], "wall": []} for t in chosen}
    for _ in range(runs):
        for target in chosen:
            seconds, cpu_seconds, wall, _stderr = _run_once(target)
            out[target.label]["import"].append(seconds)
            out[target.label]["cpu"].append(cpu_seconds)
            out[target.label]["wall"].append(wall)
    return out


def verdicts(result: Result, series: str, chosen: list[ImportTarget], medians: dict[str, float]) -> list[str]:
    """Targets of one series; the labels of the handlers that missed their baseline target."""
    missed = []
    base = medians[BASELINE]
    ccxt = medians.get("ccxt")
    suffix = "" if series == "bytecode" else f" ({series})"
    for target in chosen:
        if not target.label.startswith("handlers."):
            continue
        entry = result.target(
            f"{target.label} import ≤ {HANDLER_VS_BASELINE}× baseline{suffix}",
            medians[target.label] / base,
            HANDLER_VS_BASELINE,
            "× baseline",
        )
        if not entry.met:
            missed.append(target.label)
        result.target(
            f"{target.label} import ≥ {CCXT_FACTOR}× faster than ccxt{suffix}",
            ccxt / medians[target.label] if ccxt else None,
            CCXT_FACTOR,
            "× faster",
            lower_is_better=False,
            note="" if ccxt else "ccxt not installed",
        )
    return missed


def rows_of(result: Result, series: str, chosen: list[ImportTarget], samples: Samples) -> None:
    medians = {label: median(values["import"]) for label, values in samples.items()}
    base = medians[BASELINE]
    ccxt = medians.get("ccxt")
    for target in chosen:
        values = samples[target.label]
        result.rows.append(
            {
                "series": series,
                "target": target.label,
                "import_median_ms": ms(medians[target.label]),
                "import_min_ms": ms(min(values["import"])),
                "import_max_ms": ms(max(values["import"])),
                "import_cpu_median_ms": ms(median(values["cpu"])),
                "process_wall_median_ms": ms(median(values["wall"])),
                "vs_baseline": round(medians[target.label] / base, 2),
                "ccxt_over_this": round(ccxt / medians[target.label], 2) if ccxt else None,
                "python": str(target.python),
                "sys_path_head": [str(f) for f in target.shipped_path] or ([str(SRC)] if target.product else []),
            }
        )


def run(*, smoke: bool) -> Result:
    runs = 2 if smoke else 21
    shipped_runs = 7
    result = Result(
        "cold_import",
        "smoke" if smoke else "full",
        params={
            "runs_per_target": runs,
            "series": {
                "bytecode": "src/ and site-packages with their .pyc (a developer machine; the Python-level cost)",
                "as shipped": "python -S, sys.path = the src/Makefile build (the peers: pip --no-compile), with"
                " PYTHONDONTWRITEBYTECODE=1 (Lambda's /var/task is read-only) + a byte-compiled boto3 standing in"
                " for the runtime's + stdlib",
            },
            "runs_per_target_as_shipped": 0 if smoke else shipped_runs,
        },
    )
    peers = bench_python()
    chosen, missing = targets(peers, smoke=smoke)
    for name in missing:
        result.findings.append(f"{name}: src/handlers/{name.split('.')[1]}.py does not exist yet; not measured")
    if peers is None:
        result.findings.append("ccxt / python-okx not measured: the peers' virtualenv (.venv-bench) is not installed")
    if not any(t.label.startswith("handlers.") for t in chosen):
        result.findings.append("no handler module exists yet: only okxcore.client was measured")

    samples = measure(chosen, runs)
    rows_of(result, "bytecode", chosen, samples)
    missed = verdicts(result, "bytecode", chosen, {k: median(v["import"]) for k, v in samples.items()})

    if smoke:
        result.findings.append("the 'as shipped' series runs in full mode only (it installs ccxt)")
    else:
        with tempfile.TemporaryDirectory(prefix="okx-shield-shipped-") as tmp:
            shipped = shipped_targets(Path(tmp), chosen, peers)
            shipped_samples = measure(shipped, shipped_runs)
            compiled = {t.label: compiled_at_import(t) for t in shipped if t.product}
        result.details["as_shipped_compiled_at_import"] = compiled
        for label, files in compiled.items():
            result.target(
                f"{label}: package files compiled at import (as shipped)",
                float(len(files)),
                0.0,
                "files",
                note=", ".join(files[:5]),
            )
        rows_of(result, "as shipped", shipped, shipped_samples)
        missed += verdicts(result, "as shipped", shipped, {k: median(v["import"]) for k, v in shipped_samples.items()})

    baseline_target = next(t for t in chosen if t.label == BASELINE)
    for target in chosen:
        if target.label.startswith("handlers.") and (target.label in missed or not smoke):
            result.details.setdefault("importtime_beyond_baseline", {})[target.label] = breakdown(
                target, baseline_target, 1 if smoke else 5
            )
    return result
