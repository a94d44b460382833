"""Building and checking a plan's orders before anything is sent: instruments, tickers, balances, sizes
rounded the safe way, the caps. A plan with any problem sends nothing (rule 7 in executor.py)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from okxcore.client import OkxClient
from okxcore.errors import UnknownInstrumentError
from okxcore.models import Instrument, OrderRequest, Ticker
from okxcore.trading.order_ids import derive_cl_ord_id
from okxcore.trading.outcomes import Market, PlannedOrder, Preparation, Problem
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


def prepare(client: OkxClient, plan: TradePlan, *, releasing: dict[str, Decimal] | None = None) -> Preparation:
    """Read instruments, tickers and balances; compute every order and check it. Sends nothing.

    `releasing`: what the orders this slot replaces have frozen, per currency. They are canceled only once the
    plan passed these checks (rule 10 in executor.py), so their funds count as available here."""
    prep = Preparation()
    market = _read_market(client, plan, prep)
    for ccy, amount in (releasing or {}).items():
        if ccy in market.available:
            market.available[ccy] += amount
    for index, leg in enumerate(plan.legs):
        if isinstance(leg, RebalanceLeg):
            prepare_rebalance(prep, plan, index, leg, market)
        elif leg.inst_id in market.instruments:  # otherwise already a problem
            planned = _prepare_single(prep, plan, index, leg, market)
            if planned is not None:
                prep.orders.append(planned)
    if prep.notional > plan.caps.max_notional:
        quote = plan.caps.quote_ccy
        prep.problems.append(
            Problem(
                "caps.max_notional",
                f"the orders add up to {prep.notional.normalize():f} {quote}, over the cap of "
                f"{plan.caps.max_notional.normalize():f} {quote}",
                "Lower the legs' amounts, or raise caps.max_notional if this much is intended.",
            )
        )
    _check_balances(prep, market.available)
    return prep


def _read_market(client: OkxClient, plan: TradePlan, prep: Preparation) -> Market:
    """Every instrument the legs name (an unknown or unfit one is a problem of each leg asking for it), their
    tickers, and the balances of their currencies."""
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
    return Market(instruments, tickers, {ccy: balance.available(ccy) for ccy in currencies})


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


@dataclass(frozen=True)
class _Single:
    """A market or limit leg while its one order is built: its place in the plan, instrument and book."""

    prep: Preparation
    plan: TradePlan
    index: int
    instrument: Instrument
    ticker: Ticker
    book: tuple[Decimal, Decimal]  # best bid, best ask

    @property
    def where(self) -> str:
        return f"legs[{self.index}]"

    def problem(self, where: str, message: str, hint: str = "") -> None:
        self.prep.problems.append(Problem(where, message, hint, leg_index=self.index))

    def order(
        self,
        leg: MarketLeg | LimitLeg,
        request: OrderRequest,
        *,
        expected_px: Decimal,
        notional: Decimal,
        needs: tuple[str, Decimal],
    ) -> PlannedOrder:
        return PlannedOrder(
            leg_index=self.index,
            kind=leg.kind,
            field=self.where,
            part="",
            request=request,
            instrument=self.instrument,
            reference_px=self.ticker.last,
            expected_px=expected_px,
            notional=notional,
            needs=needs,
            expire_after_s=leg.expire_after_s,
        )


def _prepare_single(
    prep: Preparation, plan: TradePlan, index: int, leg: MarketLeg | LimitLeg, market: Market
) -> PlannedOrder | None:
    """A market or limit leg's order, or None with the leg's problem recorded (an empty book is one)."""
    ticker = market.tickers[leg.inst_id]
    book = best_bid_ask(ticker)
    if book is None:
        prep.problems.append(
            Problem(f"legs[{index}]", f"{leg.inst_id} has no bid/ask right now", "Try again later.", leg_index=index)
        )
        return None
    single = _Single(prep, plan, index, market.instruments[leg.inst_id], ticker, book)
    cl_ord_id = derive_cl_ord_id(plan.plan_id, plan.slot, index)
    if isinstance(leg, MarketLeg):
        return _market_order(single, leg, cl_ord_id)
    return _limit_order(single, leg, cl_ord_id)


def _market_order(single: _Single, leg: MarketLeg, cl_ord_id: str) -> PlannedOrder | None:
    instrument, where = single.instrument, single.where
    price, problem = market_price_problem(leg.side, single.ticker, single.book, single.plan.caps.max_deviation_pct)
    if problem:
        single.problem("caps.max_deviation_pct", f"{where} ({leg.inst_id}): {problem}")
    too_small = size_problem(base_size(leg.quote_amount, price, instrument.lot_sz), instrument)
    if too_small:
        single.problem(
            f"{where}.quote_amount",
            f"{leg.quote_amount.normalize():f} {instrument.quote_ccy} {too_small}",
            "Raise the amount above the instrument's minimum order size.",
        )
        return None
    request = OrderRequest(
        inst_id=leg.inst_id,
        side=leg.side,
        ord_type="market",
        sz=leg.quote_amount,
        tgt_ccy="quote_ccy",
        cl_ord_id=cl_ord_id,
    )
    bid = single.book[0]
    needs = (
        (instrument.quote_ccy, leg.quote_amount) if leg.side == "buy" else (instrument.base_ccy, leg.quote_amount / bid)
    )
    return single.order(leg, request, expected_px=price, notional=leg.quote_amount, needs=needs)


def _limit_order(single: _Single, leg: LimitLeg, cl_ord_id: str) -> PlannedOrder | None:
    px = _limit_px(single, leg)
    if px is None:
        return None
    size = _limit_size(single, leg, px)
    if size is None:
        return None
    request = OrderRequest(
        inst_id=leg.inst_id,
        side=leg.side,
        ord_type="post_only" if leg.post_only else "limit",
        sz=size,
        px=px,
        cl_ord_id=cl_ord_id,
    )
    notional = px * size
    instrument = single.instrument
    needs = (instrument.quote_ccy, notional) if leg.side == "buy" else (instrument.base_ccy, size)
    return single.order(leg, request, expected_px=px, notional=notional, needs=needs)


def _limit_px(single: _Single, leg: LimitLeg) -> Decimal | None:
    """The offset price rounded to the tick the safe way; a price too far from the last one is a problem."""
    bid, ask = single.book
    px = limit_price(leg.side, bid=bid, ask=ask, offset_pct=leg.offset_pct, tick_sz=single.instrument.tick_sz)
    where = f"{single.where}.offset_pct"
    if px <= 0:
        single.problem(where, "leaves no positive price")
        return None
    deviation = deviation_pct(px, single.ticker.last)
    cap = single.plan.caps.max_deviation_pct
    if deviation > cap:
        single.problem(
            where,
            f"puts the price {px.normalize():f} {pct(deviation)} away from the last price "
            f"{single.ticker.last.normalize():f}, over caps.max_deviation_pct {pct(cap)}",
            "Lower offset_pct, or raise caps.max_deviation_pct if the price is intended.",
        )
    return px


def _limit_size(single: _Single, leg: LimitLeg, px: Decimal) -> Decimal | None:
    """The leg's size, or its quote amount at `px`, rounded down to the lot; None under minSz (a problem)."""
    lot_sz = single.instrument.lot_sz
    if leg.size is not None:
        size, amount_field = round_down(leg.size, lot_sz), f"{single.where}.size"
    else:
        assert leg.quote_amount is not None
        size, amount_field = base_size(leg.quote_amount, px, lot_sz), f"{single.where}.quote_amount"
    too_small = size_problem(size, single.instrument)
    if too_small:
        single.problem(amount_field, too_small, "Raise the amount above the instrument's minSz.")
        return None
    return size


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
