"""`okx-shield invoke audit --shards N`: the fanned-out audit on the local stack, as Step Functions runs it.

Without --shards, `invoke audit` runs the scheduled handler; when that handler starts the state machine (the
fleet is larger than AUDIT_KEYS_PER_SHARD), the execution it started in moto is run here, in-process.
"""

from __future__ import annotations

from typing import Any

from okxcore.errors import InvalidInputError


def invoke_sharded(event: dict[str, Any], shards: int) -> dict[str, Any]:
    """Plan, shard and merge the event's fleet into about `shards` shards; the merged report is the result."""
    from okxlocal.fanout import execution_input_for, run_fanout

    if shards < 1:
        raise InvalidInputError("okx-shield invoke", "--shards", "must be at least 1")
    outcome = run_fanout(execution_input_for(event, shards=shards))
    return _with_map_run(outcome)


def follow_fan_out(result: dict[str, Any]) -> dict[str, Any]:
    """The scheduled audit's result, or, when it started the state machine, that execution's merged report."""
    if not result.get("fanned_out"):
        return result
    from okxlocal.fanout import run_fanout, started_execution_input

    outcome = run_fanout(started_execution_input(str(result["execution_arn"])))
    return {"started": result, **_with_map_run(outcome)}


def _with_map_run(outcome: Any) -> dict[str, Any]:
    run = outcome.map_run
    return {
        "map_run": {"items": run.items, "failed_items": run.failed, "attempts": run.attempts},
        "report": outcome.merged,
    }
