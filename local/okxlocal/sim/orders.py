"""The simulator's order book entry: one spot order, as OKX reports it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .wire import ZERO, fmt


@dataclass
class Order:
    uid: str
    ord_id: str
    cl_ord_id: str
    inst_id: str
    base_ccy: str
    quote_ccy: str
    side: str
    ord_type: str
    px: Decimal | None
    sz: Decimal  # as given (quote amount for market orders with tgtCcy quote_ccy)
    tgt_ccy: str
    base_sz: Decimal  # base amount the order trades
    state: str
    c_time: int
    u_time: int
    acc_fill_sz: Decimal = ZERO
    avg_px: Decimal | None = None
    fill_px: Decimal | None = None
    fill_sz: Decimal = ZERO
    fill_time: int | None = None
    fee: Decimal = ZERO  # amount charged (positive); reported negative
    trade_id: str = ""
    exec_type: str = ""

    @property
    def pending(self) -> bool:
        return self.state in ("live", "partially_filled")

    @property
    def fee_ccy(self) -> str:
        return self.base_ccy if self.side == "buy" else self.quote_ccy

    def frozen(self) -> tuple[str, Decimal] | None:
        """(currency, amount) reserved by this order while it is pending."""
        if not self.pending:
            return None
        remaining = self.base_sz - self.acc_fill_sz
        if self.side == "buy":
            return self.quote_ccy, (self.px or ZERO) * remaining
        return self.base_ccy, remaining

    def to_okx(self) -> dict[str, Any]:
        return {
            "accFillSz": fmt(self.acc_fill_sz),
            "algoClOrdId": "",
            "algoId": "",
            "attachAlgoClOrdId": "",
            "attachAlgoOrds": [],
            "avgPx": fmt(self.avg_px) if self.avg_px is not None else "",
            "cTime": str(self.c_time),
            "cancelSource": "",
            "cancelSourceReason": "",
            "category": "normal",
            "ccy": "",
            "clOrdId": self.cl_ord_id,
            "execType": self.exec_type,
            "fee": fmt(-self.fee),
            "feeCcy": self.fee_ccy,
            "fillPx": fmt(self.fill_px) if self.fill_px is not None else "",
            "fillSz": fmt(self.fill_sz),
            "fillTime": str(self.fill_time) if self.fill_time is not None else "",
            "instId": self.inst_id,
            "instType": "SPOT",
            "isTpLimit": "false",
            "lever": "",
            "ordId": self.ord_id,
            "ordType": self.ord_type,
            "pnl": "0",
            "posSide": "net",
            "px": fmt(self.px) if self.px is not None else "",
            "rebate": "0",
            "rebateCcy": self.quote_ccy if self.side == "buy" else self.base_ccy,
            "reduceOnly": "false",
            "side": self.side,
            "source": "",
            "state": self.state,
            "sz": fmt(self.sz),
            "tag": "",
            "tdMode": "cash",
            "tgtCcy": self.tgt_ccy,
            "tradeId": self.trade_id,
            "uTime": str(self.u_time),
        }


class OrderRejected(Exception):
    def __init__(self, s_code: str, s_msg: str) -> None:
        super().__init__(f"{s_code} {s_msg}")
        self.s_code = s_code
        self.s_msg = s_msg
