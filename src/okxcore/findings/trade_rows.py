"""The trade function's rows of the findings table."""

from __future__ import annotations

from okxcore.findings.rule import (
    ERROR,
    FAIL,
    INVALID_EVENT,
    PASS,
    WARN,
    C,
    H,
    I,
    M,
    Rule,
    r,
)

ROWS: dict[str, Rule] = {
    "trade.plan:invalid": INVALID_EVENT,
    "trade.plan:rejected": r(C, FAIL, "the plan failed a pre-check: nothing was sent", fails_run=True),
    "trade.run:crashed": r(
        C,
        ERROR,
        "the run stopped on an unexpected error",
        "See the function's log for the traceback; the retry looks orders up before sending.",
    ),
    "trade.run:not_started": r(C, ERROR, "the run could not start, so no order was sent"),
    "trade.guard": r(
        C,
        FAIL,
        "trading is paused: no order of this slot was sent",
        "The probe pauses trading when the egress is unsafe and resumes it once healthy; this slot is skipped, "
        "not queued.",
        fails_run=True,
    ),
    "trade.slot": r(
        C,
        FAIL,
        "the delivery came too late for its slot",
        "Nothing to fix if this was a one-off delay; otherwise check the schedule's retry policy and the "
        "function's errors.",
        fails_run=True,
    ),
    "trade.slot:conflicting_plan": r(
        C,
        FAIL,
        "the slot already ran with a different plan: this delivery was refused and nothing was sent",
        fails_run=True,
    ),
    "trade.order:ok": r(I, PASS, "the order is at OKX (or would be, in a dry run), or had nothing to do"),
    "trade.order:canceled_unfilled": r(M, WARN, "OKX canceled the order without a fill"),
    "trade.order:not_sent": r(H, FAIL, "the order was not sent", fails_run=True),
    "trade.order:failed": r(C, FAIL, "the order definitely does not exist at OKX", fails_run=True),
    "trade.sweep:ledger_unreadable": r(
        H,
        ERROR,
        "the order ledger could not be read: expired limit orders were not ended",
        "Check the state table and the trade function's permission to read it (DynamoDBCrudPolicy); the next "
        "sweep tries again.",
    ),
    "trade.order:cancel_failed": r(
        H,
        FAIL,
        "an expired limit order could not be canceled",
        "The plan's next run and the OrderSweep schedule (every 15 minutes) try again; to cancel it now: "
        "okx-shield orders --key-secret NAME --plan PLAN_ID --cancel-expired.",
    ),
    "trade.order:unknown": r(C, ERROR, "the order was sent and whether OKX has it could not be established"),
}
