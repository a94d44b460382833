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

import os
import re
from typing import Any

import ccxt

from okxcore import bots

SYMBOL = os.environ.get("DCA_SYMBOL", "BTC/USDT")
QUOTE_AMOUNT = float(os.environ.get("DCA_QUOTE_AMOUNT", "10"))

# At module level: warm invocations reuse the client and its tunnel through Shield.
exchange = bots.ccxt_okx()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    slot = str(event["scheduled_time"])
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
