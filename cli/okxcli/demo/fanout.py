"""The demo's fan-out step: the audit as the AuditFanout state machine runs it, with one shard failing."""

from __future__ import annotations

import contextlib
import io
from typing import TextIO

from okxcli.reports import print_reports
from okxlocal.fanout import execution_input_for, run_fanout
from okxlocal.runner import EVENTS, load_event
from okxlocal.stack import LocalStack

SHARDS = 3
FAILING = 1  # the second shard's function crashes on every attempt


def fanout_step(stack: LocalStack, out: TextIO) -> int:
    """Run template.yaml's state machine in-process over the demo fleet; returns 1 if the run itself failed."""
    out.write(
        f"\n>>> the audit fanned out (okx-shield invoke audit --shards {SHARDS}): template.yaml's state machine,\n"
        f"    {SHARDS} shards, each OKX user's keys in one; shard {FAILING + 1}'s function crashes on every attempt\n"
    )
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            outcome = run_fanout(
                execution_input_for(load_event(EVENTS / "audit.json"), shards=SHARDS), fail_shards=frozenset({FAILING})
            )
    except Exception as error:  # the demo shows failures the way Step Functions would record them
        out.write(f"    the execution failed: {error}\n")
        return 1
    run = outcome.map_run
    attempts = ", ".join(f"shard {i + 1}: {n}" for i, n in sorted(run.attempts.items()))
    waits = ", ".join(f"{w:.0f} s" for w in run.waits_s)
    out.write(
        f"    Map: {run.items} shard(s); attempts {attempts}; retry waits {waits} (recorded, not slept here);\n"
        f"    failed after every attempt: {', '.join(f'shard {i + 1}' for i in run.failed) or 'no shard'}; "
        "the merge published one report:\n"
    )
    print_reports(stack, out)
    return 0
