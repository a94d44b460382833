"""Trade endpoints: place an order (fills against the ticker at once if it crosses) and look one up."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from .core import ExchangeCore
from .errors import OkxError, message
from .orders import Order, OrderRejected
from .state import SimKey
from .wire import ZERO, ApiRequest, ApiResponse, Route, is_multiple, positive_decimal, round_down

CLORDID_RE = re.compile(r"[A-Za-z0-9]{1,32}")
ORD_TYPES = ("market", "limit", "post_only", "ioc", "fok")

ROUTES: dict[str, dict[str, Route]] = {
    "/api/v5/trade/order": {
        "POST": Route("POST trade/order", "_place_order", private=True, limit=60, per_inst=True, need_trade=True),
        "GET": Route("GET trade/order", "_get_order", private=True, limit=60, per_inst=True),
    },
}


class TradeApi(ExchangeCore):
    def _place_order(self, req: ApiRequest, key: SimKey | None) -> ApiResponse:
        assert key is not None
        body = self._json_body(req)
        in_time = str(self.clock.now_us())
        exp_header = req.header("expTime")
        if exp_header:
            try:
                exp_ms = int(exp_header)
            except ValueError:
                raise OkxError("51000", "expTime") from None
            if self.now_ms() > exp_ms:
                return ApiResponse(200, {"code": "50037", "msg": message("50037"), "data": []})
        raw_cl = body.get("clOrdId", "")
        cl_ord_id = "" if raw_cl is None else str(raw_cl)
        try:
            with self.lock:
                order = self._new_order(key, body, cl_ord_id)
        except OrderRejected as rejected:
            now = self.now_ms()
            return ApiResponse(
                200,
                {
                    "code": "1",
                    "msg": "All operations failed",
                    "data": [
                        {
                            "clOrdId": cl_ord_id,
                            "ordId": "",
                            "sCode": rejected.s_code,
                            "sMsg": rejected.s_msg,
                            "tag": "",
                            "ts": str(now),
                        }
                    ],
                    "inTime": in_time,
                    "outTime": str(self.clock.now_us()),
                },
            )
        return self._ok(
            [
                {
                    "clOrdId": order.cl_ord_id,
                    "ordId": order.ord_id,
                    "sCode": "0",
                    "sMsg": "Order placed",
                    "tag": "",
                    "ts": str(order.c_time),
                }
            ],
            inTime=in_time,
            outTime=str(self.clock.now_us()),
        )

    def _new_order(self, key: SimKey, body: dict[str, Any], cl_ord_id: str) -> Order:
        """Validate, commit and (if it crosses) fill one order. Caller holds the lock."""
        if cl_ord_id and not CLORDID_RE.fullmatch(cl_ord_id):
            raise OrderRejected("51000", "Parameter clOrdId error")
        if cl_ord_id and any(o.uid == key.uid and o.cl_ord_id == cl_ord_id and o.pending for o in self._orders):
            raise OrderRejected("51016", message("51016"))
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
        tgt_ccy = ""
        base, quote = inst.base_ccy, inst.quote_ccy
        if ord_type == "market":
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
                need_ccy, need = quote, sz if tgt_ccy == "quote_ccy" else base_sz * ticker.ask_px
            else:
                need_ccy, need = base, base_sz
        else:
            base_sz = sz
            if not is_multiple(base_sz, inst.lot_sz):
                raise OrderRejected("51121", message("51121"))
            assert px is not None
            need_ccy, need = (quote, px * base_sz) if side == "buy" else (base, base_sz)
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
        )
        self._orders.append(order)
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
            self._balance_utime[acct.uid] = now  # funds frozen
        return order

    def _fill(self, order: Order, px: Decimal, fee_rate: Decimal, now: int, exec_type: str) -> None:
        """Fill the rest of ``order`` at ``px``; fee charged in the received currency."""
        acct = self._account(order.uid)
        bal = acct.balances
        qty = order.base_sz - order.acc_fill_sz
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
        order.state = "filled"
        order.u_time = now
        self._balance_utime[acct.uid] = now

    def _get_order(self, req: ApiRequest, key: SimKey | None) -> ApiResponse:
        assert key is not None
        inst_id = req.query.get("instId", "")
        if not inst_id:
            raise OkxError("50014", "instId")
        ord_id = req.query.get("ordId", "")
        cl_ord_id = req.query.get("clOrdId", "")
        if not ord_id and not cl_ord_id:
            raise OkxError("50015", "ordId", "clOrdId")
        with self.lock:
            for order in reversed(self._orders):
                if order.uid != key.uid or order.inst_id != inst_id:
                    continue
                if (ord_id and order.ord_id == ord_id) or (not ord_id and order.cl_ord_id == cl_ord_id):
                    return self._ok([order.to_okx()])
        raise OkxError("51603")
