"""Package size: the unzipped size of what `sam build` puts in each function's package.

The product: src/Makefile's build target, which is what `sam build` runs (BuildMethod: makefile): pinned
dependencies shipped as bytecode, src/okxcore and src/handlers with their source and bytecode; boto3 is
left to the Lambda runtime. Every function has CodeUri src/ and the same requirements, so one package
stands for each of them. The peers are installed with ``pip install --no-compile --target``, each into its
own folder (what a default `sam build` of them would ship).

Sizes are the sum of file sizes (what counts toward Lambda's 250 MB unzipped limit), grouped by the
distribution that installed them (their dist-info RECORD).
"""

from __future__ import annotations

import csv
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from common import PRODUCT_PYTHON, SRC, Result, pinned

RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")
TARGET_MB = 15.0
MB = 1024 * 1024


def pip_target(requirements: list[str], target: Path, *, compile_pyc: bool = False) -> None:
    argv = [str(PRODUCT_PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    argv.append("--compile" if compile_pyc else "--no-compile")
    argv += ["--target", str(target), *requirements]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"pip install {' '.join(requirements)} failed: {done.stderr.strip()[-2000:]}")


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _normalise(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "_")


def by_distribution(folder: Path) -> dict[str, int]:
    """Bytes per installed distribution (from RECORD); files no RECORD claims are listed under their path."""
    sizes: dict[str, int] = {}
    claimed: set[Path] = set()
    for dist_info in folder.glob("*.dist-info"):
        name = dist_info.name[: -len(".dist-info")].rsplit("-", 1)[0]
        total = 0
        record = dist_info / "RECORD"
        if record.is_file():
            with record.open(newline="") as handle:
                for row in csv.reader(handle):
                    if not row:
                        continue
                    path = (folder / row[0]).resolve()
                    if path in claimed or not path.is_file():
                        continue
                    claimed.add(path)
                    total += path.stat().st_size
        sizes[name] = total
    for path in folder.rglob("*"):
        if path.is_file() and path.resolve() not in claimed:
            top = path.relative_to(folder).parts[0]
            sizes[top] = sizes.get(top, 0) + path.stat().st_size
    return sizes


def drop_runtime_provided(folder: Path) -> list[str]:
    removed = []
    for item in list(folder.iterdir()):
        stem = item.name.split("-", 1)[0] if item.name.endswith(".dist-info") else item.name
        if _normalise(stem) in RUNTIME_PROVIDED:
            removed.append(item.name)
            shutil.rmtree(item) if item.is_dir() else item.unlink()
    return removed


def product_package(work: Path) -> tuple[Path, list[str]]:
    """The function package as `sam build` makes it: src/Makefile's build (deps as bytecode, our code with
    its source), for this machine's architecture so that the cold-import benchmark can run it here (the
    deployed arm64 package differs only in pydantic_core's compiled extension)."""
    folder = work / "okx-shield"
    done = subprocess.run(
        [
            "make",
            "-s",
            "-C",
            str(SRC),
            "build-ProbeFunction",
            f"ARTIFACTS_DIR={folder}",
            f"LAMBDA_PLATFORM=manylinux2014_{platform.machine()}",
            f"PYTHON={PRODUCT_PYTHON}",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"src/Makefile build failed: {done.stderr.strip()[-2000:]}")
    return folder, drop_runtime_provided(folder)


def _row(label: str, folder: Path, top: int = 8) -> dict[str, Any]:
    sizes = by_distribution(folder)
    total = sum(sizes.values())
    largest = sorted(sizes.items(), key=lambda item: -item[1])[:top]
    return {
        "package": label,
        "total_mb": round(total / MB, 2),
        "files": sum(1 for p in folder.rglob("*") if p.is_file()),
        "largest_mb": {name: round(size / MB, 2) for name, size in largest},
    }


def _compiled_mb(folder: Path) -> float:
    """Size after byte-compiling everything (what a pip install into a virtualenv leaves on disk)."""
    subprocess.run(
        [str(PRODUCT_PYTHON), "-m", "compileall", "-q", "-j", "0", str(folder)],
        capture_output=True,
        timeout=900,
        check=False,
    )
    return round(_size(folder) / MB, 2)


def run(*, smoke: bool) -> Result:
    result = Result("package_size", "smoke" if smoke else "full", params={"pip": "install --no-compile --target"})
    with tempfile.TemporaryDirectory(prefix="okx-shield-size-") as tmp:
        work = Path(tmp)
        folder, removed = product_package(work)
        row = _row("okx-shield (src/requirements.txt + src/, boto3 left to the runtime)", folder)
        row["removed_runtime_provided"] = removed
        result.rows.append(row)
        result.target("okx-shield function package (unzipped)", row["total_mb"], TARGET_MB, "MB")
        if removed:
            result.findings.append(f"removed as provided by the Lambda runtime: {', '.join(sorted(removed))}")
        if smoke:
            result.findings.append("ccxt / python-okx sizes are measured in full mode only (installing ccxt is slow)")
            return result
        # The peers, installed the same way (their own dependencies included, boto3 not involved).
        for name, dist in (("ccxt", "ccxt"), ("python-okx", "python_okx")):
            spec = pinned(name)
            peer_folder = work / name
            pip_target([spec], peer_folder)
            peer = _row(spec, peer_folder)
            peer["own_package_mb"] = round(by_distribution(peer_folder).get(dist, 0) / MB, 2)
            result.rows.append(peer)
        for entry, path, own in (
            (row, folder, None),
            *((r, work / n, n) for r, n in zip(result.rows[1:], ("ccxt", "python-okx"), strict=True)),
        ):
            entry["total_mb_with_pyc"] = _compiled_mb(path)
            if own == "ccxt":
                entry["own_package_mb_with_pyc"] = round(_size(path / "ccxt") / MB, 2)
    return result
