"""Asset (funding account) endpoints: the currencies the account can hold, and its funding balances.

ccxt's ``load_markets()`` calls ``asset/currencies`` whenever API keys are set, and ``fetch_balance``
with ``type="funding"`` reads ``asset/balances``: both must answer as OKX documents them.
"""

from __future__ import annotations

from typing import Any

from .core import ExchangeCore
from .state import SimKey
from .wire import ZERO, ApiRequest, ApiResponse, Route, fmt

ROUTES: dict[str, dict[str, Route]] = {
    # OKX: 6 requests per second per user; the simulator's window is 2 s.
    "/api/v5/asset/currencies": {"GET": Route("GET asset/currencies", "_asset_currencies", private=True, limit=12)},
    "/api/v5/asset/balances": {"GET": Route("GET asset/balances", "_asset_balances", private=True, limit=12)},
}


def _wanted(req: ApiRequest) -> set[str]:
    return {c.strip() for c in req.query.get("ccy", "").split(",") if c.strip()}


def _currency_okx(ccy: str) -> dict[str, Any]:
    """One currency on its own chain, with the documented example's fields (no real network facts)."""
    return {
        "burningFeeRate": "",
        "canDep": True,
        "canInternal": True,
        "canWd": True,
        "ccy": ccy,
        "chain": f"{ccy}-{ccy}",
        "ctAddr": "",
        "depEstOpenTime": "",
        "depQuotaFixed": "",
        "depQuoteDailyLayer2": "",
        "fee": "0",
        "logoLink": "",
        "mainNet": True,
        "maxFee": "0",
        "maxFeeForCtAddr": "",
        "maxWd": "1000000",
        "minDep": "0.00000001",
        "minDepArrivalConfirm": "1",
        "minFee": "0",
        "minFeeForCtAddr": "",
        "minInternal": "0.00000001",
        "minWd": "0.00000001",
        "minWdUnlockConfirm": "1",
        "name": ccy,
        "needTag": False,
        "usedDepQuotaFixed": "",
        "usedWdQuota": "0",
        "wdEstOpenTime": "",
        "wdQuota": "10000000",
        "wdTickSz": "8",
    }


class AssetApi(ExchangeCore):
    def _asset_currencies(self, req: ApiRequest, key: SimKey | None) -> ApiResponse:
        assert key is not None
        wanted = _wanted(req)
        with self.lock:
            acct = self._account(key.uid)
            known = {ccy for inst in self.state.instruments for ccy in (inst.base_ccy, inst.quote_ccy)}
            known |= set(acct.balances) | set(acct.funding)
        return self._ok([_currency_okx(ccy) for ccy in sorted(known) if not wanted or ccy in wanted])

    def _asset_balances(self, req: ApiRequest, key: SimKey | None) -> ApiResponse:
        assert key is not None
        wanted = _wanted(req)
        with self.lock:
            funding = dict(self._account(key.uid).funding)
        return self._ok(
            [
                {"availBal": fmt(amount), "bal": fmt(amount), "ccy": ccy, "frozenBal": fmt(ZERO)}
                for ccy, amount in sorted(funding.items())
                if not wanted or ccy in wanted
            ]
        )
