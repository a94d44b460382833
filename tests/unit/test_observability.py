"""The functions' logs carry no warning of Powertools' for an invocation without a metric of its own (a fan-out
step, a cleanup with nothing to do): run in a fresh interpreter, as Lambda runs a handler, since pytest replaces
the process's warning filters for each test (pyproject.toml filters the same warning for the tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

INVOCATION = """
from handlers.observability import metrics

@metrics.log_metrics()
def handler(event, context):
    return "done"

print(handler({}, None))
"""


def test_an_invocation_without_metrics_logs_no_powertools_warning() -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "PYTHONWARNINGS": "default",  # every warning shown, as a Lambda runtime would log it
        "POWERTOOLS_METRICS_NAMESPACE": "OkxShield",
    }
    done = subprocess.run(
        [sys.executable, "-c", INVOCATION], capture_output=True, text=True, env=env, timeout=60, check=False
    )

    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("done")
    assert "Warning" not in done.stderr, done.stderr[-2000:]
