"""One slot of a trade plan against OKX: pre-checks, then placing, reconciling and polling.

Exactly once per slot. The rules, in one place:

1. The handler runs this under Powertools idempotency keyed by (plan_id, scheduled_time, dry_run): one
   invocation per slot at a time, and a finished slot replays its stored result.
2. Every order's clOrdId derives from (plan, slot, leg[, asset]) (order_ids.py), and every order is looked
   up by clOrdId before it is sent. An order found is reported (EXISTING) and never placed again. This is
   the second line of defence, for duplicates that get past idempotency (expired record, failed run).
3. Every send carries expTime (at most `expire_after_s` ahead, at most 55 s, never past the slot's
   max_delay_s): OKX discards a request that arrives later, so a stuck request cannot fill late.
4. A send whose outcome is unknown (timeout, reset after sending, HTTP 5xx) is reconciled by clOrdId and
   never resent in this invocation. Lookups go on until the order shows up, or until OKX's clock has
   passed the request's expTime (plus a margin) and OKX still has no such order: it is then confirmed
   absent, and can no longer appear (FAILED, "not placed"). If OKX cannot be asked at all, the leg is
   UNKNOWN. Either way the run fails, and the handler raises so that Lambda retries the slot a minute
   later: by then every request this run sent is past its expTime, so the retry's lookup is decisive.
5. 51016 (duplicate pending clOrdId): the order exists; it is looked up and reported, never placed again.
6. 50011 on a send (rate limit): OKX refused it before processing it. After a backoff and a lookup that
   confirms absence, it is sent once more with the same clOrdId; a second refusal fails the leg.
7. All checks run before the first send, and a plan with any problem sends nothing. After the first leg
   that is not confirmed placed, no further order is sent in this run (the retry picks the rest up).
8. The trading guard is read before the run and again before every send: a pause stops what is not sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from okxcore.aws.state import TradingGuard
from okxcore.client import OkxClient
from okxcore.credentials import OkxKeySecret
from okxcore.errors import (
    DuplicateClientOrderIdError,
    OkxApiError,
    OkxShieldError,
    OkxTransportError,
    ProxyError,
    RateLimitedError,
    ServiceBusyError,
)
from okxcore.models import Instrument, Order, OrderRequest, Ticker
from okxcore.trading.order_ids import derive_cl_ord_id
from okxcore.trading.plan import LimitLeg, MarketLeg, RebalanceLeg, TradePlan
from okxcore.trading.sizing import (
    SELL_PROCEEDS_HAIRCUT,
    ZERO,
    AssetState,
    base_size,
    deviation_pct,
    limit_price,
    pct,
    plan_rebalance,
    round_down,
    size_problem,
)

# A scheduled time this far ahead of the clock is a mistake (a hand-made event), not clock skew.
FUTURE_TOLERANCE_S = 300
# OKX's clock must be this far past a request's expTime before "no such order" counts as final.
EXPTIME_MARGIN_MS = 1500
RATE_LIMIT_BACKOFF_S = 1.0
# The second send only after an explicit 50011 refusal and a lookup confirming absence.
MAX_SENDS_PER_ORDER = 2
# OkxClient's codes for an answer it could not read (not OKX codes): the order may exist.
UNREADABLE_ANSWER_CODES = frozenset({"parse", "empty"})
PLACED_REASON = "placed"


class LegStatus(StrEnum):
    PLACED = "PLACED"  # OKX has the order; this run sent it
    EXISTING = "EXISTING"  # found by clOrdId: an earlier delivery of this slot placed it
    DRY_RUN = "DRY_RUN"  # would have been sent
    SKIPPED = "SKIPPED"  # nothing to do (rebalance drift under the threshold, an order under minSz)
    REJECTED = "REJECTED"  # failed a pre-check; nothing was sent
    NOT_SENT = "NOT_SENT"  # not attempted (the plan was rejected, an earlier leg failed, trading paused)
    FAILED = "FAILED"  # definitely no order: OKX refused it, or it was confirmed absent
    UNKNOWN = "UNKNOWN"  # sent, and whether OKX has it could not be established


OK_STATUSES = frozenset({LegStatus.PLACED, LegStatus.EXISTING, LegStatus.DRY_RUN, LegStatus.SKIPPED})


class RunStatus(StrEnum):
    DONE = "DONE"
    DRY_RUN = "DRY_RUN"
    PAUSED = "PAUSED"  # the trading guard said no
    TOO_LATE = "TOO_LATE"  # delivered after the slot's max_delay_s
    REJECTED = "REJECTED"  # a pre-check failed; nothing was sent
    FAILED = "FAILED"  # some order failed or its outcome is unknown
    ERROR = "ERROR"  # the run could not get going (proxy, key, OKX); nothing was sent


@dataclass(frozen=True)
class Problem:
    field: str  # where in the plan, e.g. legs[0].quote_amount
    message: str
    hint: str = ""
    leg_index: int | None = None  # the leg it stops, if it is about one leg
    part: str = ""  # the rebalance asset it is about, if any


@dataclass(frozen=True)
class PlannedOrder:
    leg_index: int
    kind: str
    field: str  # the plan field this order comes from, for messages
    part: str  # "" or the rebalance asset
    request: OrderRequest
    instrument: Instrument
    reference_px: Decimal  # ticker last
    expected_px: Decimal  # the limit price, or the ask (buy) / bid (sell) a market order meets
    notional: Decimal  # in the quote currency
    needs: tuple[str, Decimal]  # (currency, amount) the order takes from the available balance
    expire_after_s: int
    credit: tuple[str, Decimal] | None = None  # a rebalance sell's expected proceeds, funding its buys

    @property
    def size_text(self) -> str:
        ccy = self.instrument.quote_ccy if self.request.tgt_ccy == "quote_ccy" else self.instrument.base_ccy
        return f"{self.request.sz.normalize():f} {ccy}"

    @property
    def price_text(self) -> str:
        if self.request.px is not None:
            return f"{self.request.px.normalize():f}"
        return f"market (~{self.expected_px.normalize():f})"


@dataclass
class LegResult:
    leg_index: int
    kind: str
    status: LegStatus
    inst_id: str = ""
    side: str = ""
    part: str = ""
    cl_ord_id: str = ""
    size: str = ""
    price: str = ""
    ord_id: str = ""
    order: Order | None = None
    reason: str = ""
    hint: str = ""

    @classmethod
    def for_order(cls, planned: PlannedOrder, status: LegStatus, **changes: object) -> LegResult:
        result = cls(
            leg_index=planned.leg_index,
            kind=planned.kind,
            status=status,
            inst_id=planned.request.inst_id,
            side=planned.request.side,
            part=planned.part,
            cl_ord_id=planned.request.cl_ord_id,
            size=planned.size_text,
            price=planned.price_text,
        )
        for name, value in changes.items():
            setattr(result, name, value)
        if result.order is not None and not result.ord_id:
            result.ord_id = result.order.ord_id
        return result


@dataclass
class Preparation:
    orders: list[PlannedOrder] = field(default_factory=list)
    skipped: list[LegResult] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. the rebalance's drifts

    @property
    def notional(self) -> Decimal:
        return sum((o.notional for o in self.orders), ZERO)


@dataclass
class TradeRun:
    plan: TradePlan
    status: RunStatus
    demo: bool | None = None  # the key's environment, once known
    legs: list[LegResult] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    notional: Decimal = ZERO
    error: str = ""  # what stopped the run (already in words for people, with the fix)
    guard: TradingGuard | None = None

    @property
    def must_retry(self) -> bool:
        """The handler raises so that Lambda retries: something may still succeed, and retrying is safe."""
        return self.status in {RunStatus.FAILED, RunStatus.ERROR}

    @property
    def orders_sent(self) -> int:
        return sum(1 for leg in self.legs if leg.status is LegStatus.PLACED)


Clock = Callable[[], float]
Sleep = Callable[[float], None]
GuardReader = Callable[[], TradingGuard]


# --- the run -------------------------------------------------------------------------------------


def run_plan(
    plan: TradePlan,
    *,
    load_key: Callable[[], OkxKeySecret],
    connect: Callable[[OkxKeySecret], OkxClient],
    guard: GuardReader,
    clock: Clock = time.time,
    sleep: Sleep = time.sleep,
) -> TradeRun:
    """Run one slot. Never raises for OKX, proxy or secret problems: they come back in the TradeRun.

    `load_key` reads the key's secret (no OKX call); `connect` makes the client that talks to OKX.
    """
    current = _read_guard(guard)
    if isinstance(current, str):
        return TradeRun(plan, RunStatus.ERROR, error=current)
    if current.paused:
        return TradeRun(plan, RunStatus.PAUSED, guard=current, demo=_demo_of(load_key))
    scheduled = plan.scheduled_time.timestamp()
    late_by = clock() - scheduled
    if late_by > plan.caps.max_delay_s:
        return TradeRun(
            plan,
            RunStatus.TOO_LATE,
            demo=_demo_of(load_key),
            error=f"this delivery came {late_by:.0f} s after its slot, over caps.max_delay_s "
            f"({plan.caps.max_delay_s} s); the slot is skipped so that a stale retry cannot trade.",
        )
    run = TradeRun(plan, RunStatus.ERROR)
    try:
        key = load_key()
        run.demo = key.demo
        early = _plan_vs_key_and_clock(plan, key, late_by)
        if early:
            run.status = RunStatus.REJECTED
            run.problems = early
            return run
        client = connect(key)
        client.sync_clock()
        prep = prepare(client, plan)
    except OkxShieldError as exc:
        run.error = exc.describe()
        return run
    run.notes = prep.notes
    run.notional = prep.notional
    if prep.problems:
        run.status = RunStatus.REJECTED
        run.problems = prep.problems
        run.legs = _rejected_legs(plan, prep)
        return run
    if plan.dry_run:
        run.status = RunStatus.DRY_RUN
        run.legs = [LegResult.for_order(o, LegStatus.DRY_RUN, reason="dry run: not sent") for o in prep.orders]
        run.legs = sorted([*run.legs, *prep.skipped], key=_leg_order)
        return run
    deadline = scheduled + plan.caps.max_delay_s
    executed = execute(client, prep.orders, guard=guard, slot_deadline=deadline, clock=clock, sleep=sleep)
    poll_fills(client, executed.results, wait_s=float(plan.fill_wait_s), clock=clock, sleep=sleep)
    run.legs = sorted([*executed.results, *prep.skipped], key=_leg_order)
    run.guard = executed.paused_by
    if any(leg.status in {LegStatus.FAILED, LegStatus.UNKNOWN} for leg in run.legs):
        run.status = RunStatus.FAILED
    elif executed.paused_by is not None:
        run.status = RunStatus.PAUSED
    elif executed.stopped:
        run.status = RunStatus.FAILED if executed.stopped_by_error else RunStatus.TOO_LATE
        run.error = executed.stopped
    else:
        run.status = RunStatus.DONE
    return run


def _demo_of(load_key: Callable[[], OkxKeySecret]) -> bool | None:
    """The key's environment for the report's subject, when the run stops before using the key."""
    try:
        return load_key().demo
    except OkxShieldError:
        return None


def _plan_vs_key_and_clock(plan: TradePlan, key: OkxKeySecret, late_by: float) -> list[Problem]:
    problems = []
    if late_by < -FUTURE_TOLERANCE_S:
        problems.append(
            Problem(
                "scheduled_time",
                f"is {-late_by:.0f} s in the future; running it now would use up that future slot's order ids",
                "Let EventBridge Scheduler fill in <aws.scheduler.scheduled-time>, or use the current time.",
            )
        )
    if plan.demo is not None and plan.demo != key.demo:
        wanted, has = ("demo", "live") if plan.demo else ("live", "demo")
        problems.append(
            Problem(
                "demo",
                f"the plan is for a {wanted} key, but secret {plan.key_secret} holds a {has} key",
                "Point key_secret at a key of the right environment, or fix 'demo' in the plan.",
            )
        )
    return problems


def _read_guard(guard: GuardReader) -> TradingGuard | str:
    try:
        return guard()
    except Exception as exc:  # any failure to read the guard must stop trading, whatever raised it
        return (
            f"could not read the trading guard ({exc.__class__.__name__}); failing closed, nothing was sent. "
            "Fix: check the state table and the function's permission to read it."
        )


def _leg_order(result: LegResult) -> tuple[int, int]:
    # Within a leg, keep the execution order (sells before buys), which stable sorting preserves.
    return (result.leg_index, 0)


def _rejected_legs(plan: TradePlan, prep: Preparation) -> list[LegResult]:
    """Every leg, with its own problems; legs without one are NOT_SENT because the plan as a whole was rejected."""
    results: list[LegResult] = []
    for index, leg in enumerate(plan.legs):
        mine = [p for p in prep.problems if p.leg_index == index]
        planned = [o for o in prep.orders if o.leg_index == index]
        for order in planned:
            own = [f"{p.field}: {p.message}" for p in mine if not p.part or p.part == order.part]
            if own:
                results.append(LegResult.for_order(order, LegStatus.REJECTED, reason="; ".join(own)))
            else:
                results.append(
                    LegResult.for_order(order, LegStatus.NOT_SENT, reason="the plan was rejected: nothing was sent")
                )
        unplaced = [p for p in mine if not any(o.part == p.part for o in planned)] if planned else mine
        if unplaced:
            results.append(
                LegResult(
                    leg_index=index,
                    kind=leg.kind,
                    status=LegStatus.REJECTED,
                    inst_id=getattr(leg, "inst_id", ""),
                    side=getattr(leg, "side", ""),
                    part=unplaced[0].part,
                    reason="; ".join(f"{p.field}: {p.message}" for p in unplaced),
                )
            )
    return sorted([*results, *prep.skipped], key=_leg_order)


# --- pre-checks ----------------------------------------------------------------------------------


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
        cl_ord_id = derive_cl_ord_id(plan.plan_id, plan.scheduled_time, index)
        if isinstance(leg, RebalanceLeg):
            _prepare_rebalance(prep, plan, index, leg, instruments, tickers, available)
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
    except OkxApiError as exc:
        if exc.code == "51001":  # OKX: "Instrument ID doesn't exist"
            return None
        raise


def _instrument_problem(inst_id: str, instrument: Instrument | None, quote: str) -> str | None:
    if instrument is None:
        return f"{inst_id} is not an OKX spot instrument"
    if instrument.state != "live":
        return f"{inst_id} is not trading (state '{instrument.state}')"
    if instrument.quote_ccy != quote:
        return f"{inst_id} is quoted in {instrument.quote_ccy}, but caps.quote_ccy is {quote}"
    return None


def _book(ticker: Ticker) -> tuple[Decimal, Decimal] | None:
    if ticker.bid_px is None or ticker.ask_px is None or ticker.bid_px <= 0 or ticker.ask_px <= 0:
        return None
    return ticker.bid_px, ticker.ask_px


def _market_price_problem(
    side: str, ticker: Ticker, book: tuple[Decimal, Decimal], max_dev: Decimal
) -> tuple[Decimal, str | None]:
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


def _book_or_problem(
    prep: Preparation, where: str, index: int, inst_id: str, ticker: Ticker
) -> tuple[Decimal, Decimal] | None:
    """The best bid and ask, or a problem recorded for the leg when the book is empty."""
    book = _book(ticker)
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
    price, problem = _market_price_problem(leg.side, ticker, book, plan.caps.max_deviation_pct)
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


def _prepare_rebalance(
    prep: Preparation,
    plan: TradePlan,
    index: int,
    leg: RebalanceLeg,
    instruments: dict[str, Instrument],
    tickers: dict[str, Ticker],
    available: dict[str, Decimal],
) -> None:
    quote = plan.caps.quote_ccy
    where = f"legs[{index}]"
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
            return  # already a problem
        book = _book(tickers[inst_id])
        if book is None:
            prep.problems.append(
                Problem(f"{where}.targets.{ccy}", f"{inst_id} has no bid/ask right now", leg_index=index, part=ccy)
            )
            return
        by_ccy[ccy] = instrument
        bids[ccy], asks[ccy] = book
        assets.append(AssetState(ccy, available.get(ccy, ZERO), tickers[inst_id].last, target))
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
        instrument = by_ccy[order.ccy]
        ticker = tickers[instrument.inst_id]
        price, problem = _market_price_problem(
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
                    cl_ord_id=derive_cl_ord_id(plan.plan_id, plan.scheduled_time, index, order.ccy),
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


# --- sending -------------------------------------------------------------------------------------


@dataclass
class Execution:
    results: list[LegResult]
    paused_by: TradingGuard | None = None
    stopped: str = ""  # why the remaining orders were not sent
    stopped_by_error: bool = False


def execute(
    client: OkxClient,
    orders: list[PlannedOrder],
    *,
    guard: GuardReader,
    slot_deadline: float,
    clock: Clock = time.time,
    sleep: Sleep = time.sleep,
) -> Execution:
    """Send the orders in sequence under the rules in the module docstring."""
    execution = Execution(results=[])

    def send_blocker() -> str | None:
        current = _read_guard(guard)
        if isinstance(current, str):
            execution.stopped_by_error = True
            return current
        if current.paused:
            execution.paused_by = current
            return f"trading was paused before this order was sent: {current.reason} (since {current.since})"
        if clock() >= slot_deadline:
            return "the slot's caps.max_delay_s ran out before this order could be sent"
        return None

    for planned in orders:
        if execution.stopped:
            execution.results.append(LegResult.for_order(planned, LegStatus.NOT_SENT, reason=execution.stopped))
            continue
        result = _place_one(
            client, planned, send_blocker=send_blocker, slot_deadline=slot_deadline, clock=clock, sleep=sleep
        )
        execution.results.append(result)
        if result.status is LegStatus.NOT_SENT:
            execution.stopped = result.reason
        elif result.status not in OK_STATUSES:
            execution.stopped = (
                f"not sent: leg {planned.leg_index} ({planned.request.inst_id}) ended {result.status.value}, "
                "and no further order is sent in this run"
            )
            execution.stopped_by_error = True
    return execution


def _place_one(
    client: OkxClient,
    planned: PlannedOrder,
    *,
    send_blocker: Callable[[], str | None],
    slot_deadline: float,
    clock: Clock,
    sleep: Sleep,
) -> LegResult:
    request = planned.request
    try:
        existing = client.get_order(request.inst_id, cl_ord_id=request.cl_ord_id)
    except OkxShieldError as exc:
        return LegResult.for_order(
            planned,
            LegStatus.FAILED,
            reason=f"not sent: could not check OKX for an earlier order with this clOrdId ({exc.message})",
            hint=exc.hint,
        )
    if existing is not None:
        return _existing(planned, existing)
    for attempt in range(1, MAX_SENDS_PER_ORDER + 1):
        blocked = send_blocker()
        if blocked:
            return LegResult.for_order(planned, LegStatus.NOT_SENT, reason=blocked)
        ttl_ms = min(planned.expire_after_s * 1000, int((slot_deadline - clock()) * 1000))
        expires_at_ms = client.now_ms() + ttl_ms
        try:
            ack = client.place_order(request, expires_at_ms=expires_at_ms)
        except DuplicateClientOrderIdError:
            return _after_duplicate(client, planned, sleep=sleep)
        except RateLimitedError as exc:
            if attempt == MAX_SENDS_PER_ORDER:
                return LegResult.for_order(
                    planned, LegStatus.FAILED, reason=f"OKX refused it twice: {exc.message}", hint=exc.hint
                )
            sleep(RATE_LIMIT_BACKOFF_S)
            try:
                existing = client.get_order(request.inst_id, cl_ord_id=request.cl_ord_id)
            except OkxShieldError as lookup_error:
                return LegResult.for_order(
                    planned,
                    LegStatus.FAILED,
                    reason=f"OKX refused it ({exc.message}); not resent because its absence could not be "
                    f"confirmed ({lookup_error.message})",
                    hint=exc.hint,
                )
            if existing is not None:
                return _existing(planned, existing)
            continue
        except (OkxTransportError, ServiceBusyError) as exc:
            # Sent, and no definite answer: the order may exist. Find out; never resend here.
            return _reconcile(client, planned, expires_at_ms, cause=exc, sleep=sleep)
        except ProxyError as exc:
            # The tunnel could not be opened, so the request never left: nothing can exist.
            return LegResult.for_order(planned, LegStatus.FAILED, reason=f"not sent: {exc.message}", hint=exc.hint)
        except OkxApiError as exc:
            if exc.code in UNREADABLE_ANSWER_CODES:  # OKX answered, but not legibly: it may have the order
                return _reconcile(client, planned, expires_at_ms, cause=exc, sleep=sleep)
            return LegResult.for_order(planned, LegStatus.FAILED, reason=exc.message, hint=exc.hint)
        return LegResult.for_order(planned, LegStatus.PLACED, ord_id=ack.ord_id, reason=PLACED_REASON)
    raise AssertionError("unreachable")  # pragma: no cover


def _existing(planned: PlannedOrder, order: Order) -> LegResult:
    return LegResult.for_order(
        planned,
        LegStatus.EXISTING,
        order=order,
        reason="already at OKX under this slot's clOrdId (an earlier delivery placed it): not placed again",
    )


def _after_duplicate(client: OkxClient, planned: PlannedOrder, *, sleep: Sleep) -> LegResult:
    """51016: OKX has a pending order with this clOrdId. Report it; never place again."""
    request = planned.request
    problem = ""
    for _ in range(3):
        try:
            found = client.get_order(request.inst_id, cl_ord_id=request.cl_ord_id)
        except OkxShieldError as exc:
            found, problem = None, exc.message
        if found is not None:
            return _existing(planned, found)
        sleep(0.3)
    return LegResult.for_order(
        planned,
        LegStatus.UNKNOWN,
        reason="OKX answered 51016 (an order with this clOrdId is pending) but the lookup did not return it"
        + (f" ({problem})" if problem else ""),
        hint=f"Look up clOrdId {request.cl_ord_id} in OKX's order history; it was not placed again.",
    )


def _reconcile(
    client: OkxClient, planned: PlannedOrder, expires_at_ms: int, *, cause: OkxShieldError, sleep: Sleep
) -> LegResult:
    """Look the order up until it shows, or until OKX is past its expTime and still has none."""
    request = planned.request
    settled_at_ms = expires_at_ms + EXPTIME_MARGIN_MS
    delay = 0.2
    lookup_error: OkxShieldError | None = None
    while True:
        asked_at_ms = client.now_ms()
        try:
            found = client.get_order(request.inst_id, cl_ord_id=request.cl_ord_id)
            lookup_error = None
        except OkxShieldError as exc:
            found, lookup_error = None, exc
        if found is not None:
            return LegResult.for_order(
                planned,
                LegStatus.PLACED,
                order=found,
                reason=f"placed; the answer was lost ({cause.message}) and the order was found by its clOrdId",
            )
        if asked_at_ms > settled_at_ms:
            break
        sleep(max(0.05, min(delay, (settled_at_ms - client.now_ms()) / 1000 + 0.05)))
        delay = min(delay * 2, 2.0)
    if lookup_error is None:
        return LegResult.for_order(
            planned,
            LegStatus.FAILED,
            reason=f"sent without an answer ({cause.message}); OKX has no order with this clOrdId after its "
            "expTime passed, so it was not placed and cannot appear later. Not resent in this run.",
            hint="Lambda's retry of this slot places it (after looking it up again).",
        )
    return LegResult.for_order(
        planned,
        LegStatus.UNKNOWN,
        reason=f"sent without an answer ({cause.message}), and OKX could not be asked whether it has the order "
        f"({lookup_error.message}). Its expTime has passed, so it cannot be placed late.",
        hint=f"Check OKX's order history for clOrdId {request.cl_ord_id}. A retry of this slot looks it up "
        "before sending anything.",
    )


# --- after sending -------------------------------------------------------------------------------


def poll_fills(
    client: OkxClient, results: list[LegResult], *, wait_s: float, clock: Clock = time.time, sleep: Sleep = time.sleep
) -> None:
    """Refresh placed orders until each is final or `wait_s` has passed (always at least one look)."""
    pending = [r for r in results if r.status in {LegStatus.PLACED, LegStatus.EXISTING}]
    deadline = clock() + wait_s
    while pending:
        for result in list(pending):
            try:
                order = client.get_order(
                    result.inst_id, ord_id=result.ord_id or None, cl_ord_id=None if result.ord_id else result.cl_ord_id
                )
            except OkxShieldError:
                continue  # the report shows the last state known; the order itself is not in doubt
            if order is not None:
                result.order = order
                result.ord_id = order.ord_id
                if order.is_final:
                    pending.remove(result)
        remaining = deadline - clock()
        if not pending or remaining <= 0:
            return
        sleep(min(0.25, remaining))
