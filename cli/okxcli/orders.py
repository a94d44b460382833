"""`okx-shield orders`: the open orders okx-shield placed with one key, and canceling a plan's expired ones.

okx-shield orders --key-secret NAME [--plan ID] [--cancel-expired]
    Lists the key's pending orders that carry okx-shield's lifetime tag: instrument, side, size, filled, price,
    slot, expiry. With --plan, the plan's orders from the order ledger (okxcore/trading/ledger.py), whatever
    version of the plan placed them, each as OKX shows it now. --cancel-expired (needs --plan) cancels those
    whose lifetime is over; partial fills stay.

Like `okx-shield keys`: the embedded local stack by default, `--real` for this shell's AWS credentials, the
environment variables of template.yaml and real OKX.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from typing import Any, TextIO

from handlers.wiring import Wiring
from okxcli.exits import EXIT_FAILED, EXIT_OK
from okxcli.wiring import wiring_for
from okxcore.errors import InvalidInputError
from okxcore.trading.lifetimes import Canceled
from okxcore.trading.open_orders import OpenOrder, cancel_expired, plan_orders, tagged_orders
from okxcore.trading.plan import PLAN_ID_PATTERN
from okxcore.trading.sweep import KeyClients
from okxlocal.proxies import ProxyKind

SOURCE = "okx-shield orders"


def register(commands: Any) -> None:
    """Adds `orders` to the top-level parser's subcommands."""
    orders = commands.add_parser("orders", help="okx-shield's open orders for a key; cancel a plan's expired ones")
    orders.add_argument("--key-secret", required=True, help="the key's secret name in Secrets Manager")
    orders.add_argument("--plan", type=plan_id_arg, help="this plan's orders, from the order ledger")
    orders.add_argument("--cancel-expired", action="store_true", help="cancel the plan's expired orders (needs --plan)")
    orders.add_argument("--real", action="store_true", help="real AWS and OKX, configured by the environment")
    orders.add_argument(
        "--proxy",
        choices=[k.value for k in ProxyKind],
        help="a fresh local stack's Shield form (default https); a stack that is up keeps its own",
    )

    def run(args: argparse.Namespace) -> int:
        if args.cancel_expired and not args.plan:
            raise InvalidInputError(
                SOURCE,
                "--plan",
                "is missing (--cancel-expired needs it)",
                hint="Name the plan: only orders whose clOrdId re-derives from it are canceled, never others.",
            )
        with wiring_for(args) as wiring:
            return show_and_cancel(wiring, args.key_secret, plan_id=args.plan, cancel=args.cancel_expired)

    orders.set_defaults(run=run)


def plan_id_arg(text: str) -> str:
    """--plan's value: a plan id as plans spell them, or argparse's error naming the option (exit 2)."""
    if not re.fullmatch(PLAN_ID_PATTERN, text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a plan id (1-64 letters, digits, '.', '_' or '-', starting with a letter or digit)"
        )
    return text


def show_and_cancel(
    wiring: Wiring, key_secret: str, *, plan_id: str | None, cancel: bool, out: TextIO = sys.stdout
) -> int:
    """The command's work with a handler's wiring (the demo calls it too)."""
    client = wiring.client(wiring.load_key(key_secret), record_use=False)
    client.sync_clock()
    shown = plan_orders(client, wiring.orders, plan_id, key_secret) if plan_id else tagged_orders(client)
    print_orders(shown, key_secret, plan_id, out)
    if not cancel:
        return EXIT_OK
    assert plan_id is not None
    clients = KeyClients(wiring, (key_secret, client))
    canceled = cancel_expired(wiring.orders, clients, plan_id, now_ms=int(time.time() * 1000))
    print_canceled(canceled, out)
    return EXIT_OK if all(c.ok for c in canceled) else EXIT_FAILED


def print_orders(shown: list[OpenOrder], key_secret: str, plan_id: str | None, out: TextIO) -> None:
    whose = f"plan {plan_id}" if plan_id else "okx-shield (tagged; give --plan for a plan's own)"
    print(f"Open orders of {whose}, key {key_secret}: {len(shown)}", file=out)
    for item in shown:
        o = item.order
        amounts = f" {_num(o.sz)} @ {_num(o.px)}, filled {_num(o.acc_fill_sz)}" if o is not None else ""
        lifetime = "EXPIRED" if item.expired else "open"
        leg = f" leg {item.leg_index}" if item.leg_index is not None else ""
        print(
            f"  {item.inst_id} {item.side}{amounts}: {lifetime}, OKX state {item.state}, slot {item.slot}{leg}, "
            f"cancel after {item.expires_at}, clOrdId {item.cl_ord_id}",
            file=out,
        )


def print_canceled(canceled: list[Canceled], out: TextIO) -> None:
    print(f"Canceled (expired): {len(canceled)}", file=out)
    for c in canceled:
        released = f", released {c.released}" if c.released else ""
        print(
            f"  {c.inst_id} {c.side} slot {c.slot} (plan {c.plan_id}): {c.outcome}, filled {_num(c.filled)}, "
            f"remaining {_num(c.remaining)}{released}, clOrdId {c.cl_ord_id}",
            file=out,
        )


def _num(value: Any) -> str:
    return "-" if value is None else f"{value.normalize():f}"
