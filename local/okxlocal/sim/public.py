"""Public endpoints: server time, ticker, instruments (no key, limited per IP)."""

from __future__ import annotations

from typing import Any

from .core import ExchangeCore
from .errors import OkxError
from .state import SimInstrument, SimKey
from .wire import ApiRequest, ApiResponse, Route, fmt

ROUTES: dict[str, dict[str, Route]] = {
    "/api/v5/public/time": {"GET": Route("GET public/time", "_public_time", private=False)},
    "/api/v5/market/ticker": {"GET": Route("GET market/ticker", "_market_ticker", private=False, limit=20)},
    "/api/v5/public/instruments": {
        "GET": Route("GET public/instruments", "_public_instruments", private=False, limit=20)
    },
}


class PublicApi(ExchangeCore):
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
            "auctionEndTime": "",
            "baseCcy": inst.base_ccy,
            "category": "1",
            "ctMult": "",
            "ctType": "",
            "ctVal": "",
            "ctValCcy": "",
            "expTime": "",
            "futureSettlement": False,
            "instFamily": "",
            "instId": inst.inst_id,
            "instType": "SPOT",
            "lever": "",
            "listTime": "1606468572000",
            "lotSz": fmt(inst.lot_sz),
            "maxIcebergSz": "9999999999",
            "maxLmtAmt": "1000000",
            "maxLmtSz": "9999999999",
            "maxMktAmt": "1000000",
            "maxMktSz": "",
            "maxStopSz": "",
            "maxTriggerSz": "9999999999",
            "maxTwapSz": "9999999999",
            "minSz": fmt(inst.min_sz),
            "optType": "",
            "quoteCcy": inst.quote_ccy,
            "ruleType": "normal",
            "settleCcy": "",
            "state": inst.state,
            "stk": "",
            "tickSz": fmt(inst.tick_sz),
            "uly": "",
        }
