"""The simulated exchange: authentication, permissions and rate limits in front of the API areas.

Nothing here knows about HTTP: :class:`Exchange.handle` takes an :class:`ApiRequest` (method, the
request-target exactly as received, headers, raw body, peer IP) and returns an :class:`ApiResponse`.
The endpoints live in one module per OKX API area (``public``, ``account``, ``trade`` and
``trade_queries``, ``subaccount``, ``asset``), each with its own ``ROUTES``. All state lives in one
deep copy of the seed and is guarded by one re-entrant lock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from . import account, asset, public, subaccount, trade, trade_queries
from .account import AccountApi
from .asset import AssetApi
from .core import Clock
from .errors import OkxError
from .faults import SimFaults
from .public import PublicApi
from .ratelimit import SlidingWindowLimiter
from .state import SimKey, SimSeed, SimTicker
from .subaccount import SubAccountApi
from .trade import TradeApi
from .trade_queries import TradeQueryApi
from .wire import ZERO, ApiRequest, ApiResponse, Route, ip_allowed, merge_routes, parse_okx_timestamp, sign

__all__ = ["ROUTES", "ApiRequest", "ApiResponse", "Exchange", "sign"]

ROUTES = merge_routes(
    public.ROUTES, account.ROUTES, trade.ROUTES, trade_queries.ROUTES, subaccount.ROUTES, asset.ROUTES
)


@dataclass
class Exchange(PublicApi, AccountApi, TradeApi, TradeQueryApi, SubAccountApi, AssetApi):
    seed: SimSeed
    faults: SimFaults
    state: SimSeed = field(init=False)

    def __post_init__(self) -> None:
        self.state = self.seed.model_copy(deep=True)
        self.lock = threading.RLock()
        self.limiter = SlidingWindowLimiter(2.0)
        self.clock = Clock(self.faults)
        self._orders = []
        self._fills = []
        self._bill_ids = itertools.count(800_000_000_000_000_001)
        self._ord_ids = itertools.count(700_000_000_000_000_001)
        self._trade_ids = itertools.count(900_000_001)
        self._last_used = {}
        self._balance_utime = {}

    # ---- public helpers (used by OkxSimulator) ----------------------------------------------------

    def orders(self, uid: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [o.to_okx() for o in self._orders if uid is None or o.uid == uid]

    def key_last_used_ms(self, api_key: str) -> int | None:
        with self.lock:
            return self._last_used.get(api_key)

    def balances(self, uid: str) -> dict[str, Decimal]:
        with self.lock:
            acct = self._account(uid)
            return dict(acct.balances)

    def available_balances(self, uid: str) -> dict[str, Decimal]:
        with self.lock:
            acct = self._account(uid)
            frozen = self._frozen(uid)
            return {ccy: cash - frozen.get(ccy, ZERO) for ccy, cash in acct.balances.items()}

    def set_balance(self, uid: str, ccy: str, amount: Decimal) -> None:
        with self.lock:
            self._account(uid).balances[ccy] = Decimal(amount)
            self._balance_utime[uid] = self.now_ms()

    def set_ticker(self, inst_id: str, last: Decimal, bid_px: Decimal, ask_px: Decimal) -> None:
        with self.lock:
            ticker = SimTicker(last=last, bid_px=bid_px, ask_px=ask_px)
            self.state.tickers[inst_id] = ticker
            now = self.now_ms()
            for order in self._orders:
                if not order.pending or order.inst_id != inst_id or order.px is None:
                    continue
                crosses = (order.side == "buy" and order.px >= ticker.ask_px) or (
                    order.side == "sell" and order.px <= ticker.bid_px
                )
                if crosses:
                    self._fill(order, order.px, self.state.fee_rate_maker, now, exec_type="M")

    def fill_order(self, cl_ord_id: str, size: Decimal | None = None) -> dict[str, Any]:
        """A counterparty takes ``size`` (default: all the rest) of the latest pending order with this clOrdId,
        at the order's own price (maker fee): how a test or the demo makes a resting limit order fill partly."""
        with self.lock:
            for order in reversed(self._orders):
                if order.cl_ord_id == cl_ord_id and order.pending and order.px is not None:
                    self._fill(order, order.px, self.state.fee_rate_maker, self.now_ms(), exec_type="M", qty=size)
                    return order.to_okx()
        raise KeyError(f"no pending limit order with clOrdId {cl_ord_id}")

    def set_funding_balance(self, uid: str, ccy: str, amount: Decimal) -> None:
        with self.lock:
            self._account(uid).funding[ccy] = Decimal(amount)

    def add_key(self, key: SimKey) -> None:
        with self.lock:
            if self.state.key(key.api_key) is not None:
                raise ValueError(f"duplicate api_key {key.api_key}")
            self._account(key.uid)
            self.state.keys.append(key.model_copy(deep=True))

    def key(self, api_key: str) -> SimKey | None:
        with self.lock:
            return self.state.key(api_key)

    # ---- request handling -------------------------------------------------------------------------

    def handle(self, req: ApiRequest) -> ApiResponse:
        methods = ROUTES.get(req.path)
        if methods is None:
            return ApiResponse(404, {"code": "50115", "msg": "Invalid request path.", "data": []})
        route = methods.get(req.method)
        if route is None:
            return self._error(OkxError("50115"))
        try:
            key: SimKey | None = None
            if route.private:
                key = self._authenticate(req)
                self._check_permission(route, key)
                if self.faults.take_rate_limit_storm():
                    raise OkxError("50011")
            self._check_rate_limit(route, req, key)
            self.faults.run_hooks(route.name, "before", req)
            handler: Callable[[ApiRequest, SimKey | None], ApiResponse] = getattr(self, route.handler)
            response = handler(req, key)
        except OkxError as err:
            return self._error(err)
        self.faults.run_hooks(route.name, "after", req)
        if route.name == "POST trade/order" and self.faults.take_drop_after_order():
            response.drop = True
        if route.name == "POST trade/cancel-order" and self.faults.take_drop_after_cancel():
            response.drop = True
        return response

    def _authenticate(self, req: ApiRequest) -> SimKey:
        api_key = req.header("OK-ACCESS-KEY")
        signature = req.header("OK-ACCESS-SIGN")
        timestamp = req.header("OK-ACCESS-TIMESTAMP")
        passphrase = req.header("OK-ACCESS-PASSPHRASE")
        if not api_key:
            raise OkxError("50103")
        if not signature:
            raise OkxError("50106")
        if not timestamp:
            raise OkxError("50107")
        if not passphrase:
            raise OkxError("50104")
        ts_ms = parse_okx_timestamp(timestamp)
        if ts_ms is None:
            raise OkxError("50112")
        if abs(self.now_ms() - ts_ms) > self.state.timestamp_window_s * 1000:
            raise OkxError("50102")
        with self.lock:
            found = self.state.key(api_key)
            key = found.model_copy(deep=True) if found is not None else None
        if key is None or key.deleted:
            raise OkxError(self.faults.gone_key_code)
        if key.region != (req.region or self.state.region):  # a key is known only at its own region's host
            raise OkxError("50119")
        # http.server decodes header values and the request line as ISO-8859-1: re-encode to raw bytes.
        if not hmac.compare_digest(passphrase.encode("latin-1"), key.passphrase.encode("utf-8")):
            raise OkxError("50105")
        signed = (timestamp + req.method + req.raw_path).encode("latin-1") + req.body
        expected = base64.b64encode(hmac.new(key.secret.encode("utf-8"), signed, hashlib.sha256).digest())
        if not hmac.compare_digest(expected, signature.encode("latin-1")):
            raise OkxError("50113")
        demo = req.header("x-simulated-trading") == "1"
        if demo != key.demo:
            raise OkxError("50101")
        if key.ips and not ip_allowed(req.peer_ip, key.ips):
            raise OkxError("50110", req.peer_ip)
        with self.lock:
            self._last_used[key.api_key] = self.now_ms()
        return key

    def _check_permission(self, route: Route, key: SimKey) -> None:
        # OKX's order for master-only endpoints: the main account's key, bound to an IP, then its permission.
        if route.need_master:
            with self.lock:
                acct = self.state.account(key.uid)
            if acct is None or not acct.is_master:
                raise OkxError("59500")
        if route.need_ip_bound and not key.ips:
            raise OkxError("50035")
        if route.need_trade and "trade" not in key.perm:
            raise OkxError("50120")

    def _check_rate_limit(self, route: Route, req: ApiRequest, key: SimKey | None) -> None:
        if route.limit is None or not self.state.rate_limits_enabled:
            return
        ident: tuple[str, ...]
        if key is not None:
            ident = ("uid", key.uid, route.name)
            if route.per_inst:
                ident += (self._inst_id_of(req),)
        else:
            ident = ("ip", req.peer_ip, route.name)
            if route.name == "GET public/instruments":
                ident += (req.query.get("instType", ""),)
        if not self.limiter.allow(ident, route.limit, route.window_s):
            raise OkxError("50011")

    @staticmethod
    def _inst_id_of(req: ApiRequest) -> str:
        if req.method == "GET":
            return req.query.get("instId", "")
        try:
            body = json.loads(req.body or b"null")
        except (ValueError, UnicodeDecodeError):
            return ""
        return str(body.get("instId", "")) if isinstance(body, dict) else ""
