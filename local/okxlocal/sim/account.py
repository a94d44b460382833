"""Account endpoints: the key's account configuration and the trading account's balances."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .core import ExchangeCore
from .state import SimKey
from .wire import ZERO, ApiRequest, ApiResponse, Route, fmt

ROUTES: dict[str, dict[str, Route]] = {
    "/api/v5/account/config": {"GET": Route("GET account/config", "_account_config", private=True, limit=5)},
    "/api/v5/account/balance": {"GET": Route("GET account/balance", "_account_balance", private=True, limit=10)},
}


class AccountApi(ExchangeCore):
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
                details.append(_detail_okx(ccy, cash, frozen.get(ccy, ZERO), eq_usd, u_time))
        return self._ok(
            [
                {
                    "adjEq": "",
                    "borrowFroz": "",
                    "details": details,
                    "imr": "",
                    "isoEq": "0",
                    "mgnRatio": "",
                    "mmr": "",
                    "notionalUsd": "0",
                    "notionalUsdForBorrow": "0",
                    "notionalUsdForFutures": "0",
                    "notionalUsdForOption": "0",
                    "notionalUsdForSwap": "0",
                    "ordFroz": "",
                    "totalEq": fmt(total),
                    "uTime": str(self.now_ms()),
                    "upl": "0",
                }
            ]
        )


def _detail_okx(ccy: str, cash: Decimal, frozen_bal: Decimal, eq_usd: Decimal, u_time: str) -> dict[str, Any]:
    """One currency of a spot cash account, with every field of OKX's documented example."""
    avail = fmt(cash - frozen_bal)
    zero_fields = ("borrowFroz", "crossLiab", "fixedBal", "interest", "isoEq", "isoLiab", "isoUpl", "liab")
    zero_fields += ("maxLoan", "rewardBal", "smtSyncEq", "spotCopyTradingEq", "spotIsoBal", "stgyEq", "twap")
    blank_fields = ("accAvgPx", "clSpotInUseAmt", "imr", "maxSpotInUse", "mgnRatio", "mmr", "notionalLever")
    blank_fields += ("openAvgPx", "spotBal", "spotInUseAmt", "spotUpl", "spotUplRatio", "totalPnl", "totalPnlRatio")
    return {
        **dict.fromkeys(zero_fields, "0"),
        **dict.fromkeys(blank_fields, ""),
        "availBal": avail,
        "availEq": avail,
        "cashBal": fmt(cash),
        "ccy": ccy,
        "collateralEnabled": False,
        "disEq": fmt(eq_usd),
        "eq": fmt(cash),
        "eqUsd": fmt(eq_usd),
        "frozenBal": fmt(frozen_bal),
        "ordFrozen": fmt(frozen_bal),
        "uTime": u_time,
        "upl": "0",
        "uplLiab": "0",
    }
