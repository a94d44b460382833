"""One slot of a trade plan against OKX: pre-checks (prepare.py), then placing, reconciling and polling
(execute.py). The leg and run results they share are in outcomes.py.

Exactly once per slot. The rules, in one place:

1. Each delivery runs this under Powertools idempotency (delivery.py, through the handler's slot store) keyed
   by (plan_id, slot, dry_run), the slot being the instant in canonical form (okxcore/slot.py), whatever its
   spelling: one invocation per slot at a time, and a finished slot replays its stored result. The record
   carries the plan's fingerprint: a changed plan for the same slot is refused, never run a second time.
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
9. A resting order is owned by its plan and slot, never by a leg's position: its lifetime is recorded in the
   order ledger before each send, and what outlives it is ended from the ledger (ledger.py states the rules).
10. A plan changes nothing at OKX until it has passed every check: expired orders are ended first (their
   lifetime is over whatever this run does, and the report says so), but a `replace` cancel happens only once
   the plan passed validation and preparation, and never when trading is paused. A rejected plan leaves the
   previous slots' orders as they are.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal

from okxcore.credentials import OkxKeySecret
from okxcore.errors import OkxShieldError
from okxcore.slot import spoken_duration
from okxcore.trading.execute import Execution, execute, poll_fills, read_guard
from okxcore.trading.lifetimes import (
    REASON_EXPIRED,
    REASON_REPLACED,
    SHORT_LIFETIME_S,
    Canceled,
    end_short_lived,
    short_wait_s,
    with_lifetimes,
)
from okxcore.trading.outcomes import (
    PLACED_REASON,
    Clock,
    LegResult,
    LegStatus,
    PlannedOrder,
    Preparation,
    Problem,
    RunStatus,
    Sleep,
)
from okxcore.trading.plan import TradePlan
from okxcore.trading.ports import GuardReader, TradeWiring
from okxcore.trading.prepare import prepare
from okxcore.trading.sizing import ZERO
from okxcore.trading.sweep import KeyClients, close_ended, close_settled, end_recorded, releasing, replaced_by
from okxcore.trading_guard import TradingGuard

__all__ = [
    "PLACED_REASON",
    "LegResult",
    "LegStatus",
    "PlannedOrder",
    "Problem",
    "RunStatus",
    "TradeRun",
    "execute",
    "poll_fills",
    "prepare",
    "run_plan",
]

# A scheduled time this far ahead of the clock is a mistake (a hand-made event), not clock skew.
FUTURE_TOLERANCE_S = 300


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
    canceled: list[Canceled] = field(default_factory=list)  # this plan's expired or replaced limit orders

    @property
    def expired_ended(self) -> int:
        """Orders past their lifetime that this run canceled (a dry run cancels none)."""
        return 0 if self.plan.dry_run else sum(1 for c in self.canceled if c.reason == REASON_EXPIRED)

    @property
    def must_retry(self) -> bool:
        """The handler raises so that Lambda retries: something may still succeed, and retrying is safe."""
        return self.status in {RunStatus.FAILED, RunStatus.ERROR}

    @property
    def orders_sent(self) -> int:
        return sum(1 for leg in self.legs if leg.status is LegStatus.PLACED)


# --- the run -------------------------------------------------------------------------------------


def run_plan(plan: TradePlan, wiring: TradeWiring, *, clock: Clock = time.time, sleep: Sleep = time.sleep) -> TradeRun:
    """Run one slot. Never raises for OKX, proxy, secret or state-table problems: they come back in the TradeRun.

    `wiring` reads the key's secret, makes the client that talks to OKX, holds the trading guard, the order
    ledger and the stack's ceiling on a limit order's lifetime (lifetimes.py).
    """
    guard = wiring.state
    ledger = wiring.orders
    scheduled = plan.slot.timestamp()
    stopped, late_by = _gate(plan, wiring, guard, clock)
    if stopped is not None:
        return stopped
    run = TradeRun(plan, RunStatus.ERROR)
    try:
        key = wiring.load_key(plan.key_secret)
        run.demo = key.demo
        early = _plan_vs_key_and_clock(plan, key, late_by)
        if early:
            run.status = RunStatus.REJECTED
            run.problems = early
            return run
        client = wiring.client(key, key_name=plan.key_secret)
        client.sync_clock()
        clients = KeyClients(wiring, (plan.key_secret, client))
        recorded = ledger.open_records(plan.plan_id)
        now_ms = client.now_ms()
        # Rule 10: expired orders end whatever this run does next; what they froze is available to its orders.
        expired = [r for r in recorded if r.expired(now_ms)]
        run.canceled = end_recorded(ledger, clients, expired, REASON_EXPIRED, dry_run=plan.dry_run)
        replaced = replaced_by(plan, recorded, now_ms)
        prep = prepare(client, plan, releasing=releasing(client, plan, replaced))
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
        run.canceled += end_recorded(ledger, clients, replaced, REASON_REPLACED, dry_run=True)
        run.status = RunStatus.DRY_RUN
        run.legs = [LegResult.for_order(o, LegStatus.DRY_RUN, reason="dry run: not sent") for o in prep.orders]
        run.legs = sorted([*run.legs, *prep.skipped], key=_leg_order)
        return run
    current = read_guard(guard)
    if replaced and not isinstance(current, str) and not current.paused:  # a pause stops the replace cancels too
        run.canceled += end_recorded(ledger, clients, replaced, REASON_REPLACED, dry_run=False)
    deadline = scheduled + plan.caps.max_delay_s
    orders = with_lifetimes(prep.orders, plan, wiring.settings.limit_order_max_lifetime_s)
    executed = execute(client, orders, guard=guard, ledger=ledger, slot_deadline=deadline, clock=clock, sleep=sleep)
    poll_fills(client, executed.results, wait_s=float(plan.fill_wait_s), clock=clock, sleep=sleep)
    short = min(short_wait_s(executed.results, client.now_ms()), float(SHORT_LIFETIME_S))
    if short > 0:
        poll_fills(client, executed.results, wait_s=short + 0.5, clock=clock, sleep=sleep)
    ended = [close_ended(ledger, c, client.now_ms()) for c in end_short_lived(client, executed.results)]
    run.canceled.extend(ended)
    closed = {c.cl_ord_id for c in ended if c.ended}
    close_settled(ledger, [r for r in executed.results if r.cl_ord_id not in closed], client.now_ms())
    run.legs = sorted([*executed.results, *prep.skipped], key=_leg_order)
    run.guard = executed.paused_by
    run.status, run.error = _final_status(run.legs, executed)
    return run


def _gate(plan: TradePlan, wiring: TradeWiring, guard: GuardReader, clock: Clock) -> tuple[TradeRun | None, float]:
    """The run that ends before the key is used (guard unreadable or set, delivery too late), or None; and
    how late the delivery is. The guard is read before anything else."""
    current = read_guard(guard)
    if isinstance(current, str):
        return TradeRun(plan, RunStatus.ERROR, error=current), 0.0
    if current.paused:
        return TradeRun(plan, RunStatus.PAUSED, guard=current, demo=_demo_of(wiring, plan)), 0.0
    late_by = clock() - plan.slot.timestamp()
    if late_by > plan.caps.max_delay_s:
        return TradeRun(
            plan,
            RunStatus.TOO_LATE,
            demo=_demo_of(wiring, plan),
            error=too_late_text(plan, late_by),
        ), late_by
    return None, late_by


def too_late_text(plan: TradePlan, late_by: float) -> str:
    """Why a delivery after its slot's caps.max_delay_s did nothing, in words: the typical case is an event file
    run by hand long after the time written in it."""
    allowed = plan.caps.max_delay_s
    what = "checked nor sent" if plan.dry_run else "sent"
    return (
        f"this delivery came {spoken_duration(late_by)} after its slot ({plan.slot}), and a plan runs only within "
        f"caps.max_delay_s ({spoken_duration(allowed)}) of its slot, so that a late retry cannot trade at a stale "
        f"price: nothing was {what}. A hand-run event keeps the time written in it: to run the plan now, put the "
        "current time in scheduled_time (okx-shield invoke --now does that)."
    )


def _final_status(legs: list[LegResult], executed: Execution) -> tuple[RunStatus, str]:
    if any(leg.status in {LegStatus.FAILED, LegStatus.UNKNOWN} for leg in legs):
        return RunStatus.FAILED, ""
    if executed.paused_by is not None:
        return RunStatus.PAUSED, ""
    if executed.stopped:
        return (RunStatus.FAILED if executed.stopped_by_error else RunStatus.TOO_LATE), executed.stopped
    return RunStatus.DONE, ""


def _demo_of(wiring: TradeWiring, plan: TradePlan) -> bool | None:
    """The key's environment for the report's subject, when the run stops before using the key."""
    try:
        return wiring.load_key(plan.key_secret).demo
    except OkxShieldError:
        return None


def _plan_vs_key_and_clock(plan: TradePlan, key: OkxKeySecret, late_by: float) -> list[Problem]:
    problems = []
    if late_by < -FUTURE_TOLERANCE_S:
        problems.append(
            Problem(
                "scheduled_time",
                f"is {spoken_duration(-late_by)} in the future; running it now would use up that future slot's "
                "order ids",
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
