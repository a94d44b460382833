"""The state every API area works on, and the helpers they share (answers, bodies, frozen funds).

The area mixins (public, account, trade, sub-account) inherit from :class:`ExchangeCore`; the
:class:`~.engine.Exchange` that combines them sets these attributes up in ``__post_init__``.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .errors import OkxError
from .faults import SimFaults
from .orders import Fill, Order
from .ratelimit import SlidingWindowLimiter
from .state import SimAccount, SimSeed
from .wire import ZERO, ApiRequest, ApiResponse


@dataclass
class Clock:
    faults: SimFaults

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + int(self.faults.clock_offset_ms)

    def now_us(self) -> int:
        return time.time_ns() // 1_000 + int(self.faults.clock_offset_ms) * 1000


class ExchangeCore:
    seed: SimSeed
    faults: SimFaults
    state: SimSeed
    lock: threading.RLock
    limiter: SlidingWindowLimiter
    clock: Clock
    _orders: list[Order]
    _fills: list[Fill]
    _bill_ids: itertools.count[int]
    _ord_ids: itertools.count[int]
    _trade_ids: itertools.count[int]
    _last_used: dict[str, int]
    _balance_utime: dict[str, int]

    def now_ms(self) -> int:
        return self.clock.now_ms()

    @staticmethod
    def _error(err: OkxError) -> ApiResponse:
        return ApiResponse(err.http_status, err.body())

    @staticmethod
    def _ok(data: list[Any], **extra: Any) -> ApiResponse:
        return ApiResponse(200, {"code": "0", "msg": "", "data": data, **extra})

    @staticmethod
    def _json_value(req: ApiRequest) -> Any:
        """The request's JSON body: OKX answers 50000 for an empty body and 50002 for one that is not JSON."""
        if not req.body.strip():
            raise OkxError("50000")
        try:
            return json.loads(req.body)
        except (ValueError, UnicodeDecodeError):
            raise OkxError("50002") from None

    @classmethod
    def _json_body(cls, req: ApiRequest) -> dict[str, Any]:
        body = cls._json_value(req)
        if not isinstance(body, dict):
            raise OkxError("50002")
        return body

    @classmethod
    def _json_list_body(cls, req: ApiRequest) -> list[Any]:
        body = cls._json_value(req)
        if not isinstance(body, list):
            raise OkxError("50002")
        return body

    def _account(self, uid: str) -> SimAccount:
        acct = self.state.account(uid)
        if acct is None:
            raise KeyError(f"unknown uid {uid}")
        return acct

    def _frozen(self, uid: str) -> dict[str, Decimal]:
        frozen: dict[str, Decimal] = {}
        for order in self._orders:
            if order.uid != uid:
                continue
            reserved = order.frozen()
            if reserved is not None:
                frozen[reserved[0]] = frozen.get(reserved[0], ZERO) + reserved[1]
        return frozen

    def _find_order(self, uid: str, inst_id: str, ord_id: str, cl_ord_id: str) -> Order | None:
        """By ordId, else the latest order with that clOrdId (OKX's rule). Caller holds the lock."""
        for order in reversed(self._orders):
            if order.uid != uid or order.inst_id != inst_id:
                continue
            if (ord_id and order.ord_id == ord_id) or (not ord_id and order.cl_ord_id == cl_ord_id):
                return order
        return None
