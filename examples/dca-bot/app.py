"""A DCA bot written for plain ccxt, run through okx-shield: buy a fixed quote amount of one market per schedule.

Everything here is ccxt's own API; the one okx-shield line is the constructor, `bots.ccxt_okx()` in place of
`ccxt.okx({"apiKey": ..., "secret": ..., "password": ..., "socksProxy": ...})`: the key comes from its secret
(OKX_KEY_SECRET_NAME), every request goes through Shield (SHIELD_SECRET_NAME), orders wait while the probe has
paused trading, and the key's use is recorded for the audit (STATE_TABLE_NAME).

A scheduled slot buys at most once: the order's clientOrderId comes from the Scheduler's scheduled time, which a
retried invocation repeats, and the bot looks the order up before placing it (OKX keeps a clOrdId unique only
while the order is pending, and a market order fills at once).
"""

from __future__ import annotations

import math
import os
import re
from datetime import datetime
from typing import Any

import ccxt

from okxcore import bots


def quote_amount(text: str) -> float:
    """DCA_QUOTE_AMOUNT, checked at cold start: a typo must not become an order of another size."""
    try:
        amount = float(text)
    except ValueError:
        amount = 0.0
    if not (math.isfinite(amount) and amount > 0):  # "inf" and "nan" parse as floats too
        raise ValueError(f"DCA_QUOTE_AMOUNT must be a positive number (the quote currency per buy), not {text[:20]!r}")
    return amount


def scheduled_slot(event: Any) -> str:
    """The Scheduler's scheduled time, which template.yaml's Input passes as event.scheduled_time."""
    slot = event.get("scheduled_time") if isinstance(event, dict) else None
    try:
        datetime.fromisoformat(str(slot).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"event.scheduled_time must be an ISO 8601 instant, as the schedule's Input passes it "
            f"(<aws.scheduler.scheduled-time>), not {str(slot)[:40]!r}: nothing was ordered"
        ) from None
    return str(slot)


SYMBOL = os.environ.get("DCA_SYMBOL", "BTC/USDT")
QUOTE_AMOUNT = quote_amount(os.environ.get("DCA_QUOTE_AMOUNT", "10"))

# At module level: warm invocations reuse the client and its tunnel through Shield (and it takes a rotated key
# from the key's secret by itself, docs/your-own-bot.md).
exchange = bots.ccxt_okx()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    slot = scheduled_slot(event)
    client_order_id = ("dca" + re.sub(r"[^0-9A-Za-z]", "", slot))[:32]
    try:
        order = exchange.fetch_order(None, SYMBOL, {"clientOrderId": client_order_id})
        placed = False
    except ccxt.OrderNotFound:
        order = exchange.create_market_buy_order_with_cost(SYMBOL, QUOTE_AMOUNT, {"clientOrderId": client_order_id})
        placed = True
    finally:
        bots.flush()  # the key's use is written before Lambda freezes the process
    return {"slot": slot, "clientOrderId": client_order_id, "orderId": order["id"], "placed_now": placed}
