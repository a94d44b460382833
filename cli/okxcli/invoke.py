"""`okx-shield invoke FUNCTION --event FILE`: one Lambda handler in-process (Docker-free `sam local invoke`).

On the local stack by default (the demo fleet), or with `--real` against real AWS and OKX. Like `sam local
invoke`, the function's logs (and here its SNS reports) go to stderr and its result to stdout.

The event's `scheduled_time` is kept, as a deployed function gets it: a trade plan whose slot is older than its
caps.max_delay_s is skipped here as it would be there. `--now` replaces it with the current time (a fresh slot).
`--plan FILE` (trade) delivers a plan file of plans/ as its schedule would, for a slot of now.

`--shards N` (audit, local stack only): the fanned-out audit as Step Functions runs it, planned, sharded and
merged into about N shards. Without --shards, when the scheduled audit starts the state machine (the fleet is
larger than AUDIT_KEYS_PER_SHARD), the execution it started in moto is run here, in-process.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from okxcli.logs import handler_logs_to
from okxcli.plans.files import check_plans
from okxcli.reports import print_reports
from okxcli.wiring import check_shell_settings, local_stack_for
from okxcore.errors import InvalidInputError
from okxlocal.fanout import FanoutOutcome, execution_input_for, run_fanout, started_execution_input
from okxlocal.proxies import ProxyKind
from okxlocal.runner import invoke, load_event, scheduled_now


def register(commands: Any) -> None:
    invoke = commands.add_parser("invoke", help="run one Lambda handler in-process (Docker-free sam local invoke)")
    invoke.add_argument("function", choices=["probe", "audit", "trade", "rotate"])
    source = invoke.add_mutually_exclusive_group(required=True)
    source.add_argument("--event", type=Path, help="event JSON, e.g. events/probe.json")
    source.add_argument(
        "--plan",
        type=Path,
        help="trade only: a plan file, e.g. plans/dca-btc-daily.json, delivered as its schedule would deliver it now",
    )
    invoke.add_argument(
        "--real",
        action="store_true",
        help="use real AWS and OKX with this shell's AWS credentials and environment variables "
        "(SHIELD_SECRET_NAME, REPORT_TOPIC_ARN, STATE_TABLE_NAME, ...) instead of the local stack",
    )
    invoke.add_argument(
        "--now",
        action="store_true",
        help="replace the event's scheduled_time with the current time (a fresh slot); without it the file's is kept",
    )
    invoke.add_argument(
        "--proxy",
        choices=[k.value for k in ProxyKind],
        help="a fresh local stack's Shield form (default https); a stack that is up keeps its own",
    )
    invoke.add_argument("--shards", type=int, help="audit only: run the fan-out state machine with about N shards")
    invoke.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Like `sam local invoke`: the function's logs (and here its SNS reports) on stderr, its result on stdout."""
    if args.shards is not None and (args.function != "audit" or args.real):
        raise InvalidInputError("okx-shield invoke", "--shards", "applies to the audit on the local stack only")
    event = plan_event(args) if args.plan is not None else load_event(args.event, fresh_slot=args.now)
    if args.real:
        check_shell_settings("okx-shield invoke --real")
    with contextlib.ExitStack() as scope:
        scope.enter_context(handler_logs_to(sys.stderr))
        scope.enter_context(contextlib.redirect_stdout(sys.stderr))  # EMF metrics are printed
        stack = None if args.real else scope.enter_context(local_stack_for(args))
        try:
            if args.function == "audit" and stack is not None:  # the fan-out runs in-process
                sharded = args.shards is not None
                result = invoke_sharded(event, args.shards) if sharded else follow_fan_out(invoke("audit", event))
            else:
                result = invoke(args.function, event)
        finally:
            if stack is not None:
                print_reports(stack, sys.stderr)
    print(json.dumps(result, indent=2, default=str))
    return 0


def plan_event(args: argparse.Namespace) -> dict[str, Any]:
    """The Input a plan file's schedule would deliver for a slot of now (a plan file has no time of its own)."""
    if args.function != "trade":
        raise InvalidInputError("okx-shield invoke", "--plan", "applies to the trade function only")
    checked = check_plans([args.plan])
    checked.raise_for_problems()
    [plan] = checked.plans
    return plan.event_at(scheduled_now())


def invoke_sharded(event: dict[str, Any], shards: int) -> dict[str, Any]:
    """Plan, shard and merge the event's fleet into about `shards` shards; the merged report is the result."""
    if shards < 1:
        raise InvalidInputError("okx-shield invoke", "--shards", "must be at least 1")
    outcome = run_fanout(execution_input_for(event, shards=shards))
    return _with_map_run(outcome)


def follow_fan_out(result: dict[str, Any]) -> dict[str, Any]:
    """The scheduled audit's result, or, when it started the state machine, that execution's merged report."""
    if not result.get("fanned_out"):
        return result
    outcome = run_fanout(started_execution_input(str(result["execution_arn"])))
    return {"started": result, **_with_map_run(outcome)}


def _with_map_run(outcome: FanoutOutcome) -> dict[str, Any]:
    run = outcome.map_run
    return {
        "map_run": {"items": run.items, "failed_items": run.failed, "attempts": run.attempts},
        "report": outcome.merged,
    }

