"""Builders for simulator seeds with credentials generated at run time (nothing secret is committed)."""

from __future__ import annotations

import secrets
import time
import uuid
from decimal import Decimal
from typing import Any

from okxlocal.sim import SimAccount, SimInstrument, SimKey, SimSeed, SimTicker

DAY_MS = 86_400_000


def now_ms() -> int:
    return int(time.time() * 1000)


def new_key(
    uid: str,
    label: str,
    *,
    perm: set[str] | None = None,
    ips: list[str] | None = None,
    created_days_ago: float = 1,
    **fields: Any,
) -> SimKey:
    return SimKey(
        api_key=str(uuid.uuid4()),
        secret=secrets.token_hex(16).upper(),
        passphrase="Pp-" + secrets.token_urlsafe(12),
        uid=uid,
        label=label,
        perm=perm if perm is not None else {"read_only", "trade"},
        ips=ips if ips is not None else [],
        created_ms=now_ms() - int(created_days_ago * DAY_MS),
        **fields,
    )


def spot_market() -> tuple[list[SimInstrument], dict[str, SimTicker]]:
    instruments = [
        SimInstrument(
            inst_id="BTC-USDT",
            base_ccy="BTC",
            quote_ccy="USDT",
            min_sz=Decimal("0.00001"),
            lot_sz=Decimal("0.00000001"),
            tick_sz=Decimal("0.1"),
        ),
        SimInstrument(
            inst_id="ETH-USDT",
            base_ccy="ETH",
            quote_ccy="USDT",
            min_sz=Decimal("0.0001"),
            lot_sz=Decimal("0.000001"),
            tick_sz=Decimal("0.01"),
        ),
    ]
    tickers = {
        "BTC-USDT": SimTicker(last=Decimal("60000"), bid_px=Decimal("59990"), ask_px=Decimal("60010")),
        "ETH-USDT": SimTicker(last=Decimal("3000"), bid_px=Decimal("2999.5"), ask_px=Decimal("3000.5")),
    }
    return instruments, tickers


def seed_with(keys: list[SimKey], accounts: list[SimAccount] | None = None, **options: Any) -> SimSeed:
    """A seed holding the keys, one funded master account per uid unless accounts are given."""
    instruments, tickers = spot_market()
    if accounts is None:
        accounts = [
            SimAccount(
                uid=uid,
                label=f"account {uid}",
                balances={"USDT": Decimal("10000"), "BTC": Decimal("0.5"), "ETH": Decimal("2")},
            )
            for uid in dict.fromkeys(key.uid for key in keys)
        ]
    return SimSeed(accounts=accounts, keys=keys, instruments=instruments, tickers=tickers, **options)
