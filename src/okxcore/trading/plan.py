"""A trade plan: the EventBridge Scheduler Input of the trade Lambda, validated before anything else runs.

One plan run is one scheduled slot: (plan_id, slot), where the slot is the instant of scheduled_time in any
spelling (okxcore/slot.py). Every order of the slot derives its clOrdId from that pair, and the idempotency record
is keyed by it, so the slot, not the delivery, is what runs exactly once.

Amounts are Decimal. JSON numbers are accepted, but strings ("100.5") are recommended: a float such as
0.1 is not exactly representable and pydantic converts it through its shortest repr. Flags and counts are
strict (okxcore.inputs): `"dry_run": "no"` is an error, not a live order.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from okxcore.errors import InvalidInputError
from okxcore.inputs import WHOLE_EVENT, DecimalInput, Flag, WholeNumber, form, input_error
from okxcore.slot import ScheduledTime, Slot

EVENT_SOURCE = "trade plan (Scheduler Input)"
WEIGHT_TOLERANCE = Decimal("0.0001")
MAX_LEGS = 10
# The longest lifetime a plan may give a limit order (the stack's LIMIT_ORDER_MAX_LIFETIME_S caps it further).
MAX_CANCEL_AFTER_S = 30 * 86_400
PLAN_HINT = "Fix the schedule's Input JSON; the examples in events/trade-*.json show every field."

Side = Literal["buy", "sell"]
InstId = Annotated[
    str,
    form(
        r"[A-Z0-9]{1,20}-[A-Z0-9]{1,20}",
        "must be an OKX spot instrument id: two currencies in capitals joined by '-', e.g. BTC-USDT",
    ),
    Field(description="spot instrument, e.g. BTC-USDT"),
]
Ccy = Annotated[str, form(r"[A-Z0-9]{1,20}", "must be a currency code in capitals, e.g. USDT")]
PLAN_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"  # a plan's id, wherever one is taken (the CLI's --plan too)
PlanId = Annotated[
    str,
    form(
        PLAN_ID_PATTERN,
        "must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit, e.g. dca-btc-weekly",
    ),
]
Amount = Annotated[DecimalInput, Field(gt=0, max_digits=30, decimal_places=8, allow_inf_nan=False)]
Percent = Annotated[DecimalInput, Field(ge=0, lt=50, decimal_places=4, allow_inf_nan=False)]


class _PlanModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class SafetyCaps(_PlanModel):
    """Limits checked before the first order is sent; a plan that would exceed one is rejected whole."""

    max_notional: Amount = Field(description="most quote currency all orders of one run may move together")
    quote_ccy: Ccy = "USDT"
    max_deviation_pct: Annotated[DecimalInput, Field(gt=0, le=50, decimal_places=4, allow_inf_nan=False)] = Decimal(2)
    # A delivery later than this after its slot trades nothing: Scheduler and Lambda retries can arrive hours late.
    max_delay_s: WholeNumber = Field(default=600, ge=30, le=86_400)


class _Leg(_PlanModel):
    # The request validity sent as OKX's expTime header: a send stuck longer than this is discarded by OKX.
    # Kept under a minute so that it is over before any Lambda retry (the first one waits a minute).
    expire_after_s: WholeNumber = Field(default=10, ge=1, le=55)


class MarketLeg(_Leg):
    """A market order for an amount of quote currency (tgtCcy=quote_ccy): the DCA case."""

    kind: Literal["market"]
    inst_id: InstId
    side: Side
    quote_amount: Amount


class LimitLeg(_Leg):
    """A limit order priced at an offset from the best bid (buy, below it) or ask (sell, above it)."""

    kind: Literal["limit"]
    inst_id: InstId
    side: Side
    size: Amount | None = Field(default=None, description="base currency; or give quote_amount")
    quote_amount: Amount | None = None
    offset_pct: Percent = Decimal(0)
    post_only: Flag = False
    # The order's lifetime, counted from the slot's scheduled time; then the trade function cancels the
    # unfilled rest (okxcore/trading/lifetimes.py). Default: until the plan's next slot (slot_interval_s).
    cancel_after_s: WholeNumber | None = Field(default=None, ge=1, le=MAX_CANCEL_AFTER_S)
    # Cancel the unfilled rest of the previous slots' orders of this leg before placing this slot's.
    replace: Flag = False

    @model_validator(mode="after")
    def _one_amount(self) -> LimitLeg:
        if (self.size is None) == (self.quote_amount is None):
            raise ValueError("give exactly one of 'size' (base currency) or 'quote_amount'")
        return self


class RebalanceLeg(_Leg):
    """Trade the listed assets toward target weights of their combined value (in caps.quote_ccy)."""

    kind: Literal["rebalance"]
    targets: dict[Ccy, Annotated[DecimalInput, Field(ge=0, le=1, decimal_places=6, allow_inf_nan=False)]] = Field(
        min_length=2, max_length=8
    )
    drift_threshold_pct: Annotated[DecimalInput, Field(gt=0, le=100, decimal_places=4, allow_inf_nan=False)] = Decimal(
        5
    )

    @field_validator("targets")
    @classmethod
    def _sum_to_one(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        total = sum(value.values(), Decimal(0))
        if abs(total - 1) > WEIGHT_TOLERANCE:
            raise ValueError(f"weights sum to {total.normalize():f}; they must sum to 1")
        return value


Leg = Annotated[MarketLeg | LimitLeg | RebalanceLeg, Field(discriminator="kind")]
LEG_KINDS = frozenset({"market", "limit", "rebalance"})


class TradePlan(_PlanModel):
    """The Scheduler Input. `scheduled_time` is "<aws.scheduler.scheduled-time>" in the schedule's Input."""

    plan_id: PlanId
    key_secret: str = Field(min_length=1, max_length=512, description="name or ARN of the key's secret")
    scheduled_time: ScheduledTime
    dry_run: Flag = False
    demo: Flag | None = Field(default=None, description="if set, the key's secret must say the same")
    fill_wait_s: Annotated[DecimalInput, Field(ge=0, le=10, decimal_places=2)] = Decimal(3)
    # The time between this plan's slots (its schedule's period): how long a limit order lives by default.
    slot_interval_s: WholeNumber | None = Field(default=None, ge=60, le=MAX_CANCEL_AFTER_S)
    caps: SafetyCaps
    legs: list[Leg] = Field(min_length=1, max_length=MAX_LEGS)

    @field_validator("legs")
    @classmethod
    def _rebalance_rules(cls, value: list[Any], info: ValidationInfo) -> list[Any]:
        if sum(isinstance(leg, RebalanceLeg) for leg in value) > 1:
            raise ValueError("at most one rebalance leg per plan (two would fight over the same balances)")
        caps = info.data.get("caps")  # validated before legs, as declared
        quote = caps.quote_ccy if isinstance(caps, SafetyCaps) else None
        for index, leg in enumerate(value):
            # Leaving the quote currency out would mean a 0% target for it: every unit of it spent on buys.
            if isinstance(leg, RebalanceLeg) and quote and quote not in leg.targets:
                raise ValueError(
                    f"legs[{index}].targets must list caps.quote_ccy ({quote}), with weight 0 if that is intended"
                )
        return value

    @property
    def slot(self) -> Slot:
        """The one identity of the slot: any spelling of the same instant gives the same Slot."""
        return Slot.of(self.scheduled_time)

    @property
    def slot_label(self) -> str:
        return self.slot.label(self.plan_id)

    def fingerprint(self) -> str:
        """SHA-256 of every field that defines the plan, in canonical form: the slot, not its spelling, and
        amounts by value (100, "100" and "100.0" are one amount). Two deliveries of one plan match."""
        fields = self.model_dump(mode="python", exclude={"scheduled_time"})
        fields["slot"] = self.slot.iso
        text = json.dumps(fields, default=_canonical, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def idempotency_record(self) -> dict[str, Any]:
        """What Powertools stores per slot: keyed by IDEMPOTENCY_KEY_JMESPATH, checked by IDEMPOTENCY_PAYLOAD_JMESPATH.

        The key is (plan_id, slot, dry_run), so a dry run never uses up the live slot, and every delivery of
        one slot collides, whatever its spelling. The fingerprint makes a changed plan for a slot that already
        ran (or is running) an IdempotencyValidationError: refused, never placed a second time.
        """
        return {
            "plan_id": self.plan_id,
            "slot": self.slot.iso,
            "dry_run": self.dry_run,
            "fingerprint": self.fingerprint(),
        }


def _canonical(value: object) -> object:
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    if isinstance(value, frozenset | set):
        return sorted(value)
    raise TypeError(f"no canonical form for {type(value).__name__}")


# Powertools' event_key_jmespath and payload_validation_jmespath over idempotency_record().
IDEMPOTENCY_KEY_JMESPATH = "[plan_id, slot, dry_run]"
IDEMPOTENCY_PAYLOAD_JMESPATH = "fingerprint"


class PlanValidationError(InvalidInputError):
    """The event is not a valid plan. `problems` lists every (field, problem); the message names each."""


def parse_plan(event: Any) -> TradePlan:
    """The plan from a Scheduler Input; any problem raises PlanValidationError naming the field(s)."""
    if not isinstance(event, dict):
        raise PlanValidationError(EVENT_SOURCE, WHOLE_EVENT, "is not a JSON object", hint=PLAN_HINT)
    try:
        return TradePlan.model_validate(event)
    except ValidationError as exc:
        raise input_error(
            exc, source=EVENT_SOURCE, hint=PLAN_HINT, union_tags=LEG_KINDS, error_class=PlanValidationError
        ) from None
