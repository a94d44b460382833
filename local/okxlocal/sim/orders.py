"""The simulator's order book entries: one spot order and one fill, each as OKX reports it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .wire import ZERO, fmt

# cancelSource as OKX reports it for an order its owner canceled through the API.
CANCELED_BY_USER = "1"


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
    tag: str = ""
    acc_fill_sz: Decimal = ZERO
    avg_px: Decimal | None = None
    fill_px: Decimal | None = None
    fill_sz: Decimal = ZERO
    fill_time: int | None = None
    fee: Decimal = ZERO  # amount charged (positive); reported negative
    trade_id: str = ""
    exec_type: str = ""
    cancel_source: str = ""

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
        """The order as GET trade/order, orders-pending and orders-history write it (one field set)."""
        return {
            "accFillSz": fmt(self.acc_fill_sz),
            "algoClOrdId": "",
            "algoId": "",
            "attachAlgoClOrdId": "",
            "attachAlgoOrds": [],
            "avgPx": fmt(self.avg_px) if self.avg_px is not None else "",
            "cTime": str(self.c_time),
            "cancelSource": self.cancel_source,
            "cancelSourceReason": "",
            "category": "normal",
            "ccy": "",
            "clOrdId": self.cl_ord_id,
            "fee": fmt(-self.fee),
            "feeCcy": self.fee_ccy,
            "fillPx": fmt(self.fill_px) if self.fill_px is not None else "",
            "fillSz": fmt(self.fill_sz),
            "fillTime": str(self.fill_time) if self.fill_time is not None else "",
            "instId": self.inst_id,
            "instType": "SPOT",
            "isTpLimit": "false",
            "lever": "",
            "linkedAlgoOrd": {"algoId": ""},
            "ordId": self.ord_id,
            "ordType": self.ord_type,
            "pnl": "0",
            "posSide": "net",
            "px": fmt(self.px) if self.px is not None else "",
            "pxType": "",
            "pxUsd": "",
            "pxVol": "",
            "quickMgnType": "",
            "rebate": "0",
            "rebateCcy": self.quote_ccy if self.side == "buy" else self.base_ccy,
            "reduceOnly": "false",
            "side": self.side,
            "slOrdPx": "",
            "slTriggerPx": "",
            "slTriggerPxType": "",
            "source": "",
            "state": self.state,
            "stpId": "",
            "stpMode": "cancel_maker",
            "sz": fmt(self.sz),
            "tag": self.tag,
            "tdMode": "cash",
            "tgtCcy": self.tgt_ccy,
            "tpOrdPx": "",
            "tpTriggerPx": "",
            "tpTriggerPxType": "",
            "tradeId": self.trade_id,
            "uTime": str(self.u_time),
        }


@dataclass(frozen=True)
class Fill:
    """One trade of an order (what fills-history lists)."""

    uid: str
    inst_id: str
    ord_id: str
    cl_ord_id: str
    tag: str
    side: str
    fill_px: Decimal
    fill_sz: Decimal
    fee: Decimal  # charged, positive; reported negative
    fee_rate: Decimal
    fee_ccy: str
    exec_type: str
    trade_id: str
    bill_id: str
    ts: int

    def to_okx(self) -> dict[str, Any]:
        return {
            "billId": self.bill_id,
            "clOrdId": self.cl_ord_id,
            "execType": self.exec_type,
            "fee": fmt(-self.fee),
            "feeCcy": self.fee_ccy,
            "feeRate": fmt(-self.fee_rate),
            "fillFwdPx": "",
            "fillIdxPx": "",
            "fillMarkPx": "",
            "fillMarkVol": "",
            "fillPnl": "0",
            "fillPx": fmt(self.fill_px),
            "fillPxUsd": "",
            "fillPxVol": "",
            "fillSz": fmt(self.fill_sz),
            "fillTime": str(self.ts),
            "instId": self.inst_id,
            "instType": "SPOT",
            "ordId": self.ord_id,
            "posSide": "net",
            "side": self.side,
            "subType": "1" if self.side == "buy" else "2",
            "tag": self.tag,
            "tradeId": self.trade_id,
            "ts": str(self.ts),
        }


class OrderRejected(Exception):
    def __init__(self, s_code: str, s_msg: str) -> None:
        super().__init__(f"{s_code} {s_msg}")
        self.s_code = s_code
        self.s_msg = s_msg
