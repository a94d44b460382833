"""Building and checking a plan's orders before anything is sent: instruments, tickers, balances, sizes
rounded the safe way, the caps. A plan with any problem sends nothing (rule 7 in executor.py)."""

from __future__ import annotations

from decimal import Decimal

from okxcore.client import OkxClient
from okxcore.errors import UnknownInstrumentError
from okxcore.models import Instrument, OrderRequest, Ticker
from okxcore.trading.order_ids import derive_cl_ord_id
from okxcore.trading.outcomes import PlannedOrder, Preparation, Problem
from okxcore.trading.plan import LimitLeg, MarketLeg, RebalanceLeg, TradePlan
from okxcore.trading.rebalance import prepare_rebalance
from okxcore.trading.sizing import (
    ZERO,
    base_size,
    best_bid_ask,
    deviation_pct,
    limit_price,
    market_price_problem,
    pct,
    round_down,
    size_problem,
)


def prepare(client: OkxClient, plan: TradePlan) -> Preparation:
    """Read instruments, tickers and balances; compute every order and check it. Sends nothing."""
    prep = Preparation()
    quote = plan.caps.quote_ccy
    wanted: dict[str, list[tuple[str, int, str]]] = {}  # inst_id -> (plan field, leg index, asset) asking for it
    for index, leg in enumerate(plan.legs):
        if isinstance(leg, RebalanceLeg):
            for ccy in leg.targets:
                if ccy != quote:
                    wanted.setdefault(f"{ccy}-{quote}", []).append((f"legs[{index}].targets.{ccy}", index, ccy))
        else:
            wanted.setdefault(leg.inst_id, []).append((f"legs[{index}].inst_id", index, ""))
    instruments: dict[str, Instrument] = {}
    for inst_id, askers in wanted.items():
        instrument = _instrument(client, inst_id)
        problem = _instrument_problem(inst_id, instrument, quote)
        if problem or instrument is None:
            prep.problems.extend(
                Problem(
                    where,
                    problem or "unknown",
                    "Use a live OKX spot instrument id (BASE-QUOTE, e.g. BTC-USDT).",
                    leg_index=index,
                    part=part,
                )
                for where, index, part in askers
            )
            continue
        instruments[inst_id] = instrument
    tickers = {inst_id: client.ticker(inst_id) for inst_id in instruments}
    currencies = sorted({quote} | {i.base_ccy for i in instruments.values()})
    balance = client.balance(currencies)
    available = {ccy: balance.available(ccy) for ccy in currencies}

    for index, leg in enumerate(plan.legs):
        cl_ord_id = derive_cl_ord_id(plan.plan_id, plan.slot, index)
        if isinstance(leg, RebalanceLeg):
            prepare_rebalance(prep, plan, index, leg, instruments, tickers, available)
            continue
        instrument = instruments.get(leg.inst_id)
        if instrument is None:
            continue  # already a problem
        ticker = tickers[leg.inst_id]
        if isinstance(leg, MarketLeg):
            planned = _prepare_market(prep, plan, index, leg, instrument, ticker, cl_ord_id)
        else:
            planned = _prepare_limit(prep, plan, index, leg, instrument, ticker, cl_ord_id)
        if planned is not None:
            prep.orders.append(planned)

    if prep.notional > plan.caps.max_notional:
        prep.problems.append(
            Problem(
                "caps.max_notional",
                f"the orders add up to {prep.notional.normalize():f} {quote}, over the cap of "
                f"{plan.caps.max_notional.normalize():f} {quote}",
                "Lower the legs' amounts, or raise caps.max_notional if this much is intended.",
            )
        )
    _check_balances(prep, available)
    return prep


def _instrument(client: OkxClient, inst_id: str) -> Instrument | None:
    try:
        return client.instrument(inst_id)
    except UnknownInstrumentError:
        return None


def _instrument_problem(inst_id: str, instrument: Instrument | None, quote: str) -> str | None:
    if instrument is None:
        return f"{inst_id} is not an OKX spot instrument"
    if instrument.state != "live":
        return f"{inst_id} is not trading (state '{instrument.state}')"
    if instrument.quote_ccy != quote:
        return f"{inst_id} is quoted in {instrument.quote_ccy}, but caps.quote_ccy is {quote}"
    return None


def _book_or_problem(
    prep: Preparation, where: str, index: int, inst_id: str, ticker: Ticker
) -> tuple[Decimal, Decimal] | None:
    """The best bid and ask, or a problem recorded for the leg when the book is empty."""
    book = best_bid_ask(ticker)
    if book is None:
        prep.problems.append(Problem(where, f"{inst_id} has no bid/ask right now", "Try again later.", leg_index=index))
    return book


def _prepare_market(
    prep: Preparation,
    plan: TradePlan,
    index: int,
    leg: MarketLeg,
    instrument: Instrument,
    ticker: Ticker,
    cl_ord_id: str,
) -> PlannedOrder | None:
    where = f"legs[{index}]"
    book = _book_or_problem(prep, where, index, leg.inst_id, ticker)
    if book is None:
        return None
    price, problem = market_price_problem(leg.side, ticker, book, plan.caps.max_deviation_pct)
    if problem:
        prep.problems.append(Problem("caps.max_deviation_pct", f"{where} ({leg.inst_id}): {problem}", leg_index=index))
    estimated = base_size(leg.quote_amount, price, instrument.lot_sz)
    too_small = size_problem(estimated, instrument)
    if too_small:
        prep.problems.append(
            Problem(
                f"{where}.quote_amount",
                f"{leg.quote_amount.normalize():f} {instrument.quote_ccy} {too_small}",
                "Raise the amount above the instrument's minimum order size.",
                leg_index=index,
            )
        )
        return None
    needs = (
        (instrument.quote_ccy, leg.quote_amount)
        if leg.side == "buy"
        else (instrument.base_ccy, leg.quote_amount / book[0])
    )
    return PlannedOrder(
        leg_index=index,
        kind=leg.kind,
        field=where,
        part="",
        request=OrderRequest(
            inst_id=leg.inst_id,
            side=leg.side,
            ord_type="market",
            sz=leg.quote_amount,
            tgt_ccy="quote_ccy",
            cl_ord_id=cl_ord_id,
        ),
        instrument=instrument,
        reference_px=ticker.last,
        expected_px=price,
        notional=leg.quote_amount,
        needs=needs,
        expire_after_s=leg.expire_after_s,
    )


def _prepare_limit(
    prep: Preparation,
    plan: TradePlan,
    index: int,
    leg: LimitLeg,
    instrument: Instrument,
    ticker: Ticker,
    cl_ord_id: str,
) -> PlannedOrder | None:
    where = f"legs[{index}]"
    book = _book_or_problem(prep, where, index, leg.inst_id, ticker)
    if book is None:
        return None
    bid, ask = book
    px = limit_price(leg.side, bid=bid, ask=ask, offset_pct=leg.offset_pct, tick_sz=instrument.tick_sz)
    if px <= 0:
        prep.problems.append(Problem(f"{where}.offset_pct", "leaves no positive price", leg_index=index))
        return None
    deviation = deviation_pct(px, ticker.last)
    if deviation > plan.caps.max_deviation_pct:
        prep.problems.append(
            Problem(
                f"{where}.offset_pct",
                f"puts the price {px.normalize():f} {pct(deviation)} away from the last price "
                f"{ticker.last.normalize():f}, over caps.max_deviation_pct {pct(plan.caps.max_deviation_pct)}",
                "Lower offset_pct, or raise caps.max_deviation_pct if the price is intended.",
                leg_index=index,
            )
        )
    if leg.size is not None:
        size, amount_field = round_down(leg.size, instrument.lot_sz), f"{where}.size"
    else:
        assert leg.quote_amount is not None
        size, amount_field = base_size(leg.quote_amount, px, instrument.lot_sz), f"{where}.quote_amount"
    too_small = size_problem(size, instrument)
    if too_small:
        prep.problems.append(
            Problem(amount_field, too_small, "Raise the amount above the instrument's minSz.", leg_index=index)
        )
        return None
    notional = px * size
    return PlannedOrder(
        leg_index=index,
        kind=leg.kind,
        field=where,
        part="",
        request=OrderRequest(
            inst_id=leg.inst_id,
            side=leg.side,
            ord_type="post_only" if leg.post_only else "limit",
            sz=size,
            px=px,
            cl_ord_id=cl_ord_id,
        ),
        instrument=instrument,
        reference_px=ticker.last,
        expected_px=px,
        notional=notional,
        needs=(instrument.quote_ccy, notional) if leg.side == "buy" else (instrument.base_ccy, size),
        expire_after_s=leg.expire_after_s,
    )


def _check_balances(prep: Preparation, available: dict[str, Decimal]) -> None:
    """Walk the orders in sending order; each must be covered by what the earlier ones left."""
    remaining = dict(available)
    for planned in prep.orders:
        ccy, need = planned.needs
        have = remaining.get(ccy, ZERO)
        if need > have:
            prep.problems.append(
                Problem(
                    planned.field,
                    f"needs {need.normalize():f} {ccy}, but only {max(have, ZERO).normalize():f} {ccy} is available"
                    + (" after the legs before it" if have != available.get(ccy, ZERO) else ""),
                    "Top up the account or lower the amount (OKX would refuse it with 51008).",
                    leg_index=planned.leg_index,
                    part=planned.part,
                )
            )
        remaining[ccy] = have - need
        if planned.credit is not None:
            credit_ccy, amount = planned.credit
            remaining[credit_ccy] = remaining.get(credit_ccy, ZERO) + amount
