"""The orders okx-shield placed, for `okx-shield orders`: a plan's from the order ledger, with what OKX says of
each now; and canceling a plan's expired ones (the same sweep as the runs', sweep.py).

A plan's orders are its records in the ledger (ledger.py), whatever version of the plan placed them, each looked
up at OKX by clOrdId, so the listing says what is true: live, partly filled, filled or canceled, or not at OKX.
Without a plan, the key's pending orders that carry okx-shield's lifetime tag are listed; a tag proves nothing,
so nothing is ever canceled from that list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from okxcore.client import OkxClient
from okxcore.errors import OkxShieldError
from okxcore.models import Order
from okxcore.slot import Slot
from okxcore.trading.ledger import OrderRecord
from okxcore.trading.lifetimes import Canceled, iso_ms, parse_tag
from okxcore.trading.ports import OrderLedger
from okxcore.trading.sweep import sweep_expired


@dataclass(frozen=True)
class OpenOrder:
    inst_id: str
    side: str
    cl_ord_id: str
    slot: str
    expires_at: str
    expired: bool
    order: Order | None  # as OKX shows it now; None: OKX has no order with this clOrdId
    leg_index: int | None = None  # where its leg stood when it was placed (a plan's orders only)
    looked_up: str = ""  # why OKX could not be asked, when it could not

    @property
    def state(self) -> str:
        if self.looked_up:
            return f"unknown ({self.looked_up})"
        return self.order.state if self.order is not None else "not at OKX (never placed, or ended long ago)"


def tagged_orders(client: OkxClient) -> list[OpenOrder]:
    """The key's pending orders that carry okx-shield's lifetime tag, newest first."""
    now_ms = client.now_ms()
    shown = []
    for order in client.pending_orders():
        parsed = parse_tag(order.tag)
        if parsed is not None:
            slot_ms, life = parsed
            expires = slot_ms + life * 1000
            slot, until = Slot(slot_ms).iso, iso_ms(expires)
            shown.append(OpenOrder(order.inst_id, order.side, order.cl_ord_id, slot, until, expires <= now_ms, order))
    return shown


def plan_orders(client: OkxClient, ledger: OrderLedger, plan_id: str, key_secret: str) -> list[OpenOrder]:
    """The plan's open records under this key, oldest expiry first, each as OKX shows it now."""
    now_ms = client.now_ms()
    return [_looked_up(client, r, now_ms) for r in ledger.open_records(plan_id) if r.key_secret == key_secret]


def _looked_up(client: OkxClient, record: OrderRecord, now_ms: int) -> OpenOrder:
    found, problem = None, ""
    try:
        found = client.get_order(record.inst_id, cl_ord_id=record.cl_ord_id)
    except OkxShieldError as exc:
        problem = exc.message
    return OpenOrder(
        record.inst_id,
        record.side,
        record.cl_ord_id,
        Slot(record.slot_ms).iso,
        iso_ms(record.expires_ms),
        record.expired(now_ms),
        found,
        record.leg_index,
        problem,
    )


def cancel_expired(
    ledger: OrderLedger, clients: Callable[[str], OkxClient], plan_id: str, *, now_ms: int
) -> list[Canceled]:
    """Cancel the plan's recorded orders whose lifetime is over (their filled part stays filled)."""
    return sweep_expired(ledger, clients, now_ms=now_ms, plan_id=plan_id)
