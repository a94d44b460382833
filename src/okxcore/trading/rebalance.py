"""A rebalance leg's orders: the holdings and books of its target assets, the drift decision (sizing.py),
and one market order per asset to trade, checked like every other order before anything is sent."""

from __future__ import annotations

from decimal import Decimal

from okxcore.models import Instrument, OrderRequest, Ticker
from okxcore.trading.order_ids import derive_cl_ord_id
from okxcore.trading.outcomes import LegResult, LegStatus, Market, PlannedOrder, Preparation, Problem
from okxcore.trading.plan import RebalanceLeg, TradePlan
from okxcore.trading.sizing import (
    SELL_PROCEEDS_HAIRCUT,
    ZERO,
    AssetState,
    RebalanceOrder,
    best_bid_ask,
    market_price_problem,
    pct,
    plan_rebalance,
)


def prepare_rebalance(
    prep: Preparation,
    plan: TradePlan,
    index: int,
    leg: RebalanceLeg,
    market: Market,
) -> None:
    quote = plan.caps.quote_ccy
    where = f"legs[{index}]"
    available, tickers = market.available, market.tickers
    holdings = _holdings(prep, plan, index, leg, market)
    if holdings is None:
        return
    assets, by_ccy, bids, asks = holdings
    decision = plan_rebalance(
        assets,
        quote_ccy=quote,
        threshold_pct=leg.drift_threshold_pct,
        instruments=by_ccy,
        bids=bids,
        asks=asks,
        quote_available=available.get(quote, ZERO),
    )
    drifts = ", ".join(f"{ccy} {'+' if d >= 0 else ''}{pct(d)}" for ccy, d in decision.drifts.items())
    prep.notes.append(
        f"Rebalance (leg {index}): portfolio {decision.total_value.quantize(Decimal('0.01')):f} {quote}; "
        f"drift from targets (percentage points): {drifts}; threshold {pct(leg.drift_threshold_pct)}"
    )
    if decision.total_value <= 0:
        prep.problems.append(
            Problem(f"{where}.targets", f"the listed assets hold nothing to rebalance ({quote} 0)", leg_index=index)
        )
        return
    if not decision.triggered:
        prep.skipped.append(
            LegResult(
                leg_index=index,
                kind=leg.kind,
                status=LegStatus.SKIPPED,
                reason=f"largest drift {pct(decision.max_drift)} is under drift_threshold_pct "
                f"{pct(leg.drift_threshold_pct)}: nothing to trade",
            )
        )
        return
    for ccy, why in decision.skipped:
        prep.skipped.append(
            LegResult(
                leg_index=index, kind=leg.kind, status=LegStatus.SKIPPED, inst_id=f"{ccy}-{quote}", part=ccy, reason=why
            )
        )
    for order in decision.orders:
        _add_rebalance_order(prep, plan, index, leg, order, by_ccy[order.ccy], tickers, (bids, asks))


def _holdings(
    prep: Preparation, plan: TradePlan, index: int, leg: RebalanceLeg, market: Market
) -> tuple[list[AssetState], dict[str, Instrument], dict[str, Decimal], dict[str, Decimal]] | None:
    """Each target asset's holding and price, its instrument and book; None when one is missing (a problem)."""
    quote = plan.caps.quote_ccy
    available, instruments, tickers = market.available, market.instruments, market.tickers
    by_ccy: dict[str, Instrument] = {}
    assets: list[AssetState] = []
    bids: dict[str, Decimal] = {}
    asks: dict[str, Decimal] = {}
    for ccy, target in leg.targets.items():
        if ccy == quote:
            assets.append(AssetState(ccy, available.get(ccy, ZERO), Decimal(1), target))
            continue
        inst_id = f"{ccy}-{quote}"
        instrument = instruments.get(inst_id)
        if instrument is None:
            return None  # already a problem
        book = best_bid_ask(tickers[inst_id])
        if book is None:
            prep.problems.append(
                Problem(
                    f"legs[{index}].targets.{ccy}", f"{inst_id} has no bid/ask right now", leg_index=index, part=ccy
                )
            )
            return None
        by_ccy[ccy] = instrument
        bids[ccy], asks[ccy] = book
        assets.append(AssetState(ccy, available.get(ccy, ZERO), tickers[inst_id].last, target))
    return assets, by_ccy, bids, asks


def _add_rebalance_order(
    prep: Preparation,
    plan: TradePlan,
    index: int,
    leg: RebalanceLeg,
    order: RebalanceOrder,
    instrument: Instrument,
    tickers: dict[str, Ticker],
    books: tuple[dict[str, Decimal], dict[str, Decimal]],
) -> None:
    quote = plan.caps.quote_ccy
    where = f"legs[{index}]"
    bids, asks = books
    ticker = tickers[instrument.inst_id]
    price, problem = market_price_problem(
        order.side, ticker, (bids[order.ccy], asks[order.ccy]), plan.caps.max_deviation_pct
    )
    if problem:
        prep.problems.append(
            Problem(
                "caps.max_deviation_pct",
                f"{where}.targets.{order.ccy}: {problem}",
                leg_index=index,
                part=order.ccy,
            )
        )
    selling = order.side == "sell"
    prep.orders.append(
        PlannedOrder(
            leg_index=index,
            kind=leg.kind,
            field=f"{where}.targets.{order.ccy}",
            part=order.ccy,
            request=OrderRequest(
                inst_id=instrument.inst_id,
                side=order.side,
                ord_type="market",
                sz=order.sz,
                tgt_ccy="base_ccy" if selling else "quote_ccy",
                cl_ord_id=derive_cl_ord_id(plan.plan_id, plan.slot, index, order.ccy),
            ),
            instrument=instrument,
            reference_px=ticker.last,
            expected_px=price,
            notional=order.notional,
            needs=(order.ccy, order.sz) if selling else (quote, order.sz),
            credit=(quote, order.notional * (1 - SELL_PROCEEDS_HAIRCUT)) if selling else None,
            expire_after_s=leg.expire_after_s,
        )
    )
