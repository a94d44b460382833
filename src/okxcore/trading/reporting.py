"""Trade runs as the product's one report model: a table of orders, a finding per problem.

The title starts with the outcome ("1 order(s) placed", "plan rejected, no order"), then the mode (LIVE / DEMO,
DRY RUN), the plan and the slot, shortened so that a mail client's subject keeps the outcome.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from okxcore.errors import InvalidInputError
from okxcore.findings import finding
from okxcore.invalid_input import invalid_input_report
from okxcore.models import Order
from okxcore.report import Finding, Report, shorten
from okxcore.trading.executor import PLACED_REASON, LegResult, LegStatus, RunStatus, TradeRun
from okxcore.trading.lifetime_report import (
    CANCELED_HEADER,
    CANCELED_TABLE,
    cancel_finding,
    canceled_details,
    canceled_row,
    lifetime_lines,
)
from okxcore.trading.plan import PLAN_HINT, TradePlan

ORDER_TABLE = "Orders"
ORDER_HEADER = [
    "leg",
    "instrument",
    "side",
    "size",
    "price",
    "result",
    "state",
    "filled",
    "avg price",
    "fee",
    "ordId",
    "clOrdId",
]

# Each leg status's row in okxcore.findings (REJECTED legs are reported as trade.plan problems).
_LEG_RULE: dict[LegStatus, str] = {
    LegStatus.PLACED: "trade.order:ok",
    LegStatus.EXISTING: "trade.order:ok",
    LegStatus.DRY_RUN: "trade.order:ok",
    LegStatus.SKIPPED: "trade.order:ok",
    LegStatus.NOT_SENT: "trade.order:not_sent",
    LegStatus.FAILED: "trade.order:failed",
    LegStatus.UNKNOWN: "trade.order:unknown",
}


def mode_label(demo: bool | None, dry_run: bool) -> str:
    env = {True: "DEMO", False: "LIVE", None: "LIVE/DEMO?"}[demo]
    return f"{env} DRY RUN" if dry_run else env


def trade_report(run: TradeRun, *, environment: str, simulator: str | None = None) -> Report:
    """The run's report; `simulator`: the host that stood in for OKX (the local simulator), if any."""
    plan = run.plan
    demo = run.demo if run.demo is not None else plan.demo
    mode = mode_label(demo, plan.dry_run)
    report = Report(
        report_type="trade",
        environment=environment,
        title=f"{_outcome(run)}: {_which(mode, plan)}",
        summary=_summary(run, mode, demo, simulator),
        details=_details(run),
    )
    if run.legs:
        report.tables[ORDER_TABLE] = [ORDER_HEADER, *(_row(leg) for leg in run.legs)]
    if run.canceled:
        report.tables[CANCELED_TABLE] = [CANCELED_HEADER, *(canceled_row(c) for c in run.canceled)]
    report.findings.extend(_run_findings(run))
    report.findings.extend(cancel_finding(c) for c in run.canceled if not c.ok)
    report.findings.extend(
        finding("trade.plan:rejected", problem.field, problem.message, remediation=problem.hint or PLAN_HINT)
        for problem in run.problems
    )
    report.findings.extend(_leg_finding(leg) for leg in run.legs if leg.status is not LegStatus.REJECTED)
    return report


def invalid_plan_report(error: InvalidInputError, *, environment: str) -> Report:
    """The event is not a plan at all: nothing was sent."""
    return invalid_input_report(
        "trade",
        error,
        environment=environment,
        not_done="Nothing was checked at OKX and no order was sent.",
        notes=("Lambda retries a failed asynchronous invocation twice, so this report may come up to three times.",),
    )


def conflicting_plan_report(plan: TradePlan, *, environment: str) -> Report:
    """The slot already ran (or is running) with a different plan: this delivery is refused whole."""
    what = (
        f"slot {plan.slot} of plan {plan.plan_id} already ran (or is running) with a different plan; this "
        "delivery was refused and nothing was sent"
    )
    return Report(
        report_type="trade",
        environment=environment,
        title=f"refused, no order (plan changed for a slot that already ran): {_which('', plan)}",
        summary=[
            f"{what[0].upper()}{what[1:]}.",
            "One slot places its orders once: a plan edited after its slot ran waits for its next slot.",
        ],
        findings=[
            finding(
                "trade.slot:conflicting_plan",
                plan.slot_label,
                what,
                remediation="Give the changed plan a new plan_id, or let it run at its next slot; to run this "
                "slot again as changed, delete the slot's idempotency record first (orders already placed are "
                "still found by their clOrdId).",
            )
        ],
        details={"plan_id": plan.plan_id, "slot": plan.slot.iso, "fingerprint": plan.fingerprint()},
    )


def crash_report(plan: TradePlan, error: BaseException, *, environment: str, message: str = "") -> Report:
    """Something unexpected stopped the run. Only the exception's type is shown: its text is not vetted."""
    what = message or f"the run stopped on an unexpected {error.__class__.__name__}"
    return Report(
        report_type="trade",
        environment=environment,
        title=f"crashed: {_which(mode_label(plan.demo, plan.dry_run), plan)}",
        summary=[
            f"Plan {plan.plan_id}, slot {plan.slot}: {what}.",
            "Orders sent before it (if any) are found by their clOrdId when Lambda retries this slot.",
        ],
        findings=[finding("trade.run:crashed", plan.plan_id, f"{what} ({error.__class__.__name__})")],
    )


# --- parts ---------------------------------------------------------------------------------------

# A subject keeps the outcome and the mode; a long plan id is cut (the body names it whole).
PLAN_ID_WIDTH = 24


def _which(mode: str, plan: TradePlan) -> str:
    """The mode, the plan (its id shortened) and the slot (without zero seconds and milliseconds)."""
    slot = plan.slot.iso.replace(":00.000Z", "Z").replace(".000Z", "Z")
    return f"{mode + ' ' if mode else ''}{shorten(plan.plan_id, PLAN_ID_WIDTH)} @ {slot}"



def _outcome(run: TradeRun) -> str:
    count = _count(run)
    if run.status is RunStatus.DONE:
        parts = []
        if count[LegStatus.PLACED]:
            parts.append(f"{count[LegStatus.PLACED]} order(s) placed")
        if count[LegStatus.EXISTING]:
            parts.append(f"{count[LegStatus.EXISTING]} already placed")
        return ", ".join(parts) or "nothing to trade"
    if run.status is RunStatus.DRY_RUN:
        return f"{count[LegStatus.DRY_RUN]} order(s) would be sent"
    if run.status is RunStatus.FAILED:
        return (
            f"FAILED ({count[LegStatus.PLACED] + count[LegStatus.EXISTING]} placed, "
            f"{count[LegStatus.FAILED]} failed, {count[LegStatus.UNKNOWN]} unknown)"
        )
    return {
        RunStatus.PAUSED: "trading paused, no order" if not _sent(run) else "paused midway",
        RunStatus.TOO_LATE: "too late, no order" if not _sent(run) else "ran out of time",
        RunStatus.REJECTED: "plan rejected, no order",
        RunStatus.ERROR: "could not run, no order",
    }[run.status]


def _count(run: TradeRun) -> dict[LegStatus, int]:
    out = dict.fromkeys(LegStatus, 0)
    for leg in run.legs:
        out[leg.status] += 1
    return out


def _sent(run: TradeRun) -> bool:
    return any(leg.status in {LegStatus.PLACED, LegStatus.UNKNOWN} for leg in run.legs)


def _summary(run: TradeRun, mode: str, demo: bool | None, simulator: str | None) -> list[str]:
    plan = run.plan
    where = {True: "demo trading, x-simulated-trading: 1", False: "real funds", None: "the key was not read"}
    if simulator is not None:
        lines = [f"Mode: {mode} against the local OKX simulator at {simulator}: no real funds."]
    else:
        lines = [f"Mode: {mode} ({where[demo]})."]
    if plan.dry_run:
        lines.append("DRY RUN: orders were computed and checked, and none was sent.")
    lines.append(f"Plan {plan.plan_id}, slot {plan.slot}, key secret {plan.key_secret}.")
    if run.status in {RunStatus.PAUSED, RunStatus.TOO_LATE} and not run.legs:
        lines.append("No call was made to OKX.")
    if run.notional:
        lines.append(
            f"Orders total {run.notional.quantize(Decimal('0.01')):f} {plan.caps.quote_ccy} "
            f"(cap {plan.caps.max_notional.normalize():f})."
        )
    if run.status is RunStatus.PAUSED and run.guard is not None:
        lines.append(
            f"Trading is paused: {run.guard.reason or 'no reason given'} (since {run.guard.since or '?'}, "
            f"set by {run.guard.set_by or '?'})."
        )
    lines.extend(run.notes)
    # Passed findings are not rendered, so what people need to know about a good outcome goes here.
    for leg in run.legs:
        if leg.status in {LegStatus.SKIPPED, LegStatus.EXISTING} or (
            leg.status is LegStatus.PLACED and leg.reason != PLACED_REASON
        ):
            part = f"/{leg.part}" if leg.part else ""
            lines.append(f"Leg {leg.leg_index}{part}: {leg.status.value}: {leg.reason}")
    lines.extend(lifetime_lines(run.legs, run.canceled))
    if run.status is RunStatus.REJECTED:
        lines.append("The plan failed its checks, so nothing was sent and no order was replaced.")
        if run.expired_ended:
            lines.append(
                f"{run.expired_ended} order(s) of this plan past their lifetime were ended all the same: their "
                "lifetime was over whatever this slot does (table 'Limit orders ended')."
            )
    if run.status in {RunStatus.FAILED, RunStatus.ERROR}:
        lines.append(
            "This invocation fails so that Lambda retries the slot; "
            "orders already placed are found by clOrdId and never placed twice."
        )
    return lines


def _run_findings(run: TradeRun) -> list[Finding]:
    plan = run.plan
    if run.status is RunStatus.PAUSED and run.guard is not None:
        guard = run.guard
        return [
            finding(
                "trade.guard",
                "trading guard",
                f"Trading is paused: {guard.reason or 'no reason given'}. No order of this slot was sent.",
                observed=f"paused since {guard.since or '?'} by {guard.set_by or '?'}",
                expected="trading not paused",
            )
        ]
    if run.status is RunStatus.TOO_LATE:
        return [finding("trade.slot", plan.slot_label, run.error)]
    if run.status is RunStatus.ERROR:
        return [
            finding(
                "trade.run:not_started", plan.key_secret, f"The run could not start, so no order was sent: {run.error}"
            )
        ]
    return []


def _leg_finding(leg: LegResult) -> Finding:
    key = _LEG_RULE[leg.status]
    order = leg.order
    if (
        leg.status in {LegStatus.PLACED, LegStatus.EXISTING}
        and order is not None
        and order.state == "canceled"
        and not order.acc_fill_sz
    ):
        key = "trade.order:canceled_unfilled"
        reason = f"{leg.reason}; OKX canceled it without a fill (a post-only order that would have crossed?)"
    else:
        reason = leg.reason
    what = leg.inst_id or leg.kind
    if leg.part and leg.part not in what:
        what += f" {leg.part}"
    return finding(
        key,
        f"leg {leg.leg_index} {what}",
        f"{leg.status.value}: {reason}" if reason else leg.status.value,
        observed=f"clOrdId {leg.cl_ord_id}" + (f", ordId {leg.ord_id}" if leg.ord_id else "") if leg.cl_ord_id else "",
        remediation=leg.hint,
    )


def _row(leg: LegResult) -> list[str]:
    order = leg.order
    return [
        f"{leg.leg_index}{'/' + leg.part if leg.part else ''}",
        leg.inst_id or "-",
        leg.side or "-",
        leg.size or "-",
        _num(order.px) if order is not None and order.px else (leg.price or "-"),
        leg.status.value,
        order.state if order is not None else "-",
        _num(order.acc_fill_sz) if order is not None else "-",
        _num(order.avg_px) if order is not None else "-",
        f"{_num(order.fee)} {order.fee_ccy}".strip() if order is not None and order.fee is not None else "-",
        leg.ord_id or "-",
        leg.cl_ord_id or "-",
    ]


def _num(value: Decimal | None) -> str:
    return "-" if value is None else f"{value.normalize():f}"


def _details(run: TradeRun) -> dict[str, Any]:
    plan = run.plan
    return {
        "plan_id": plan.plan_id,
        "slot": plan.slot.iso,
        "status": run.status.value,
        "dry_run": plan.dry_run,
        "demo": run.demo,
        "notional": f"{run.notional.normalize():f}",
        "error": run.error,
        "problems": [{"field": p.field, "message": p.message} for p in run.problems],
        "orders": [_leg_details(leg) for leg in run.legs],
        "canceled": [canceled_details(c) for c in run.canceled],
    }


def _leg_details(leg: LegResult) -> dict[str, Any]:
    return {
        "leg": leg.leg_index,
        "part": leg.part,
        "kind": leg.kind,
        "status": leg.status.value,
        "inst_id": leg.inst_id,
        "side": leg.side,
        "size": leg.size,
        "price": leg.price,
        "cl_ord_id": leg.cl_ord_id,
        "ord_id": leg.ord_id,
        "reason": leg.reason,
        "order": _order_details(leg.order),
    }


def _order_details(order: Order | None) -> dict[str, str] | None:
    if order is None:
        return None
    return {
        "state": order.state,
        "ord_type": order.ord_type,
        "px": _num(order.px),
        "sz": _num(order.sz),
        "acc_fill_sz": _num(order.acc_fill_sz),
        "avg_px": _num(order.avg_px),
        "fee": _num(order.fee),
        "fee_ccy": order.fee_ccy,
    }
