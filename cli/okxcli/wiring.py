"""Where a command that changes keys or orders runs: the local stack (default) or, with `--real`, for real.

- default: the embedded local stack with the demo fleet (gone when the command ends);
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
from okxcore.errors import InvalidInputError
from okxlocal.demo_fleet import demo_stack
from okxlocal.proxies import ProxyKind


@contextlib.contextmanager
def wiring_for(args: argparse.Namespace) -> Iterator[Wiring]:
    """The local stack unless `args.real`, with `args.proxy` (default https) as the local proxy's Shield form."""
    with contextlib.ExitStack() as scope:
        if args.real:
            check_shell_settings(f"okx-shield {args.command} --real")
        else:
            scope.enter_context(demo_stack(ProxyKind(getattr(args, "proxy", ProxyKind.HTTPS.value))))
            print("(local stack: the demo fleet, gone when this command ends)", file=sys.stderr)
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
