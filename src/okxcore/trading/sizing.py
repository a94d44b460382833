"""Order arithmetic: rounding to an instrument's steps, price offsets, deviation, and rebalance orders.

Rounding is always the safe way for the account: sizes DOWN to lotSz (never more than asked or held);
buy limit prices DOWN and sell limit prices UP to tickSz (never a worse price than the offset gives).
Pure Decimal functions, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from okxcore.models import Instrument, Side, Ticker

ZERO = Decimal(0)
HUNDRED = Decimal(100)
# Proceeds of a rebalance's sells are counted at the bid less this share (fee and slippage) when funding its buys.
SELL_PROCEEDS_HAIRCUT = Decimal("0.005")
# Quote amounts (tgtCcy=quote_ccy) carry at most 8 decimals, as the plan model allows.
QUOTE_STEP = Decimal("0.00000001")


def round_down(value: Decimal, step: Decimal) -> Decimal:
    if step <= 0:
        raise ValueError("step must be positive")
    return ((value / step).to_integral_value(rounding=ROUND_FLOOR) * step).quantize(step)


def round_up(value: Decimal, step: Decimal) -> Decimal:
    if step <= 0:
        raise ValueError("step must be positive")
    return ((value / step).to_integral_value(rounding=ROUND_CEILING) * step).quantize(step)


def limit_price(side: Side, *, bid: Decimal, ask: Decimal, offset_pct: Decimal, tick_sz: Decimal) -> Decimal:
    """Buy: offset below the best bid, rounded down. Sell: offset above the best ask, rounded up."""
    if side == "buy":
        return round_down(bid * (1 - offset_pct / HUNDRED), tick_sz)
    return round_up(ask * (1 + offset_pct / HUNDRED), tick_sz)


def base_size(quote_amount: Decimal, price: Decimal, lot_sz: Decimal) -> Decimal:
    """How much base currency a quote amount buys or sells at `price`, rounded down to the lot."""
    return round_down(quote_amount / price, lot_sz)


def deviation_pct(price: Decimal, reference: Decimal) -> Decimal:
    return abs(price - reference) / reference * HUNDRED


def pct(value: Decimal) -> str:
    """A percentage for people: two decimals, no exponent."""
    return f"{value.quantize(Decimal('0.01')):f}%"


def size_problem(size: Decimal, instrument: Instrument) -> str | None:
    if size <= 0 or size < instrument.min_sz:
        return (
            f"comes to {size.normalize():f} {instrument.base_ccy}, under {instrument.inst_id}'s minimum order "
            f"size (minSz) {instrument.min_sz.normalize():f}"
        )
    return None


# --- rebalancing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AssetState:
    ccy: str
    available: Decimal
    price: Decimal  # in the quote currency; 1 for the quote currency itself
    target: Decimal

    @property
    def value(self) -> Decimal:
        return self.available * self.price


@dataclass(frozen=True)
class RebalanceOrder:
    ccy: str
    side: Side
    # sell: base size (tgtCcy base_ccy); buy: quote amount (tgtCcy quote_ccy)
    sz: Decimal
    notional: Decimal


@dataclass(frozen=True)
class RebalanceDecision:
    triggered: bool  # some asset drifted at least the threshold
    total_value: Decimal
    drifts: dict[str, Decimal]  # percentage points, current weight minus target
    max_drift: Decimal
    orders: list[RebalanceOrder]
    skipped: list[tuple[str, str]]  # (asset, why)


def plan_rebalance(
    assets: list[AssetState],
    *,
    quote_ccy: str,
    threshold_pct: Decimal,
    instruments: dict[str, Instrument],
    bids: dict[str, Decimal],
    asks: dict[str, Decimal],
    quote_available: Decimal,
) -> RebalanceDecision:
    """Orders that move the assets toward their target weights, sells first.

    Nothing is traded unless some asset (the quote currency included) drifted at least `threshold_pct`
    percentage points from its target. Then every non-quote asset is traded to its target; an order under
    the instrument's minSz is skipped. Buys are scaled down if the quote available plus the sells'
    proceeds (at the bid, less a haircut) would not cover them, so the plan never needs a balance it lacks.
    """
    total = sum((a.value for a in assets), ZERO)
    drifts = {a.ccy: ((a.value / total - a.target) * HUNDRED if total > 0 else ZERO) for a in assets}
    max_drift = max((abs(d) for d in drifts.values()), default=ZERO)
    if total <= 0 or max_drift < threshold_pct:
        return RebalanceDecision(False, total, drifts, max_drift, [], [])
    sells: list[RebalanceOrder] = []
    buys: list[tuple[str, Decimal]] = []
    skipped: list[tuple[str, str]] = []
    for asset in assets:
        if asset.ccy == quote_ccy:
            continue
        instrument = instruments[asset.ccy]
        delta = asset.target * total - asset.value  # quote currency; > 0 means buy
        if delta < 0:
            size = min(
                round_down(-delta / asset.price, instrument.lot_sz), round_down(asset.available, instrument.lot_sz)
            )
            problem = size_problem(size, instrument)
            if problem:
                skipped.append((asset.ccy, f"sell {problem}"))
                continue
            sells.append(RebalanceOrder(asset.ccy, "sell", size, size * bids[asset.ccy]))
        elif delta > 0:
            buys.append((asset.ccy, delta))
    funds = quote_available + sum((o.notional * (1 - SELL_PROCEEDS_HAIRCUT) for o in sells), ZERO)
    wanted = sum((amount for _ccy, amount in buys), ZERO)
    scale = min(Decimal(1), funds / wanted) if wanted > 0 else Decimal(1)
    orders = list(sells)
    for ccy, amount in buys:
        instrument = instruments[ccy]
        quote_amount = round_down(amount * scale, QUOTE_STEP)
        problem = size_problem(base_size(quote_amount, asks[ccy], instrument.lot_sz), instrument)
        if problem:
            skipped.append((ccy, f"buy {problem}"))
            continue
        orders.append(RebalanceOrder(ccy, "buy", quote_amount, quote_amount))
    return RebalanceDecision(True, total, drifts, max_drift, orders, skipped)


def best_bid_ask(ticker: Ticker) -> tuple[Decimal, Decimal] | None:
    """The best bid and ask, or None when either side is empty."""
    if ticker.bid_px is None or ticker.ask_px is None or ticker.bid_px <= 0 or ticker.ask_px <= 0:
        return None
    return ticker.bid_px, ticker.ask_px


def market_price_problem(
    side: str, ticker: Ticker, book: tuple[Decimal, Decimal], max_dev: Decimal
) -> tuple[Decimal, str | None]:
    """The price a market order meets (ask for a buy, bid for a sell), and why it is too far off, if it is."""
    bid, ask = book
    price = ask if side == "buy" else bid
    deviation = deviation_pct(price, ticker.last)
    if deviation > max_dev:
        which = "ask" if side == "buy" else "bid"
        return price, (
            f"the best {which} {price.normalize():f} is {pct(deviation)} away from the last price "
            f"{ticker.last.normalize():f}, over caps.max_deviation_pct {pct(max_dev)}: a market order would "
            "fill at a bad price"
        )
    return price, None
