"""The one place a clOrdId is derived.

clOrdId = "os" + 30 base32 characters of SHA-256("v1|plan_id|slot epoch ms|leg index|part"): 32 letters and
digits, OKX's limit. The same slot always gives the same ids, whichever delivery or retry computes them,
which is what lets a later invocation find an order an earlier one placed.

`part` tells apart the orders one leg produces (a rebalance leg: one order per asset, part = the asset).
It is keyed by asset, not by position, so a rebalance recomputed from new balances maps to the same ids.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

from okxcore.models import CL_ORD_ID_PATTERN

PREFIX = "os"
VERSION = "v1"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def slot_epoch_ms(scheduled_time: datetime) -> int:
    """Exact integer ms (no float rounding): 09:00:00Z and 10:00:00+01:00 are the same slot."""
    return (scheduled_time - _EPOCH) // timedelta(milliseconds=1)


def derive_cl_ord_id(plan_id: str, scheduled_time: datetime, leg_index: int, part: str = "") -> str:
    if scheduled_time.tzinfo is None:
        raise ValueError("scheduled_time must be timezone-aware")
    if leg_index < 0:
        raise ValueError("leg_index must not be negative")
    material = "|".join((VERSION, plan_id, str(slot_epoch_ms(scheduled_time)), str(leg_index), part))
    digest = hashlib.sha256(material.encode()).digest()
    text = base64.b32encode(digest).decode().rstrip("=").lower()
    cl_ord_id = PREFIX + text[: 32 - len(PREFIX)]
    assert CL_ORD_ID_PATTERN.fullmatch(cl_ord_id)
    return cl_ord_id
