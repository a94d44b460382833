"""Scheduled trading: plans (plan.py), order arithmetic (sizing.py), clOrdIds (order_ids.py), the run
(executor.py, whose docstring states the exactly-once rules; what it is given is in ports.py), building and
checking orders (prepare.py), sending and reconciling them (execute.py), their results (outcomes.py), the
report (reporting.py), one delivery of a slot with what each way it ends means (delivery.py), and the resting
orders' lifetimes (lifetimes.py), owned through the order ledger (ledger.py) and ended from it (sweep.py)."""

from okxcore.slot import SCHEDULER_PLACEHOLDER, Slot
from okxcore.trading.delivery import (
    Delivery,
    TradePlanConflictError,
    TradePlanRejectedError,
    TradeRunFailedError,
    deliver,
)
from okxcore.trading.executor import LegResult, LegStatus, Problem, RunStatus, TradeRun, run_plan
from okxcore.trading.order_ids import derive_cl_ord_id
from okxcore.trading.plan import (
    IDEMPOTENCY_KEY_JMESPATH,
    IDEMPOTENCY_PAYLOAD_JMESPATH,
    PlanValidationError,
    TradePlan,
    parse_plan,
)
from okxcore.trading.reporting import conflicting_plan_report, crash_report, invalid_plan_report, trade_report

__all__ = [
    "IDEMPOTENCY_KEY_JMESPATH",
    "IDEMPOTENCY_PAYLOAD_JMESPATH",
    "SCHEDULER_PLACEHOLDER",
    "Delivery",
    "LegResult",
    "LegStatus",
    "PlanValidationError",
    "Problem",
    "RunStatus",
    "Slot",
    "TradePlan",
    "TradePlanConflictError",
    "TradePlanRejectedError",
    "TradeRun",
    "TradeRunFailedError",
    "conflicting_plan_report",
    "crash_report",
    "deliver",
    "derive_cl_ord_id",
    "invalid_plan_report",
    "parse_plan",
    "run_plan",
    "trade_report",
]
