"""What a trade run produces, leg by leg: the statuses, the problems found before sending, the orders
planned and each leg's result, and the market they were checked against. Shared by prepare.py and
rebalance.py (which build orders), execute.py (which sends them) and executor.py (which runs a slot)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from okxcore.models import Instrument, Order, OrderRequest, Ticker
from okxcore.trading.ledger import OrderRecord
from okxcore.trading.sizing import ZERO

PLACED_REASON = "placed"


class LegStatus(StrEnum):
    PLACED = "PLACED"  # OKX has the order; this run sent it
    EXISTING = "EXISTING"  # found by clOrdId: an earlier delivery of this slot placed it
    DRY_RUN = "DRY_RUN"  # would have been sent
    SKIPPED = "SKIPPED"  # nothing to do (rebalance drift under the threshold, an order under minSz)
    REJECTED = "REJECTED"  # failed a pre-check; nothing was sent
    NOT_SENT = "NOT_SENT"  # not attempted (the plan was rejected, an earlier leg failed, trading paused)
    FAILED = "FAILED"  # definitely no order: OKX refused it, or it was confirmed absent
    UNKNOWN = "UNKNOWN"  # sent, and whether OKX has it could not be established


OK_STATUSES = frozenset({LegStatus.PLACED, LegStatus.EXISTING, LegStatus.DRY_RUN, LegStatus.SKIPPED})


class RunStatus(StrEnum):
    DONE = "DONE"
    DRY_RUN = "DRY_RUN"
    PAUSED = "PAUSED"  # the trading guard said no
    TOO_LATE = "TOO_LATE"  # delivered after the slot's max_delay_s
    REJECTED = "REJECTED"  # a pre-check failed; nothing was sent
    FAILED = "FAILED"  # some order failed or its outcome is unknown
    ERROR = "ERROR"  # the run could not get going (proxy, key, OKX); nothing was sent


@dataclass(frozen=True)
class Problem:
    field: str  # where in the plan, e.g. legs[0].quote_amount
    message: str
    hint: str = ""
    leg_index: int | None = None  # the leg it stops, if it is about one leg
    part: str = ""  # the rebalance asset it is about, if any


@dataclass(frozen=True)
class PlannedOrder:
    leg_index: int
    kind: str
    field: str  # the plan field this order comes from, for messages
    part: str  # "" or the rebalance asset
    request: OrderRequest
    instrument: Instrument
    reference_px: Decimal  # ticker last
    expected_px: Decimal  # the limit price, or the ask (buy) / bid (sell) a market order meets
    notional: Decimal  # in the quote currency
    needs: tuple[str, Decimal]  # (currency, amount) the order takes from the available balance
    expire_after_s: int
    credit: tuple[str, Decimal] | None = None  # a rebalance sell's expected proceeds, funding its buys
    lifetime: OrderRecord | None = None  # a resting order's ledger record, written before each send (ledger.py)

    @property
    def size_text(self) -> str:
        ccy = self.instrument.quote_ccy if self.request.tgt_ccy == "quote_ccy" else self.instrument.base_ccy
        return f"{self.request.sz.normalize():f} {ccy}"

    @property
    def price_text(self) -> str:
        if self.request.px is not None:
            return f"{self.request.px.normalize():f}"
        return f"market (~{self.expected_px.normalize():f})"


@dataclass
class LegResult:
    leg_index: int
    kind: str
    status: LegStatus
    inst_id: str = ""
    side: str = ""
    part: str = ""
    cl_ord_id: str = ""
    size: str = ""
    price: str = ""
    ord_id: str = ""
    order: Order | None = None
    reason: str = ""
    hint: str = ""
    record: OrderRecord | None = None  # the ledger record this run wrote before sending it (ledger.py)

    @classmethod
    def for_order(cls, planned: PlannedOrder, status: LegStatus, **changes: object) -> LegResult:
        result = cls(
            leg_index=planned.leg_index,
            kind=planned.kind,
            status=status,
            inst_id=planned.request.inst_id,
            side=planned.request.side,
            part=planned.part,
            cl_ord_id=planned.request.cl_ord_id,
            size=planned.size_text,
            price=planned.price_text,
        )
        for name, value in changes.items():
            setattr(result, name, value)
        if result.order is not None and not result.ord_id:
            result.ord_id = result.order.ord_id
        return result


Clock = Callable[[], float]
Sleep = Callable[[float], None]


@dataclass
class Preparation:
    orders: list[PlannedOrder] = field(default_factory=list)
    skipped: list[LegResult] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. the rebalance's drifts

    @property
    def notional(self) -> Decimal:
        return sum((o.notional for o in self.orders), ZERO)


@dataclass(frozen=True)
class Market:
    """What the checks read from OKX before any order is built: the instruments the legs name (the fit ones),
    their tickers, and what is available of each currency involved."""

    instruments: dict[str, Instrument]
    tickers: dict[str, Ticker]
    available: dict[str, Decimal]
