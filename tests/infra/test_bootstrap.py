"""scripts/bootstrap.sh installs what each command needs and no more, and says what it is doing while it does it.

Run against a stand-in python3 (it records what it was asked and answers like pip), so nothing is installed."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FAKE_PYTHON = """#!/usr/bin/env bash
echo "$0 $*" >> "$BOOTSTRAP_LOG"
if [ "$1 $2" = "-m venv" ]; then
  mkdir -p "$3/bin" && cp "$0" "$3/bin/python" && exit 0
fi
if [ "$1 $2 $3" = "-m pip install" ]; then
  echo "Collecting some-package==1.0"
  echo "  Downloading some_package-1.0-py3-none-any.whl (10 kB)"
  echo "Successfully installed some-package-1.0"
fi
"""


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The files bootstrap.sh reads, and a PATH where the proxy programs exist and python3 is the stand-in."""
    repo = tmp_path / "repo"
    for name in (
        "scripts/bootstrap.sh",
        "requirements-dev.txt",
        "requirements-tools.txt",
        "pyproject.toml",
        "src/requirements.txt",
        "tests/clients/requirements.txt",
    ):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, repo / name)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for program in ("microsocks", "stunnel", "tinyproxy", "curl"):
        (bin_dir / program).write_text("#!/bin/sh\n")
    (bin_dir / "python3").write_text(FAKE_PYTHON)
    for path in bin_dir.iterdir():
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return repo


def bootstrap(repo: Path, *args: str) -> tuple[str, str]:
    log = repo / "calls.log"
    env = {**os.environ, "PATH": f"{repo.parent / 'bin'}:/usr/bin:/bin", "BOOTSTRAP_LOG": str(log)}
    env.pop("PYTHON", None)
    done = subprocess.run(
        ["bash", "scripts/bootstrap.sh", *args], cwd=repo, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout, log.read_text() if log.exists() else ""


def test_the_demo_gets_only_its_virtualenv_and_each_step_says_so(checkout):
    out, calls = bootstrap(checkout)
    assert (checkout / ".venv" / ".installed").exists()
    assert not (checkout / ".venv-tools").exists() and not (checkout / ".venv-clients").exists()
    assert "requirements-tools.txt" not in calls  # no sam, no checkov for the demo
    assert "==> .venv: okx-shield and its pinned Python packages (first run: about 1-2 minutes)" in out
    assert "    Collecting some-package==1.0" in out  # pip's progress, one line per package
    assert "Downloading" not in out and "done in" in out
    # a second run has nothing to do and says nothing
    out, _ = bootstrap(checkout)
    assert out == ""


def test_tools_and_clients_come_only_when_asked_for(checkout):
    out, calls = bootstrap(checkout, "--tools", "--clients")
    assert (checkout / ".venv-tools" / ".installed").exists() and (checkout / ".venv-clients" / ".installed").exists()
    assert "-r requirements-tools.txt" in calls and "-r tests/clients/requirements.txt" in calls
    assert "==> .venv-tools: the AWS SAM CLI and checkov" in out


def test_an_unknown_option_is_refused(checkout):
    done = subprocess.run(["bash", "scripts/bootstrap.sh", "--tool"], cwd=checkout, capture_output=True, text=True)
    assert done.returncode == 2 and "unknown option --tool" in done.stderr


def test_make_demo_does_not_ask_for_the_tools():
    makefile = (ROOT / "Makefile").read_text()
    setup = makefile.split("\nsetup:")[1].split("\n\n")[0]
    assert "bootstrap.sh" in setup and "--tools" not in setup
    assert "demo: setup\n" in makefile
