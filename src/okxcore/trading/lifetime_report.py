"""The trade report's lines about limit-order lifetimes: what is still open and until when, and what a run
canceled, with the part that had filled, the part that had not, and the funds that were released."""

from __future__ import annotations

from decimal import Decimal

from okxcore.findings import finding
from okxcore.report import Finding, Report
from okxcore.trading.lifetimes import Canceled, expiry_ms, iso_ms
from okxcore.trading.outcomes import LegResult

CANCELED_TABLE = "Limit orders ended"
CANCELED_HEADER = ["leg", "instrument", "side", "slot", "why", "outcome", "filled", "remaining", "released", "clOrdId"]


def _num(value: Decimal | None) -> str:
    return "-" if value is None else f"{value.normalize():f}"


def lifetime_lines(legs: list[LegResult], canceled_orders: list[Canceled]) -> list[str]:
    """Per limit leg: placed and still open (until when), and what was canceled with what it had filled."""
    lines = []
    for leg in legs:
        order = leg.order
        expires = expiry_ms(order) if order is not None else None
        if order is not None and order.is_pending and expires is not None:
            lines.append(
                f"Leg {leg.leg_index}: {leg.inst_id} {leg.side} limit order still open "
                f"(filled {_num(order.acc_fill_sz)} of {_num(order.sz)}), canceled if unfilled at {iso_ms(expires)}."
            )
    for canceled in canceled_orders:
        lines.append(f"Leg {canceled.leg_index}: {_canceled_text(canceled)}")
    return lines


def _canceled_text(c: Canceled) -> str:
    what = f"{c.inst_id} {c.side} limit order of slot {c.slot} ({c.reason})"
    amounts = f": filled {_num(c.filled)}, remaining {_num(c.remaining)}" if c.filled is not None else ""
    released = f", released {c.released}" if c.released else ""
    return f"{what}: {c.outcome}{amounts}{released}."


def canceled_row(c: Canceled) -> list[str]:
    return [
        str(c.leg_index),
        c.inst_id,
        c.side,
        c.slot,
        c.reason,
        c.outcome,
        _num(c.filled),
        _num(c.remaining),
        c.released or "-",
        c.cl_ord_id,
    ]


def cancel_finding(c: Canceled) -> Finding:
    return finding(
        "trade.order:cancel_failed",
        f"leg {c.leg_index} {c.inst_id}",
        f"An expired limit order could not be canceled: {_canceled_text(c)}",
        observed=f"clOrdId {c.cl_ord_id}",
    )


def canceled_details(c: Canceled) -> dict[str, str]:
    return {
        "leg": str(c.leg_index),
        "inst_id": c.inst_id,
        "side": c.side,
        "cl_ord_id": c.cl_ord_id,
        "slot": c.slot,
        "reason": c.reason,
        "outcome": c.outcome,
        "filled": _num(c.filled),
        "remaining": _num(c.remaining),
        "released": c.released,
    }


SWEEP_HEADER = ["plan", *CANCELED_HEADER]


def sweep_report(canceled: list[Canceled], *, environment: str, error: str = "") -> Report:
    """The OrderSweep schedule's report: what it ended (of every plan, deleted or renamed ones included), what it
    could not cancel, or why it could not look (`error`: the order ledger could not be read)."""
    failed = [c for c in canceled if not c.ok]
    plans = sorted({c.plan_id for c in canceled})
    counts = f"{len(canceled) - len(failed)} ended" + (f", {len(failed)} not canceled" if failed else "")
    title = f"Order sweep: expired limit orders {counts}" + (f" (plan {', '.join(plans)})" if plans else "")
    summary = [
        "The scheduled sweep (OrderSweep, every 15 minutes) ends the limit orders of every plan whose lifetime is "
        "over, plans deleted or renamed since they placed them included; only orders in okx-shield's order "
        "ledger are ever canceled.",
        *(f"Plan {c.plan_id}, leg {c.leg_index}: {_canceled_text(c)}" for c in canceled),
    ]
    findings = [cancel_finding(c) for c in failed]
    if error:
        title = "Order sweep: the order ledger could not be read, no order was ended"
        findings.append(finding("trade.sweep:ledger_unreadable", "order ledger", error))
    return Report(
        report_type="trade",
        environment=environment,
        title=title[:200],
        summary=summary,
        findings=findings,
        tables={CANCELED_TABLE: [SWEEP_HEADER, *([c.plan_id, *canceled_row(c)] for c in canceled)]} if canceled else {},
        details={"canceled": [{"plan_id": c.plan_id, **canceled_details(c)} for c in canceled], "error": error},
    )
