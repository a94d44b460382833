"""The simulated exchange: authentication, permissions, rate limits, endpoints, orders and balances.

Nothing here knows about HTTP: :class:`Exchange.handle` takes an :class:`ApiRequest` (method, the
request-target exactly as received, headers, raw body, peer IP) and returns an :class:`ApiResponse`.
All state lives in one deep copy of the seed and is guarded by one re-entrant lock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import itertools
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from .errors import OkxError, message
from .faults import SimFaults
from .ratelimit import SlidingWindowLimiter
from .state import SimAccount, SimInstrument, SimKey, SimSeed, SimTicker

ZERO = Decimal(0)
TIMESTAMP_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
CLORDID_RE = re.compile(r"[A-Za-z0-9]{1,32}")
ORD_TYPES = ("market", "limit", "post_only", "ioc", "fok")
MAX_KEYS_PER_ACCOUNT = 50
MAX_IPS_PER_KEY = 20
SUB_KEY_PERMS = ("read_only", "trade")


# --------------------------------------------------------------------------------------------------
# helpers


def fmt(value: Decimal) -> str:
    """Decimal as OKX writes numbers: plain notation, no trailing zeros, "0" for zero."""
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def sign(secret: str, timestamp: str, method: str, request_path: str, body: bytes | str = b"") -> str:
    """OKX signature: Base64(HMAC-SHA256(secret, timestamp + METHOD + requestPath + body))."""
    raw_body = body.encode("utf-8") if isinstance(body, str) else body
    msg = (timestamp + method.upper() + request_path).encode("utf-8") + raw_body
    return base64.b64encode(hmac.new(secret.encode("utf-8"), msg, hashlib.sha256).digest()).decode("ascii")


def parse_okx_timestamp(text: str) -> int | None:
    """``2020-12-08T09:08:57.715Z`` -> epoch ms; None unless exactly that form (3 digits, Z)."""
    if not TIMESTAMP_RE.fullmatch(text):
        return None
    try:
        parsed = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    return round(parsed.timestamp() * 1000)


def ip_allowed(peer: str, allowlist: list[str]) -> bool:
    """Is ``peer`` in the allowlist (plain IPs or CIDR blocks, IPv4 or IPv6)?"""
    try:
        addr: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(peer)
    except ValueError:
        return peer in allowlist
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    for entry in allowlist:
        entry = entry.strip()
        try:
            if addr in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            if entry == peer:
                return True
    return False


def _positive_decimal(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not number.is_finite() or number <= 0:
        return None
    return number


def _round_down(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


def _is_multiple(value: Decimal, step: Decimal) -> bool:
    return step <= 0 or value % step == 0


def _parse_ip_list(value: object) -> list[str]:
    if not isinstance(value, str):
        raise OkxError("51000", "ip")
    entries = [part.strip() for part in value.split(",") if part.strip()]
    if len(entries) > MAX_IPS_PER_KEY:
        raise OkxError("59503")
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise OkxError("51000", "ip") from None
    return entries


def _parse_sub_perm(value: object) -> set[str]:
    if not isinstance(value, str):
        raise OkxError("51000", "perm")
    perms = {part.strip() for part in value.split(",") if part.strip()}
    if "withdraw" in perms:
        raise OkxError("59504")
    if not perms or not perms <= set(SUB_KEY_PERMS):
        raise OkxError("51000", "perm")
    return perms | {"read_only"}


# --------------------------------------------------------------------------------------------------
# request / response / routes


@dataclass
class ApiRequest:
    method: str
    raw_path: str  # request-target as received, with ?query (what OKX signs)
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    peer_ip: str

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


@dataclass
class ApiResponse:
    http_status: int
    payload: dict[str, Any]
    drop: bool = False  # close the connection without answering

    @property
    def code(self) -> str:
        return str(self.payload.get("code", ""))


@dataclass(frozen=True)
class Route:
    name: str
    handler: str
    private: bool
    limit: int | None = None
    per_inst: bool = False
    need_trade: bool = False
    need_master: bool = False
    need_ip_bound: bool = False


ROUTES: dict[str, dict[str, Route]] = {
    "/api/v5/public/time": {"GET": Route("GET public/time", "_public_time", private=False)},
    "/api/v5/market/ticker": {"GET": Route("GET market/ticker", "_market_ticker", private=False, limit=20)},
    "/api/v5/public/instruments": {
        "GET": Route("GET public/instruments", "_public_instruments", private=False, limit=20)
    },
    "/api/v5/account/config": {"GET": Route("GET account/config", "_account_config", private=True, limit=5)},
    "/api/v5/account/balance": {"GET": Route("GET account/balance", "_account_balance", private=True, limit=10)},
    "/api/v5/trade/order": {
        "POST": Route("POST trade/order", "_place_order", private=True, limit=60, per_inst=True, need_trade=True),
        "GET": Route("GET trade/order", "_get_order", private=True, limit=60, per_inst=True),
    },
    "/api/v5/users/subaccount/list": {
        "GET": Route("GET subaccount/list", "_subaccount_list", private=True, limit=2, need_master=True)
    },
    "/api/v5/users/subaccount/apikey": {
        "GET": Route("GET subaccount/apikey", "_subaccount_keys", private=True, limit=20, need_master=True),
        "POST": Route(
            "POST subaccount/apikey",
            "_subaccount_create_key",
            private=True,
            limit=2,
            need_master=True,
            need_ip_bound=True,
        ),
    },
    "/api/v5/users/subaccount/modify-apikey": {
        "POST": Route(
            "POST subaccount/modify-apikey",
            "_subaccount_modify_key",
            private=True,
            limit=2,
            need_master=True,
            need_ip_bound=True,
        )
    },
    "/api/v5/users/subaccount/delete-apikey": {
        "POST": Route(
            "POST subaccount/delete-apikey",
            "_subaccount_delete_key",
            private=True,
            limit=2,
            need_master=True,
            need_ip_bound=True,
        )
    },
}


# --------------------------------------------------------------------------------------------------
# orders


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


class _OrderRejected(Exception):
    def __init__(self, s_code: str, s_msg: str) -> None:
        super().__init__(f"{s_code} {s_msg}")
        self.s_code = s_code
        self.s_msg = s_msg


# --------------------------------------------------------------------------------------------------
# the exchange


@dataclass
class _Clock:
    faults: SimFaults

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + int(self.faults.clock_offset_ms)

    def now_us(self) -> int:
        return time.time_ns() // 1_000 + int(self.faults.clock_offset_ms) * 1000


@dataclass
class Exchange:
    seed: SimSeed
    faults: SimFaults
    state: SimSeed = field(init=False)

    def __post_init__(self) -> None:
        self.state = self.seed.model_copy(deep=True)
        self.lock = threading.RLock()
        self.limiter = SlidingWindowLimiter(2.0)
        self.clock = _Clock(self.faults)
        self._orders: list[Order] = []
        self._ord_ids = itertools.count(700_000_000_000_000_001)
        self._trade_ids = itertools.count(900_000_001)
        self._last_used: dict[str, int] = {}
        self._balance_utime: dict[str, int] = {}

    # ---- public helpers (used by OkxSimulator) ----------------------------------------------------

    def now_ms(self) -> int:
        return self.clock.now_ms()

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
            handler: Callable[[ApiRequest, SimKey | None], ApiResponse] = getattr(self, route.handler)
            response = handler(req, key)
        except OkxError as err:
            return self._error(err)
        if route.name == "POST trade/order" and self.faults.take_drop_after_order():
            response.drop = True
        return response

    @staticmethod
    def _error(err: OkxError) -> ApiResponse:
        return ApiResponse(err.http_status, err.body())

    @staticmethod
    def _ok(data: list[Any], **extra: Any) -> ApiResponse:
        return ApiResponse(200, {"code": "0", "msg": "", "data": data, **extra})

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
            raise OkxError("50111")
        if key.region != self.state.region:
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
        if route.need_trade and "trade" not in key.perm:
            raise OkxError("50120")
        if route.need_master:
            with self.lock:
                acct = self.state.account(key.uid)
            if acct is None or not acct.is_master:
                raise OkxError("50120")
        if route.need_ip_bound and not key.ips:
            raise OkxError("50035")

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
        if not self.limiter.allow(ident, route.limit):
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

    @staticmethod
    def _json_body(req: ApiRequest) -> dict[str, Any]:
        if not req.body.strip():
            raise OkxError("50000")
        try:
            body = json.loads(req.body)
        except (ValueError, UnicodeDecodeError):
            raise OkxError("50002") from None
        if not isinstance(body, dict):
            raise OkxError("50002")
        return body

    def _account(self, uid: str) -> SimAccount:
        acct = self.state.account(uid)
        if acct is None:
            raise KeyError(f"unknown uid {uid}")
        return acct

    # ---- public endpoints -------------------------------------------------------------------------

    def _public_time(self, req: ApiRequest, key: SimKey | None) -> ApiResponse:
        return self._ok([{"ts": str(self.now_ms())}])

    def _market_ticker(self, req: ApiRequest, key: SimKey | None) -> ApiResponse:
        inst_id = req.query.get("instId", "")
        if not inst_id:
            raise OkxError("50014", "instId")
        with self.lock:
            ticker = self.state.tickers.get(inst_id)
            known = self.state.instrument(inst_id) is not None
        if ticker is None or not known:
            raise OkxError("51001")
        last = fmt(ticker.last)
        return self._ok(
            [
                {
                    "instType": "SPOT",
                    "instId": inst_id,
                    "last": last,
                    "lastSz": "0",
                    "askPx": fmt(ticker.ask_px),
                    "askSz": "1",
                    "bidPx": fmt(ticker.bid_px),
                    "bidSz": "1",
                    "open24h": last,
                    "high24h": last,
                    "low24h": last,
                    "volCcy24h": "0",
                    "vol24h": "0",
                    "sodUtc0": last,
                    "sodUtc8": last,
                    "ts": str(self.now_ms()),
                }
            ]
        )

    def _public_instruments(self, req: ApiRequest, key: SimKey | None) -> ApiResponse:
        inst_type = req.query.get("instType", "")
        if not inst_type:
            raise OkxError("50014", "instType")
        if inst_type != "SPOT":
            return self._ok([])
        inst_id = req.query.get("instId", "")
        with self.lock:
            instruments = [i for i in self.state.instruments if not inst_id or i.inst_id == inst_id]
        if inst_id and not instruments:
            raise OkxError("51001")
        return self._ok([self._instrument_okx(i) for i in instruments])

    @staticmethod
    def _instrument_okx(inst: SimInstrument) -> dict[str, Any]:
        return {
            "alias": "",
            "baseCcy": inst.base_ccy,
            "category": "1",
            "ctMult": "",
            "ctType": "",
            "ctVal": "",
            "ctValCcy": "",
            "expTime": "",
            "instFamily": "",
            "instId": inst.inst_id,
            "instType": "SPOT",
            "lever": "",
            "listTime": "1606468572000",
            "lotSz": fmt(inst.lot_sz),
            "maxLmtSz": "9999999999",
            "maxMktAmt": "1000000",
            "maxMktSz": "",
            "minSz": fmt(inst.min_sz),
            "optType": "",
            "quoteCcy": inst.quote_ccy,
            "settleCcy": "",
            "state": inst.state,
            "stk": "",
            "tickSz": fmt(inst.tick_sz),
            "uly": "",
        }

    # ---- account ----------------------------------------------------------------------------------

    def _account_config(self, req: ApiRequest, key: SimKey | None) -> ApiResponse:
        assert key is not None
        with self.lock:
            acct = self._account(key.uid)
        return self._ok(
            [
                {
                    "acctLv": "1",
                    "acctStpMode": "cancel_maker",
                    "autoLoan": False,
                    "ctIsoMode": "automatic",
                    "enableSpotBorrow": False,
                    "greeksType": "PA",
                    "ip": key.ip_string(),
                    "kycLv": "2",
                    "label": key.label,
                    "level": "Lv1",
                    "levelTmp": "",
                    "liquidationGear": "-1",
                    "mainUid": acct.main_uid or acct.uid,
                    "mgnIsoMode": "automatic",
                    "opAuth": "0",
                    "perm": key.perm_string(),
                    "posMode": "net_mode",
                    "roleType": "0",
                    "spotBorrowAutoRepay": False,
                    "spotOffsetType": "",
                    "spotRoleType": "0",
                    "spotTraderInsts": [],
                    "traderInsts": [],
                    "type": "0" if acct.is_master else "1",
                    "uid": acct.uid,
                }
            ]
        )

    def _usd_price(self, ccy: str) -> Decimal:
        if ccy in ("USDT", "USD"):
            return Decimal(1)
        ticker = self.state.tickers.get(f"{ccy}-USDT")
        return ticker.last if ticker is not None else ZERO

    def _frozen(self, uid: str) -> dict[str, Decimal]:
        frozen: dict[str, Decimal] = {}
        for order in self._orders:
            if order.uid != uid:
                continue
            reserved = order.frozen()
            if reserved is not None:
                frozen[reserved[0]] = frozen.get(reserved[0], ZERO) + reserved[1]
        return frozen

    def _account_balance(self, req: ApiRequest, key: SimKey | None) -> ApiResponse:
        assert key is not None
        wanted = {c.strip() for c in req.query.get("ccy", "").split(",") if c.strip()}
        with self.lock:
            acct = self._account(key.uid)
            frozen = self._frozen(acct.uid)
            u_time = str(self._balance_utime.get(acct.uid, acct.created_ms))
            total = ZERO
            details = []
            for ccy, cash in sorted(acct.balances.items()):
                eq_usd = cash * self._usd_price(ccy)
                total += eq_usd
                if wanted and ccy not in wanted:
                    continue
                frozen_bal = frozen.get(ccy, ZERO)
                details.append(
                    {
                        "availBal": fmt(cash - frozen_bal),
                        "availEq": fmt(cash - frozen_bal),
                        "cashBal": fmt(cash),
                        "ccy": ccy,
                        "crossLiab": "0",
                        "disEq": fmt(eq_usd),
                        "eq": fmt(cash),
                        "eqUsd": fmt(eq_usd),
                        "fixedBal": "0",
                        "frozenBal": fmt(frozen_bal),
                        "interest": "0",
                        "isoEq": "0",
                        "liab": "0",
                        "maxLoan": "",
                        "ordFrozen": fmt(frozen_bal),
                        "uTime": u_time,
                        "upl": "0",
                    }
                )
        return self._ok(
            [
                {
                    "adjEq": "",
                    "details": details,
                    "imr": "",
                    "isoEq": "0",
                    "mgnRatio": "",
                    "mmr": "",
                    "notionalUsd": "0",
                    "ordFroz": "",
                    "totalEq": fmt(total),
                    "uTime": str(self.now_ms()),
                    "upl": "0",
                }
            ]
        )

    # ---- trade ------------------------------------------------------------------------------------

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
        except _OrderRejected as rejected:
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
            raise _OrderRejected("51000", "Parameter clOrdId error")
        if cl_ord_id and any(o.uid == key.uid and o.cl_ord_id == cl_ord_id and o.pending for o in self._orders):
            raise _OrderRejected("51016", message("51016"))
        inst = self.state.instrument(str(body.get("instId", "")))
        if inst is None or inst.state != "live":
            raise _OrderRejected("51001", message("51001"))
        if body.get("tdMode") != "cash":
            raise _OrderRejected("51000", "Parameter tdMode error")
        side = body.get("side")
        if side not in ("buy", "sell"):
            raise _OrderRejected("51000", "Parameter side error")
        ord_type = body.get("ordType")
        if ord_type not in ORD_TYPES:
            raise _OrderRejected("51000", "Parameter ordType error")
        sz = _positive_decimal(body.get("sz"))
        if sz is None:
            raise _OrderRejected("51000", "Parameter sz error")
        px: Decimal | None = None
        if ord_type != "market":
            px = _positive_decimal(body.get("px"))
            if px is None:
                raise _OrderRejected("51000", "Parameter px error")
        ticker = self.state.tickers.get(inst.inst_id)
        tgt_ccy = ""
        base, quote = inst.base_ccy, inst.quote_ccy
        if ord_type == "market":
            tgt_ccy = str(body.get("tgtCcy") or ("quote_ccy" if side == "buy" else "base_ccy"))
            if tgt_ccy not in ("base_ccy", "quote_ccy"):
                raise _OrderRejected("51000", "Parameter tgtCcy error")
            if ticker is None:
                raise _OrderRejected("51001", message("51001"))
            if tgt_ccy == "quote_ccy":
                price = ticker.ask_px if side == "buy" else ticker.bid_px
                base_sz = _round_down(sz / price, inst.lot_sz)
            else:
                base_sz = sz
                if not _is_multiple(base_sz, inst.lot_sz):
                    raise _OrderRejected("51121", message("51121"))
            if side == "buy":
                need_ccy, need = quote, sz if tgt_ccy == "quote_ccy" else base_sz * ticker.ask_px
            else:
                need_ccy, need = base, base_sz
        else:
            base_sz = sz
            if not _is_multiple(base_sz, inst.lot_sz):
                raise _OrderRejected("51121", message("51121"))
            assert px is not None
            need_ccy, need = (quote, px * base_sz) if side == "buy" else (base, base_sz)
        if base_sz <= 0 or base_sz < inst.min_sz:
            raise _OrderRejected("51020", message("51020"))
        if px is not None and not _is_multiple(px, inst.tick_sz):
            raise _OrderRejected("51000", "Parameter px error")
        acct = self._account(key.uid)
        available = acct.balances.get(need_ccy, ZERO) - self._frozen(acct.uid).get(need_ccy, ZERO)
        if need > available:
            raise _OrderRejected("51008", message("51008", need_ccy))

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

    # ---- sub-accounts -----------------------------------------------------------------------------

    def _sub_account(self, master_uid: str, name: object) -> SimAccount:
        if not isinstance(name, str) or not name:
            raise OkxError("50014", "subAcct")
        for acct in self.state.accounts:
            if acct.main_uid == master_uid and acct.sub_acct == name:
                return acct
        raise OkxError("59510")

    def _live_keys(self, uid: str) -> list[SimKey]:
        return [k for k in self.state.keys if k.uid == uid and not k.deleted]

    @staticmethod
    def _key_okx(key: SimKey) -> dict[str, Any]:
        return {
            "label": key.label,
            "apiKey": key.api_key,
            "perm": key.perm_string(),
            "ip": key.ip_string(),
            "ts": str(key.created_ms),
        }

    def _subaccount_list(self, req: ApiRequest, key: SimKey | None) -> ApiResponse:
        assert key is not None
        name = req.query.get("subAcct", "")
        if req.query.get("enable", "") == "false":
            return self._ok([])
        with self.lock:
            subs = [a for a in self.state.accounts if a.main_uid == key.uid and (not name or a.sub_acct == name)]
            data = [
                {
                    "canTransOut": True,
                    "enable": True,
                    "firstLvSubAcct": a.sub_acct,
                    "frozenFunc": [],
                    "gAuth": False,
                    "ifDma": False,
                    "label": a.label,
                    "mobile": "",
                    "subAcct": a.sub_acct,
                    "subAcctLv": "1",
                    "ts": str(a.created_ms),
                    "type": "1",
                    "uid": a.uid,
                }
                for a in subs
            ]
        return self._ok(data)

    def _subaccount_keys(self, req: ApiRequest, key: SimKey | None) -> ApiResponse:
        assert key is not None
        api_key = req.query.get("apiKey", "")
        with self.lock:
            sub = self._sub_account(key.uid, req.query.get("subAcct", ""))
            keys = [k for k in self._live_keys(sub.uid) if not api_key or k.api_key == api_key]
            return self._ok([self._key_okx(k) for k in keys])

    def _subaccount_modify_key(self, req: ApiRequest, key: SimKey | None) -> ApiResponse:
        assert key is not None
        body = self._json_body(req)
        with self.lock:
            sub = self._sub_account(key.uid, body.get("subAcct"))
            target = self._sub_key(sub, body.get("apiKey"))
            label = target.label
            if "label" in body:
                label = str(body["label"])
                if any(k.label == label and k is not target for k in self._live_keys(sub.uid)):
                    raise OkxError("59502")
            perm = set(target.perm)
            if "perm" in body:
                perm = _parse_sub_perm(body["perm"])
            ips = list(target.ips)
            if "ip" in body:
                ips = _parse_ip_list(body["ip"])
            target.label = label
            target.perm = perm
            target.ips = ips
            item = {"subAcct": sub.sub_acct, **self._key_okx(target)}
        return self._ok([item])

    def _sub_key(self, sub: SimAccount, api_key: object) -> SimKey:
        if not isinstance(api_key, str) or not api_key:
            raise OkxError("50014", "apiKey")
        found = self.state.key(api_key)
        if found is None or found.deleted or found.uid != sub.uid:
            raise OkxError("59506")
        return found

    def _subaccount_create_key(self, req: ApiRequest, key: SimKey | None) -> ApiResponse:
        assert key is not None
        body = self._json_body(req)
        label = body.get("label")
        passphrase = body.get("passphrase")
        with self.lock:
            sub = self._sub_account(key.uid, body.get("subAcct"))
            if not isinstance(label, str) or not label:
                raise OkxError("50014", "label")
            if not isinstance(passphrase, str) or not passphrase:
                raise OkxError("50014", "passphrase")
            perm = _parse_sub_perm(body.get("perm") or "read_only")
            ips = _parse_ip_list(body.get("ip") or "")
            live = self._live_keys(sub.uid)
            if len(live) >= MAX_KEYS_PER_ACCOUNT:
                raise OkxError("59501")
            if any(k.label == label for k in live):
                raise OkxError("59502")
            new_key = SimKey(
                api_key=str(uuid.uuid4()),
                secret=secrets.token_hex(16).upper(),
                passphrase=passphrase,
                uid=sub.uid,
                label=label,
                perm=perm,
                ips=ips,
                demo=key.demo,
                region=self.state.region,
                created_ms=self.now_ms(),
            )
            self.state.keys.append(new_key)
            item = {
                "subAcct": sub.sub_acct,
                **self._key_okx(new_key),
                "secretKey": new_key.secret,
                "passphrase": new_key.passphrase,
            }
        return self._ok([item])

    def _subaccount_delete_key(self, req: ApiRequest, key: SimKey | None) -> ApiResponse:
        assert key is not None
        body = self._json_body(req)
        with self.lock:
            sub = self._sub_account(key.uid, body.get("subAcct"))
            target = self._sub_key(sub, body.get("apiKey"))
            target.deleted = True
        return self._ok([{"subAcct": sub.sub_acct}])
