"""The demo's limit order that ends: placed with a lifetime, partly filled, then canceled by the next slot.

1. The trade function places a post-only limit buy (events/trade-limit.json) with `cancel_after_s`: it rests,
   and the report says until when. `okx-shield orders` lists it.
2. A counterparty takes part of it, and OKX's clock moves past its lifetime.
3. The next slot of the plan starts by canceling it: the report shows the filled part (kept), the remaining
   part and the funds released, and places this slot's order.
"""

from __future__ import annotations

import contextlib
import io
from datetime import UTC, datetime, timedelta
from typing import TextIO

from handlers.wiring import Wiring
from okxcli.orders import show_and_cancel
from okxcli.reports import print_reports
from okxcore.slot import Slot
from okxcore.trading.order_ids import derive_cl_ord_id
from okxlocal.runner import EVENTS, invoke, read_event
from okxlocal.stack import LocalStack

KEY_SECRET = "okx-shield/keys/bot-main"  # noqa: S105 - the name of a secret, not its value
LIFETIME_S = 120
PARTIAL_FILL = "0.04"  # ETH taken by a counterparty


def show_limit_expiry(stack: LocalStack, out: TextIO) -> int:
    """Returns the number of failed steps."""
    now = datetime.now(UTC).replace(microsecond=0)
    first_slot = now - timedelta(seconds=60)
    failures = 0
    template = read_event(EVENTS / "trade-limit.json")
    for step, slot in enumerate((first_slot, now)):
        event = {**template, "scheduled_time": slot.isoformat().replace("+00:00", "Z"), "fill_wait_s": "0.5"}
        event["legs"] = [{**template["legs"][0], "cancel_after_s": LIFETIME_S}]
        out.write(
            f"\n>>> invoking trade with events/trade-limit.json, slot {event['scheduled_time']}, "
            f'"cancel_after_s": {LIFETIME_S}\n'
        )
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                invoke("trade", event)
        except Exception as error:  # the demo shows failures the way Lambda would record them
            failures += 1
            out.write(f"    the invocation failed: {error}\n")
        print_reports(stack, out)
        if step == 0:
            out.write(f"\n>>> okx-shield orders --key-secret {KEY_SECRET} --plan {template['plan_id']}\n")
            show_and_cancel(Wiring.from_environ(), KEY_SECRET, plan_id=template["plan_id"], cancel=False, out=out)
            first_id = derive_cl_ord_id(template["plan_id"], Slot.of(first_slot), 0)
            stack.sim.fill_order(first_id, PARTIAL_FILL)
            stack.sim.faults.clock_offset_ms = (LIFETIME_S - 60 + 30) * 1000
            out.write(
                f"\n    (a counterparty buys {PARTIAL_FILL} ETH of it; OKX's clock moves 90 s on, past its lifetime)\n"
            )
    stack.sim.faults.clock_offset_ms = 0
    return failures
