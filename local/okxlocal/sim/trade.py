"""Trade endpoints that change orders: place one or a batch (filled against the ticker at once if it
crosses), and cancel. Order queries are in :mod:`.trade_queries`.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from .core import ExchangeCore
from .errors import OkxError, message
from .orders import CANCELED_BY_USER, Fill, Order, OrderRejected
from .state import SimInstrument, SimKey, SimTicker
from .wire import ZERO, ApiRequest, ApiResponse, Route, is_multiple, positive_decimal, round_down

CLORDID_RE = re.compile(r"[A-Za-z0-9]{1,32}")
TAG_RE = re.compile(r"[A-Za-z0-9]{1,16}")
ORD_TYPES = ("market", "limit", "post_only", "ioc", "fok")
MAX_BATCH = 20
# OKX's per-item answer to a cancel of an order that is filled, canceled or unknown: one code for all three.
CANCEL_NOT_PENDING = "51400"

ROUTES: dict[str, dict[str, Route]] = {
    "/api/v5/trade/order": {
        "POST": Route("POST trade/order", "_place_order", private=True, limit=60, per_inst=True, need_trade=True),
    },
    "/api/v5/trade/batch-orders": {
        "POST": Route("POST trade/batch-orders", "_place_batch", private=True, limit=300, need_trade=True),
    },
    "/api/v5/trade/cancel-order": {
        "POST": Route(
            "POST trade/cancel-order", "_cancel_order", private=True, limit=60, per_inst=True, need_trade=True
        ),
    },
}

# The top-level answer of an endpoint that reports per item: every item ok, none ok, or some.
_ALL_OK = ("0", "")
_NONE_OK = ("1", "All operations failed")
_SOME_OK = ("2", "Bulk operation partially succeeded.")


class TradeApi(ExchangeCore):
    def _place_order(self, req: ApiRequest, key: SimKey | None) -> ApiResponse:
        assert key is not None
        body = self._json_body(req)
        return self._place(req, key, [body])

    def _place_batch(self, req: ApiRequest, key: SimKey | None) -> ApiResponse:
        assert key is not None
        body = self._json_list_body(req)
        if not body or len(body) > MAX_BATCH:
            raise OkxError("51000", "orders")
        return self._place(req, key, body)

    def _place(self, req: ApiRequest, key: SimKey, bodies: list[Any]) -> ApiResponse:
        in_time = str(self.clock.now_us())
        exp_header = req.header("expTime")
        if exp_header:
            try:
                exp_ms = int(exp_header)
            except ValueError:
                raise OkxError("51000", "expTime") from None
            if self.now_ms() > exp_ms:
                return ApiResponse(200, {"code": "50037", "msg": message("50037"), "data": []})
        items = []
        for body in bodies:
            if not isinstance(body, dict):
                raise OkxError("50002")
            raw_cl = body.get("clOrdId", "")
            cl_ord_id = "" if raw_cl is None else str(raw_cl)
            tag = str(body.get("tag") or "")
            try:
                with self.lock:
                    order = self._new_order(key, body, cl_ord_id)
            except OrderRejected as rejected:
                items.append(_item(cl_ord_id, "", tag, rejected.s_code, rejected.s_msg, self.now_ms()))
            else:
                items.append(_item(order.cl_ord_id, order.ord_id, order.tag, "0", "Order placed", order.c_time))
        return self._items_answer(items, in_time)

    def _items_answer(self, items: list[dict[str, Any]], in_time: str) -> ApiResponse:
        failed = sum(item["sCode"] != "0" for item in items)
        code, msg = _ALL_OK if not failed else _NONE_OK if failed == len(items) else _SOME_OK
        payload = {"code": code, "msg": msg, "data": items, "inTime": in_time, "outTime": str(self.clock.now_us())}
        return ApiResponse(200, payload)

    def _cancel_order(self, req: ApiRequest, key: SimKey | None) -> ApiResponse:
        assert key is not None
        body = self._json_body(req)
        in_time = str(self.clock.now_us())
        inst_id = str(body.get("instId") or "")
        if not inst_id:
            raise OkxError("50014", "instId")
        ord_id = str(body.get("ordId") or "")
        cl_ord_id = str(body.get("clOrdId") or "")
        if not ord_id and not cl_ord_id:
            raise OkxError("51000", "ordId")
        with self.lock:
            order = self._find_order(key.uid, inst_id, ord_id, cl_ord_id)
            now = self.now_ms()
            if order is None or not order.pending:
                item = _item(cl_ord_id, ord_id, "", CANCEL_NOT_PENDING, message(CANCEL_NOT_PENDING), now)
            else:
                order.state = "canceled"
                order.cancel_source = CANCELED_BY_USER
                order.u_time = now
                self._balance_utime[order.uid] = now  # its frozen funds are released
                item = _item(order.cl_ord_id, order.ord_id, order.tag, "0", "", now)
        item.pop("tag")  # cancel answers carry no tag (OKX's documented example)
        return self._items_answer([item], in_time)

    def _new_order(self, key: SimKey, body: dict[str, Any], cl_ord_id: str) -> Order:
        """Validate, commit and (if it crosses) fill one order. Caller holds the lock."""
        if cl_ord_id and not CLORDID_RE.fullmatch(cl_ord_id):
            raise OrderRejected("51000", "Parameter clOrdId error")
        if cl_ord_id and any(o.uid == key.uid and o.cl_ord_id == cl_ord_id and o.pending for o in self._orders):
            raise OrderRejected("51016", message("51016"))
        tag = str(body.get("tag") or "")
        if tag and not TAG_RE.fullmatch(tag):
            raise OrderRejected("51000", "Parameter tag error")
        inst = self.state.instrument(str(body.get("instId", "")))
        if inst is None or inst.state != "live":
            raise OrderRejected("51001", message("51001"))
        if body.get("tdMode") != "cash":
            raise OrderRejected("51000", "Parameter tdMode error")
        side = body.get("side")
        if side not in ("buy", "sell"):
            raise OrderRejected("51000", "Parameter side error")
        ord_type = body.get("ordType")
        if ord_type not in ORD_TYPES:
            raise OrderRejected("51000", "Parameter ordType error")
        sz = positive_decimal(body.get("sz"))
        if sz is None:
            raise OrderRejected("51000", "Parameter sz error")
        px: Decimal | None = None
        if ord_type != "market":
            px = positive_decimal(body.get("px"))
            if px is None:
                raise OrderRejected("51000", "Parameter px error")
        ticker = self.state.tickers.get(inst.inst_id)
        base, quote = inst.base_ccy, inst.quote_ccy
        tgt_ccy, base_sz, (need_ccy, need) = _sizing(inst, ticker, body, side, ord_type, sz, px)
        if base_sz <= 0 or base_sz < inst.min_sz:
            raise OrderRejected("51020", message("51020"))
        if px is not None and not is_multiple(px, inst.tick_sz):
            raise OrderRejected("51000", "Parameter px error")
        acct = self._account(key.uid)
        available = acct.balances.get(need_ccy, ZERO) - self._frozen(acct.uid).get(need_ccy, ZERO)
        if need > available:
            raise OrderRejected("51008", message("51008", need_ccy))

        now = self.now_ms()
        order = Order(
            uid=key.uid,
            ord_id=str(next(self._ord_ids)),
            cl_ord_id=cl_ord_id,
            inst_id=inst.inst_id,
            base_ccy=base,
            quote_ccy=quote,
            side=side,
            ord_type=ord_type,
            px=px,
            sz=sz,
            tgt_ccy=tgt_ccy,
            base_sz=base_sz,
            state="live",
            c_time=now,
            u_time=now,
            tag=tag,
        )
        self._orders.append(order)
        self._match_on_entry(order, ticker, now)
        return order

    def _match_on_entry(self, order: Order, ticker: SimTicker | None, now: int) -> None:
        """A new order that crosses the book fills at once as taker (a post-only one is canceled instead);
        ioc, fok and market orders that cannot fill are canceled; the rest rests with its funds frozen."""
        side, ord_type, px = order.side, order.ord_type, order.px
        taker_px: Decimal | None = None
        if ticker is not None:
            if side == "buy" and (ord_type == "market" or (px is not None and px >= ticker.ask_px)):
                taker_px = ticker.ask_px
            elif side == "sell" and (ord_type == "market" or (px is not None and px <= ticker.bid_px)):
                taker_px = ticker.bid_px
        if ord_type == "post_only" and taker_px is not None:
            order.state = "canceled"
        elif taker_px is not None:
            self._fill(order, taker_px, self.state.fee_rate_taker, now, exec_type="T")
        elif ord_type in ("ioc", "fok", "market"):
            order.state = "canceled"
        else:
            self._balance_utime[order.uid] = now  # funds frozen

    def _fill(
        self, order: Order, px: Decimal, fee_rate: Decimal, now: int, exec_type: str, qty: Decimal | None = None
    ) -> None:
        """Fill ``qty`` (default: the rest) of ``order`` at ``px``; fee charged in the received currency."""
        acct = self._account(order.uid)
        bal = acct.balances
        rest = order.base_sz - order.acc_fill_sz
        qty = rest if qty is None else min(qty, rest)
        if order.side == "buy":
            fee = qty * fee_rate
            bal[order.quote_ccy] = bal.get(order.quote_ccy, ZERO) - qty * px
            bal[order.base_ccy] = bal.get(order.base_ccy, ZERO) + qty - fee
        else:
            proceeds = qty * px
            fee = proceeds * fee_rate
            bal[order.base_ccy] = bal.get(order.base_ccy, ZERO) - qty
            bal[order.quote_ccy] = bal.get(order.quote_ccy, ZERO) + proceeds - fee
        prev_notional = (order.avg_px or ZERO) * order.acc_fill_sz
        order.acc_fill_sz += qty
        order.avg_px = (prev_notional + qty * px) / order.acc_fill_sz
        order.fill_px = px
        order.fill_sz = qty
        order.fill_time = now
        order.fee += fee
        order.trade_id = str(next(self._trade_ids))
        order.exec_type = exec_type
        order.state = "filled" if order.acc_fill_sz >= order.base_sz else "partially_filled"
        order.u_time = now
        self._balance_utime[acct.uid] = now
        self._fills.append(
            Fill(
                uid=order.uid,
                inst_id=order.inst_id,
                ord_id=order.ord_id,
                cl_ord_id=order.cl_ord_id,
                tag=order.tag,
                side=order.side,
                fill_px=px,
                fill_sz=qty,
                fee=fee,
                fee_rate=fee_rate,
                fee_ccy=order.fee_ccy,
                exec_type=exec_type,
                trade_id=order.trade_id,
                bill_id=str(next(self._bill_ids)),
                ts=now,
            )
        )


def _item(cl_ord_id: str, ord_id: str, tag: str, s_code: str, s_msg: str, ts: int) -> dict[str, Any]:
    return {"clOrdId": cl_ord_id, "ordId": ord_id, "sCode": s_code, "sMsg": s_msg, "tag": tag, "ts": str(ts)}


def _sizing(
    inst: SimInstrument,
    ticker: SimTicker | None,
    body: dict[str, Any],
    side: str,
    ord_type: str,
    sz: Decimal,
    px: Decimal | None,
) -> tuple[str, Decimal, tuple[str, Decimal]]:
    """(tgtCcy, the base size the order trades, (currency, amount) it needs from the available balance)."""
    base, quote = inst.base_ccy, inst.quote_ccy
    if ord_type != "market":
        if not is_multiple(sz, inst.lot_sz):
            raise OrderRejected("51121", message("51121"))
        assert px is not None
        return "", sz, ((quote, px * sz) if side == "buy" else (base, sz))
    tgt_ccy = str(body.get("tgtCcy") or ("quote_ccy" if side == "buy" else "base_ccy"))
    if tgt_ccy not in ("base_ccy", "quote_ccy"):
        raise OrderRejected("51000", "Parameter tgtCcy error")
    if ticker is None:
        raise OrderRejected("51001", message("51001"))
    if tgt_ccy == "quote_ccy":
        price = ticker.ask_px if side == "buy" else ticker.bid_px
        base_sz = round_down(sz / price, inst.lot_sz)
    else:
        base_sz = sz
        if not is_multiple(base_sz, inst.lot_sz):
            raise OrderRejected("51121", message("51121"))
    if side == "buy":
        return tgt_ccy, base_sz, (quote, sz if tgt_ccy == "quote_ccy" else base_sz * ticker.ask_px)
    return tgt_ccy, base_sz, (base, base_sz)
