"""Trade endpoints that read: one order, the pending orders, the order history and the fills.

Lists are newest first and paginate as OKX does: ``after`` (older than this id), ``before`` (newer),
``limit`` (at most and by default 100).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from .core import ExchangeCore
from .errors import OkxError
from .orders import Fill, Order
from .state import SimKey
from .wire import ApiRequest, ApiResponse, Route

MAX_PAGE = 100

ROUTES: dict[str, dict[str, Route]] = {
    "/api/v5/trade/order": {
        "GET": Route("GET trade/order", "_get_order", private=True, limit=60, per_inst=True),
    },
    "/api/v5/trade/orders-pending": {
        "GET": Route("GET trade/orders-pending", "_orders_pending", private=True, limit=60),
    },
    "/api/v5/trade/orders-history": {
        "GET": Route("GET trade/orders-history", "_orders_history", private=True, limit=40),
    },
    "/api/v5/trade/fills-history": {
        "GET": Route("GET trade/fills-history", "_fills_history", private=True, limit=10),
    },
}

ItemT = TypeVar("ItemT", Order, Fill)


class TradeQueryApi(ExchangeCore):
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
            order = self._find_order(key.uid, inst_id, ord_id, cl_ord_id)
            if order is not None:
                return self._ok([order.to_okx()])
        raise OkxError("51603")

    def _orders_pending(self, req: ApiRequest, key: SimKey | None) -> ApiResponse:
        assert key is not None
        return self._order_list(req, key, pending=True)

    def _orders_history(self, req: ApiRequest, key: SimKey | None) -> ApiResponse:
        assert key is not None
        if not req.query.get("instType", ""):
            raise OkxError("50014", "instType")
        return self._order_list(req, key, pending=False)

    def _order_list(self, req: ApiRequest, key: SimKey, *, pending: bool) -> ApiResponse:
        query = req.query
        if query.get("instType", "SPOT") not in ("", "SPOT"):
            return self._ok([])
        inst_id = query.get("instId", "")
        ord_types = {t for t in query.get("ordType", "").split(",") if t}
        state = query.get("state", "")
        with self.lock:
            orders = [
                o
                for o in self._orders
                if o.uid == key.uid
                and o.pending == pending
                and (not inst_id or o.inst_id == inst_id)
                and (not ord_types or o.ord_type in ord_types)
                and (not state or o.state == state)
            ]
            page = _page(orders, query, id_of=lambda o: int(o.ord_id))
            return self._ok([o.to_okx() for o in page])

    def _fills_history(self, req: ApiRequest, key: SimKey | None) -> ApiResponse:
        assert key is not None
        query = req.query
        if not query.get("instType", ""):
            raise OkxError("50014", "instType")
        if query["instType"] != "SPOT":
            return self._ok([])
        inst_id = query.get("instId", "")
        ord_id = query.get("ordId", "")
        with self.lock:
            fills = [
                f
                for f in self._fills
                if f.uid == key.uid and (not inst_id or f.inst_id == inst_id) and (not ord_id or f.ord_id == ord_id)
            ]
            page = _page(fills, query, id_of=lambda f: int(f.bill_id))
            return self._ok([f.to_okx() for f in page])


def _page(items: Sequence[ItemT], query: dict[str, str], *, id_of: Callable[[ItemT], int]) -> list[ItemT]:
    """Newest first; ``after``/``before`` by id, ``limit`` at most 100 (OKX's pagination)."""
    try:
        limit = int(query.get("limit") or MAX_PAGE)
        after = int(query["after"]) if query.get("after") else None
        before = int(query["before"]) if query.get("before") else None
    except ValueError:
        raise OkxError("51000", "limit/after/before") from None
    if not 1 <= limit <= MAX_PAGE:
        raise OkxError("51000", "limit")
    selected: list[Any] = [
        item
        for item in sorted(items, key=id_of, reverse=True)
        if (after is None or id_of(item) < after) and (before is None or id_of(item) > before)
    ]
    return selected[:limit]
