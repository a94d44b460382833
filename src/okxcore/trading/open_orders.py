"""The open orders this product placed, for `okx-shield orders`: list them, and cancel a plan's expired ones.

An order is shown as okx-shield's when it carries okx-shield's lifetime tag (lifetimes.py); it is shown as a
plan's, and may be canceled, only when its clOrdId re-derives from that plan's id, the tag's slot and one
of the plan's legs. Without a plan id nothing is canceled: a tag alone is no proof of ownership.
"""

from __future__ import annotations

from dataclasses import dataclass

from okxcore.client import OkxClient
from okxcore.models import Order
from okxcore.trading.lifetimes import REASON_EXPIRED, Canceled, cancel_own, iso_ms, own_orders, parse_tag
from okxcore.trading.slot import Slot


@dataclass(frozen=True)
class OpenOrder:
    order: Order
    slot: str
    expires_at: str
    expired: bool
    leg_index: int | None = None  # set when the order re-derives from the plan asked for


def open_orders(client: OkxClient, plan_id: str | None = None) -> list[OpenOrder]:
    """okx-shield's pending orders (of one plan, when `plan_id` is given), newest first."""
    pending = client.pending_orders()
    now_ms = client.now_ms()
    if plan_id is not None:
        return [
            OpenOrder(
                own.order, Slot(own.slot_ms).iso, iso_ms(own.expires_at_ms), own.expires_at_ms <= now_ms, own.leg_index
            )
            for own in own_orders(plan_id, None, pending)
        ]
    shown = []
    for order in pending:
        parsed = parse_tag(order.tag)
        if parsed is not None:
            slot_ms, life = parsed
            expires = slot_ms + life * 1000
            shown.append(OpenOrder(order, Slot(slot_ms).iso, iso_ms(expires), expires <= now_ms))
    return shown


def cancel_expired(client: OkxClient, plan_id: str) -> list[Canceled]:
    """Cancel the plan's orders whose lifetime is over (their filled part stays filled)."""
    now_ms = client.now_ms()
    return [
        cancel_own(client, own, REASON_EXPIRED, dry_run=False)
        for own in own_orders(plan_id, None, client.pending_orders())
        if own.expires_at_ms <= now_ms
    ]
