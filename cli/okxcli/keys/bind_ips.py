"""`okx-shield keys bind-ips --secret NAME [--apply] [--remove-ip IP]...`: bind both Shield IPs to a sub-account key.

It keeps every IP the key has, and removes only an IP named with --remove-ip. Without --apply it only prints
what would change. An --remove-ip that is not an IP address or CIDR block stops the command before anything is
read (exit 2, naming --remove-ip); one the key does not have stops it before anything is written (exit 3).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from handlers.wiring import Wiring
from okxcli.exits import EXIT_FAILED, EXIT_OK
from okxcli.keys.options import add_common_options, master_secret_name, run_in_wiring
from okxcore.errors import InvalidInputError
from okxcore.keys.repair.binding import Outcome, RepairResult
from okxcore.keys.repair.locate import KeyToLocate, repair_secret_key
from okxcore.keys.repair.modes import RepairMode
from okxcore.models import is_ip_entry


def register(subcommands: Any) -> None:
    bind = subcommands.add_parser(
        "bind-ips", help="bind both Shield IPs to a sub-account key, keeping its IPs (plan unless --apply)"
    )
    bind.add_argument("--secret", required=True, help="the key's secret name in Secrets Manager")
    bind.add_argument("--apply", action="store_true", help="make the change (default: print what would change)")
    bind.add_argument(
        "--remove-ip",
        action="append",
        default=[],
        metavar="IP",
        type=ip_entry,
        help="also remove this IP from the key, written as the key lists it (repeatable); nothing is removed "
        "unless named here",
    )
    add_common_options(bind)
    bind.set_defaults(run=lambda args: run_in_wiring(args, bind_ips))


def ip_entry(text: str) -> str:
    """--remove-ip's value: an IP address or CIDR block, or argparse's error naming the option (exit 2)."""
    if not is_ip_entry(text.strip()):
        raise argparse.ArgumentTypeError(f"{text!r} is not an IP address or CIDR block")
    return text.strip()


def bind_ips(args: argparse.Namespace, wiring: Wiring) -> int:
    mode: RepairMode = "apply" if args.apply else "plan"
    result = bind_ips_with(
        wiring, args.secret, mode=mode, master_secret=master_secret_name(args, wiring), remove=tuple(args.remove_ip)
    )
    print_result(result, args.secret, sys.stdout)
    done = {Outcome.UNCHANGED, Outcome.PLANNED, Outcome.APPLIED}
    return EXIT_OK if all(item.outcome in done for item in result.items) else EXIT_FAILED


def bind_ips_with(
    wiring: Wiring, secret: str, *, mode: RepairMode, master_secret: str, remove: tuple[str, ...] = ()
) -> RepairResult:
    """The repair of one secret's key with a handler's wiring (the demo calls this too)."""
    endpoint = wiring.shield()
    if not endpoint.expected_ips:
        raise InvalidInputError(
            "Shield secret", "expected_ips", "is missing", hint="The repair binds Shield's two static IPs: list them."
        )
    master_key = wiring.load_key(master_secret)
    key = wiring.load_key(secret)
    target = KeyToLocate(secret, key.display_name(secret), key.api_key.get_secret_value())
    return repair_secret_key(
        wiring.client(master_key, record_use=False),
        master_secret,
        target,
        key_client=wiring.client(key, record_use=False),
        shield_ips=endpoint.expected_ips,
        mode=mode,
        actor="okx-shield keys bind-ips",
        recorder=wiring.state,
        remove=remove,
    )


def print_result(result: RepairResult, secret: str, out: TextIO) -> None:
    heading = "plan: nothing is changed at OKX" if result.mode == "plan" else "apply"
    out.write(f"okx-shield keys bind-ips {secret} ({heading})\n")
    for item in result.items:
        out.write(f"  result: {item.outcome.value}: {item.message}\n")
        if item.before is not None:
            out.write(f"  before: {', '.join(item.before) or '(no IP)'}\n")
        if item.after is not None:
            out.write(f"  after:  {', '.join(item.after) or '(no IP)'}\n")
        if item.remediation:
            out.write(f"  next:   {item.remediation}\n")
