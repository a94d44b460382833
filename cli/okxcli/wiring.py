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

from handlers.wiring import Wiring
from okxlocal.demo_fleet import demo_stack
from okxlocal.proxies import ProxyKind


@contextlib.contextmanager
def wiring_for(args: argparse.Namespace) -> Iterator[Wiring]:
    """The local stack unless `args.real`, with `args.proxy` as the local proxy's Shield form."""
    with contextlib.ExitStack() as scope:
        if not args.real:
            scope.enter_context(demo_stack(ProxyKind(args.proxy)))
            print("(local stack: the demo fleet, gone when this command ends)", file=sys.stderr)
        yield Wiring.from_environ()
