"""`okx-shield keys`: changing OKX keys through the master key, on the local stack (default) or for real.

okx-shield keys bind-ips --secret NAME [--apply] [--remove-ip IP]...
    Bind both Shield IPs to the sub-account key held in secret NAME, keeping every IP it has. Without --apply
    it only prints what would change.
okx-shield keys rotate --secret NAME [--dry-run]
    Replace the sub-account key held in secret NAME with a new one (the rotation function's four steps);
    --dry-run prints what it would do (local/okxlocal/cli_keys_rotate.py).

Every `keys` subcommand takes the same options (`add_common_options`) and runs inside `keys_wiring`:
- default: the embedded local stack with the demo fleet (gone when the command ends);
- `--real`: this shell's AWS credentials and the environment variables of template.yaml (SHIELD_SECRET_NAME,
  REPORT_TOPIC_ARN, STATE_TABLE_NAME, MASTER_KEY_SECRET_NAME, ...), as `okx-shield invoke --real`, and real OKX.
A subcommand is a function (args, wiring) -> exit code, registered in `register`.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TextIO

from okxcore.errors import InvalidInputError

if TYPE_CHECKING:
    from handlers.wiring import Wiring
    from okxcore.keys.repair.binding import RepairResult
    from okxcore.keys.repair.modes import RepairMode

EXIT_OK = 0
EXIT_NOT_DONE = 3  # the change is needed but was not made (refused, failed, manual steps)
SOURCE = "okx-shield keys"

Subcommand = Callable[[argparse.Namespace, "Wiring"], int]


def register(commands: Any) -> None:
    """Adds `keys` and its subcommands to the top-level parser's subcommands."""
    from okxlocal.cli_keys_rotate import add_rotate

    keys = commands.add_parser("keys", help="change OKX keys through the master key (bind-ips, rotate)")
    subcommands = keys.add_subparsers(dest="keys_command", required=True)

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
        help="also remove this IP from the key (repeatable); nothing is removed unless named here",
    )
    add_common_options(bind)
    bind.set_defaults(run=lambda args: run_in_wiring(args, bind_ips))
    add_rotate(subcommands)


def add_common_options(parser: argparse.ArgumentParser) -> None:
    from okxlocal.proxies import ProxyKind

    parser.add_argument("--master-secret", help="the main account's key secret (default: MASTER_KEY_SECRET_NAME)")
    parser.add_argument("--real", action="store_true", help="real AWS and OKX, configured by the environment")
    parser.add_argument(
        "--proxy",
        choices=[kind.value for kind in ProxyKind],
        default="https",
        help="local stack only: the Shield form of the local proxy",
    )


def run_in_wiring(args: argparse.Namespace, subcommand: Subcommand) -> int:
    with keys_wiring(args) as wiring:
        return subcommand(args, wiring)


@contextlib.contextmanager
def keys_wiring(args: argparse.Namespace) -> Iterator[Wiring]:
    from handlers.wiring import Wiring

    with contextlib.ExitStack() as scope:
        if not args.real:
            from okxlocal.demo_fleet import demo_stack
            from okxlocal.proxies import ProxyKind

            scope.enter_context(demo_stack(ProxyKind(args.proxy)))
            print("(local stack: the demo fleet, gone when this command ends)", file=sys.stderr)
        yield Wiring.from_environ()


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


def bind_ips(args: argparse.Namespace, wiring: Wiring) -> int:
    mode: RepairMode = "apply" if args.apply else "plan"
    result = bind_ips_with(
        wiring, args.secret, mode=mode, master_secret=master_secret_name(args, wiring), remove=tuple(args.remove_ip)
    )
    print_result(result, args.secret, sys.stdout)
    from okxcore.keys.repair.binding import Outcome

    done = {Outcome.UNCHANGED, Outcome.PLANNED, Outcome.APPLIED}
    return EXIT_OK if all(item.outcome in done for item in result.items) else EXIT_NOT_DONE


def bind_ips_with(
    wiring: Wiring, secret: str, *, mode: RepairMode, master_secret: str, remove: tuple[str, ...] = ()
) -> RepairResult:
    """The repair of one secret's key with a handler's wiring (the demo calls this too)."""
    from okxcore.keys.repair.locate import KeyToLocate, repair_secret_key

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
