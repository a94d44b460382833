"""The demo's last step: the trade plans of plans/ and a local stack that remembers, as a user types them.

Each command runs as its own program against a stack `okx-shield up --background` keeps in a scratch folder, so
what one does (an order, the plans' schedules) the next one sees; then `okx-shield down`. Only the lines that
tell the story are shown.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from okxlocal.attached import STATE_DIR_VARIABLE
from okxlocal.template import ROOT


def _not_a_note(line: str) -> bool:
    return not line.startswith("(")


STEPS: list[tuple[list[str], Callable[[str], bool]]] = [
    (["plans", "check"], lambda line: line.startswith("ok ")),
    (
        ["up", "--background"],
        lambda line: line.startswith(("okx-shield local stack: up", "  OKX simulator", "  Shield ")),
    ),
    (["invoke", "trade", "--plan", "plans/eth-weekly-bid.json"], lambda line: line.startswith("SNS  Subject:")),
    (["orders", "--key-secret", "okx-shield/keys/bot-main", "--plan", "eth-weekly-bid"], _not_a_note),
    (["plans", "deploy"], _not_a_note),
    (["down"], _not_a_note),
]


def show_local_stack(out: TextIO) -> int:
    """The step's failures: a command that did not succeed."""
    out.write(
        "\n>>> The trade plans (plans/*.json) and a local stack that remembers (okx-shield up), as you type them\n"
    )
    failures = 0
    with tempfile.TemporaryDirectory(prefix="okx-shield-demo-") as folder:
        environment = {**os.environ, STATE_DIR_VARIABLE: folder}
        try:
            for argv, shown in STEPS:
                failures += _run(argv, shown, environment, out)
        finally:
            if (Path(folder) / "stack.json").exists():  # a step failed before `down`
                _run(["down"], lambda line: False, environment, out)
    return failures


def _run(argv: list[str], shown: Callable[[str], bool], environment: dict[str, str], out: TextIO) -> int:
    out.write(f"$ okx-shield {' '.join(argv)}\n")
    done = subprocess.run(  # noqa: S603 - this interpreter running this CLI
        [sys.executable, "-m", "okxcli", *argv],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    for line in (done.stdout + done.stderr).splitlines():
        if shown(line):  # a report is shown by its subject (the SNS messages themselves are above)
            out.write(f"  {line.replace('SNS  Subject:', 'report:')}\n")
    if done.returncode != 0:
        out.write(f"  the command failed (exit {done.returncode}): {done.stderr.strip().splitlines()[-1:]}\n")
        return 1
    return 0
