"""The one place a clOrdId is derived.

clOrdId = "os" + 30 base32 characters of SHA-256("v1|plan_id|slot epoch ms|leg index|part"): 32 letters and
digits, OKX's limit. The slot is a Slot (okxcore/slot.py), never a datetime or its text: the same instant in any
spelling always gives the same ids, whichever delivery or retry computes them, which is what lets a later
invocation find an order an earlier one placed.

`part` tells apart the orders one leg produces (a rebalance leg: one order per asset, part = the asset).
It is keyed by asset, not by position, so a rebalance recomputed from new balances maps to the same ids.
"""

from __future__ import annotations

import base64
import hashlib

from okxcore.models import CL_ORD_ID_PATTERN
from okxcore.slot import Slot

PREFIX = "os"
VERSION = "v1"


def derive_cl_ord_id(plan_id: str, slot: Slot, leg_index: int, part: str = "") -> str:
    if leg_index < 0:
        raise ValueError("leg_index must not be negative")
    material = "|".join((VERSION, plan_id, str(slot.epoch_ms), str(leg_index), part))
    digest = hashlib.sha256(material.encode()).digest()
    text = base64.b32encode(digest).decode().rstrip("=").lower()
    cl_ord_id = PREFIX + text[: 32 - len(PREFIX)]
    assert CL_ORD_ID_PATTERN.fullmatch(cl_ord_id)
    return cl_ord_id
