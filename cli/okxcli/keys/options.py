"""What every `okx-shield keys` subcommand takes: the master key's secret, --real, the local proxy's form."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from handlers.wiring import Wiring
from okxcli.wiring import wiring_for
from okxcore.errors import InvalidInputError
from okxlocal.proxies import ProxyKind

SOURCE = "okx-shield keys"

Subcommand = Callable[[argparse.Namespace, Wiring], int]


def add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--master-secret", help="the main account's key secret (default: MASTER_KEY_SECRET_NAME)")
    parser.add_argument("--real", action="store_true", help="real AWS and OKX, configured by the environment")
    parser.add_argument(
        "--proxy",
        choices=[kind.value for kind in ProxyKind],
        help="a fresh local stack's Shield form (default https); a stack that is up keeps its own",
    )


def run_in_wiring(args: argparse.Namespace, subcommand: Subcommand) -> int:
    with wiring_for(args) as wiring:
        return subcommand(args, wiring)


def master_secret_name(args: argparse.Namespace, wiring: Wiring) -> str:
    name: str = args.master_secret or wiring.settings.master_key_secret_name
    if not name:
        raise InvalidInputError(
            SOURCE,
            "--master-secret",
            "is missing",
            hint="Name the main account's key secret, or set MASTER_KEY_SECRET_NAME.",
        )
    return name
