"""Where a command runs: the local stack (default) or, with `--real`, for real.

- default: the stack `okx-shield up` keeps, when one is up (okxlocal.attached), so that one command sees what
  another did; else a fresh embedded stack with the demo fleet, gone when the command ends;
- `--real`: this shell's AWS credentials and the environment variables of template.yaml (SHIELD_SECRET_NAME,
  REPORT_TOPIC_ARN, STATE_TABLE_NAME, MASTER_KEY_SECRET_NAME, ...), as `okx-shield invoke --real`, and real OKX.
Either way the command gets a handler's Wiring, built from that environment as a Lambda builds it.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator

from handlers.settings import RuntimeSettings
from handlers.wiring import Wiring
from okxcli.reports import ReportSource
from okxcore.errors import InvalidInputError
from okxlocal.attached import attached, read_record, state_dir
from okxlocal.demo_fleet import demo_stack
from okxlocal.proxies import ProxyKind


@contextlib.contextmanager
def local_stack_for(args: argparse.Namespace) -> Iterator[ReportSource]:
    """The stack `okx-shield up` keeps, if one is up; else a fresh one with the demo fleet and `args.proxy`'s
    Shield form (default https), for this command alone."""
    proxy = getattr(args, "proxy", None)
    folder = state_dir()
    record = read_record(folder)
    if record is None:
        with demo_stack(ProxyKind(proxy or ProxyKind.HTTPS.value)) as stack:
            print(
                "(a fresh local stack with the demo fleet, gone when this command ends; `okx-shield up` keeps one)",
                file=sys.stderr,
            )
            yield stack
        return
    if proxy and proxy != record.proxy:
        raise InvalidInputError(
            f"okx-shield {args.command}",
            "--proxy",
            f"the local stack that is up (pid {record.pid}) has the {record.proxy} proxy",
            hint=f"Leave --proxy out, or restart it: okx-shield down && okx-shield up --proxy {proxy}.",
        )
    with attached(record, folder) as stack:
        print(f"(the local stack `okx-shield up` keeps: pid {record.pid}, {folder})", file=sys.stderr)
        yield stack


@contextlib.contextmanager
def wiring_for(args: argparse.Namespace) -> Iterator[Wiring]:
    """The local stack unless `args.real` (local_stack_for), as a handler's Wiring."""
    with contextlib.ExitStack() as scope:
        if args.real:
            check_shell_settings(f"okx-shield {args.command} --real")
        else:
            scope.enter_context(local_stack_for(args))
        yield Wiring.from_environ()


def check_shell_settings(command: str) -> None:
    """--real reads this shell's environment as a function reads its own: every missing or invalid variable is
    named at once, with where to set it here (not template.yaml)."""
    try:
        RuntimeSettings.from_environ()
    except InvalidInputError as exc:
        raise InvalidInputError.from_problems(
            f"this shell's environment ({command})",
            exc.problems,
            hint="Export them here, as the deployed functions have them (the stack's outputs name the topic, the "
            "table and the secrets), e.g. export SHIELD_SECRET_NAME=okx-shield/shield.",
        ) from None
