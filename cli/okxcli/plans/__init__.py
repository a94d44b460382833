"""`okx-shield plans`: trade plans in their own files (plans/*.json), checked here and deployed as schedules.

okx-shield plans check [PATH ...]
    Check each plan file (default: the folder plans/) with the trade function's own models: the file's fields,
    the schedule expression, the plan, plan_id = file name, the key secret under the key prefix. Prints every
    problem of every file; exit 2 when there is one.
okx-shield plans deploy [--dir plans] [--dry-run] [--real --stack NAME | --real --config-env ENV]
    Make the stack's plan schedules match the files (plans/deploy.py): create, update, delete. Nothing changes
    when a file fails its check. Without --real, on the local stack. Exit 3 when the Scheduler refused a change.

The file format is in plans/files.py and docs/trading.md, "Trade plans".
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any, TextIO

import boto3

from okxcli.plans.deploy import (
    DeployedStack,
    ScheduleTarget,
    apply,
    changes_for,
    local_target,
    samconfig_stack,
    stack_target,
)
from okxcli.plans.files import DEFAULT_KEY_SECRET_PREFIX, PlanCheck, check_plans
from okxcli.wiring import wiring_for
from okxcore.errors import InvalidInputError

EXIT_OK = 0
EXIT_INVALID = 2
EXIT_NOT_DONE = 3
DEFAULT_DIR = Path("plans")


def register(commands: Any) -> None:
    plans = commands.add_parser("plans", help="trade plans in plans/*.json: check them, deploy them as schedules")
    subcommands = plans.add_subparsers(dest="plans_command", required=True)

    check = subcommands.add_parser("check", help="check plan files with the trade function's own models")
    check.add_argument("paths", nargs="*", type=Path, default=[DEFAULT_DIR], help="plan files or folders (plans/)")
    check.add_argument(
        "--key-secret-prefix",
        default=DEFAULT_KEY_SECRET_PREFIX,
        help=f"the stack's KeySecretPrefix (default {DEFAULT_KEY_SECRET_PREFIX})",
    )
    check.set_defaults(run=run_check)

    deploy = subcommands.add_parser("deploy", help="make the stack's plan schedules match the files")
    deploy.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="the folder of plan files (default plans/)")
    deploy.add_argument("--dry-run", action="store_true", help="print what would change, change nothing")
    deploy.add_argument("--real", action="store_true", help="the deployed stack --stack, with this shell's AWS")
    stack = deploy.add_mutually_exclusive_group()
    stack.add_argument("--stack", help="with --real: the stack's name (stack_name in samconfig.toml)")
    stack.add_argument(
        "--config-env", help="with --real: the stack (and region) of samconfig.toml's environment, e.g. dev or prod"
    )
    deploy.set_defaults(run=run_deploy)


def run_check(args: argparse.Namespace) -> int:
    checked = check_plans(args.paths, key_secret_prefix=args.key_secret_prefix)
    print_check(checked)
    return EXIT_INVALID if checked.problems else EXIT_OK


def print_check(checked: PlanCheck, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    for plan in checked.plans:
        state = "enabled" if plan.file.enabled else "disabled"
        dry = ", dry run" if plan.plan.dry_run else ""
        print(
            f"ok  {plan.path}: {plan.plan_id}, {plan.file.schedule} UTC, {state}{dry}, key {plan.plan.key_secret}",
            file=out,
        )
    for problem in checked.problems:
        print(f"error: {problem.line()}", file=sys.stderr)
    if not checked.plans and not checked.problems:
        print("no plan files found", file=out)


def run_deploy(args: argparse.Namespace) -> int:
    named = args.stack or args.config_env
    if args.real and not named:
        raise InvalidInputError(
            "okx-shield plans deploy",
            "--stack",
            "is missing (--real needs it, or --config-env)",
            hint="Name the stack `sam deploy` made, e.g. --stack okx-shield-dev or --config-env dev.",
        )
    if named and not args.real:
        raise InvalidInputError(
            "okx-shield plans deploy",
            "--stack" if args.stack else "--config-env",
            "needs --real",
            hint="Add --real to deploy to a stack in AWS.",
        )
    with contextlib.ExitStack() as scope:
        if args.real:
            stack = DeployedStack(args.stack) if args.stack else samconfig_stack(args.config_env)
            target = stack_target(stack)
        else:
            scope.enter_context(wiring_for(args))
            target = local_target()
        return deploy(args.dir, target, dry_run=args.dry_run)


def deploy(folder: Path, target: ScheduleTarget, *, dry_run: bool, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    checked = check_plans([folder], key_secret_prefix=target.key_secret_prefix)
    if checked.problems:
        print_check(checked, out)
        print("Nothing was deployed: fix the plan files first.", file=out)
        return EXIT_INVALID
    client = boto3.client("scheduler", region_name=target.region)
    changes = changes_for(client, target, checked.plans)
    verb = "would change" if dry_run else "changes"
    print(f"Plan schedules of {target.where} (group {target.group}): {verb}", file=out)
    for change in changes:
        print(change.line(), file=out)
    if dry_run:
        return EXIT_OK
    failures = apply(client, target, [c for c in changes if c.action != "unchanged"])
    for failure in failures:
        print(f"error: schedule {failure.name} was not changed: {failure.error}", file=sys.stderr)
    done = sum(c.action != "unchanged" for c in changes) - len(failures)
    print(f"{done} schedule(s) changed, {len(failures)} refused.", file=out)
    return EXIT_NOT_DONE if failures else EXIT_OK
