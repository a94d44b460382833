"""The order ledger: which resting orders okx-shield placed, whose they are, and until when they may rest.

The rule (docs/security.md): every order okx-shield places that can rest on the book (a
limit or post-only order) is owned by its plan and slot, never by a leg's position, and its lifetime is written
to the state table before the order can exist at OKX:

- Record first. execute.py writes the order's record (clOrdId, instrument, side, plan id, the fingerprint of the
  plan version that placed it, slot, expiry, key secret, and until when a send of it can still reach OKX)
  immediately before each send; when the record cannot be written, the order is not sent. So a crash at any
  point after that leaves a record of an order that may or may not exist, never an order without a record.
- Ended from the ledger, not from the plan's current legs. Every run of a plan first reads the plan's open
  records, whatever version of the plan wrote them, and cancels by clOrdId those past their expiry (before its
  checks: a rejected plan still ends them, and its report says so). A plan that is deleted or renamed has no
  next run under its id: the scheduled sweep (template.yaml TradeFunction OrderSweep, every 15 minutes, a Query
  that touches OKX only when something is past its expiry) ends every expired record of every plan.
- Closed only on OKX's word. A record is closed when OKX shows the order final (filled or canceled), or when
  OKX has no order with its clOrdId after the last send's expTime (it can no longer appear). Until then every
  sweep looks again.
- One order per slot and leg. A clOrdId names one slot's leg, and the ledger records it for one version of the
  plan only: the slot delivered again after an edit moved that leg to another instrument cannot record, so
  cannot send, a second order under it.
- Never anyone else's. Only clOrdIds in the ledger are canceled: an order placed by hand, or by another program,
  has no record and is never touched.

Market orders are not recorded: OKX fills or cancels them at once, so they never rest.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from okxcore.errors import OkxShieldError

# OKX's clock must be this far past a send's expTime before "no such order" is final (as in execute.py).
SETTLE_MARGIN_MS = 1500
RESTING_ORDER_TYPES = frozenset({"limit", "post_only"})

RecordState = Literal["open", "ended"]


class OrderLedgerError(OkxShieldError):
    hint = "Check the state table and the function's permission to read and write it (DynamoDBCrudPolicy)."


class OrderRecord(BaseModel):
    """One resting order okx-shield placed (or was about to place). No key, secret or passphrase: the key is
    named by its secret's name only."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cl_ord_id: str
    plan_id: str
    fingerprint: str  # of the plan version that placed it (TradePlan.fingerprint)
    key_secret: str
    inst_id: str
    side: str
    slot_ms: int
    leg_index: int  # where the leg stood when it was placed: for people only, never for ownership
    expires_ms: int  # the slot's scheduled time plus the order's lifetime
    sent_by_ms: int  # the latest expTime of a send of it: until then the order may still appear at OKX
    state: RecordState = "open"
    ended: str = ""  # how it ended, once closed: "canceled", "filled", "not placed", ...
    ended_ms: int = 0

    def expired(self, now_ms: int) -> bool:
        return self.expires_ms <= now_ms

    def may_still_appear(self, now_ms: int) -> bool:
        """A send of it may still reach OKX: "no such order" is not final yet."""
        return now_ms <= self.sent_by_ms + SETTLE_MARGIN_MS
