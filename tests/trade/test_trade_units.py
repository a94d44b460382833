"""Plan validation, clOrdId derivation and order arithmetic: pure functions, no network."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from trade_helpers import EVENTS_DIR

from handlers.trade import EVENT_MODEL
from okxcore.models import CL_ORD_ID_PATTERN, Instrument
from okxcore.slot import SCHEDULER_PLACEHOLDER, Slot
from okxcore.trading.order_ids import derive_cl_ord_id
from okxcore.trading.plan import PlanValidationError, TradePlan, parse_plan
from okxcore.trading.sizing import AssetState, base_size, limit_price, plan_rebalance, round_down, round_up

BTC = Instrument.model_validate(
    {"instId": "BTC-USDT", "baseCcy": "BTC", "quoteCcy": "USDT", "minSz": "0.00001", "lotSz": "0.00000001",
     "tickSz": "0.1"}
)  # fmt: skip
ETH = Instrument.model_validate(
    {"instId": "ETH-USDT", "baseCcy": "ETH", "quoteCcy": "USDT", "minSz": "0.0001", "lotSz": "0.000001",
     "tickSz": "0.01"}
)  # fmt: skip


def event(**changes):
    base = json.loads((EVENTS_DIR / "trade-dca.json").read_text())
    base.update(changes)
    return base


def problems_of(raw) -> dict[str, str]:
    with pytest.raises(PlanValidationError) as caught:
        parse_plan(raw)
    return dict(caught.value.problems)


# --- the example events ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(EVENTS_DIR.glob("trade*.json")), ids=lambda p: p.name)
def test_every_example_event_is_a_valid_plan(path):
    # Given an example event exactly as Scheduler delivers it
    raw = json.loads(path.read_text())
    # When it is validated against the handler's EVENT_MODEL
    plan = EVENT_MODEL.model_validate(raw).root
    if path.name == "trade-sweep.json":  # the OrderSweep schedule's Input, not a plan
        assert not isinstance(plan, TradePlan)
        return
    assert isinstance(plan, TradePlan)
    # Then it is a plan with a concrete (substituted) scheduled time
    assert plan.scheduled_time.tzinfo is not None
    assert plan.legs


def test_the_unsubstituted_scheduler_placeholder_does_not_validate():
    # Given the schedule's Input as written in the template, before Scheduler fills in the time
    raw = event(scheduled_time=SCHEDULER_PLACEHOLDER)
    # Then it is rejected, naming the field and saying why
    problems = problems_of(raw)
    assert "placeholder" in problems["scheduled_time"]


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"scheduled_time": None}, "scheduled_time", ""),
        ({"scheduled_time": "2026-01-05T09:00:00"}, "scheduled_time", "time zone"),
        ({"legs": [{"kind": "market", "inst_id": "BTC-USDT", "side": "buy", "quote_amount": "0"}]},
         "legs[0].quote_amount", "greater than 0"),
        ({"legs": [{"kind": "market", "inst_id": "BTC-USDT", "side": "buy", "quote_amount": "-5"}]},
         "legs[0].quote_amount", "greater than 0"),
        ({"legs": [{"kind": "limit", "inst_id": "BTC-USDT", "side": "sell", "size": "0"}]},
         "legs[0].size", "greater than 0"),
        ({"legs": [{"kind": "rebalance", "targets": {"BTC": "0.5", "USDT": "0.4"}}]},
         "legs[0].targets", "sum to 1"),
        ({"legs": [{"kind": "limit", "inst_id": "BTC-USDT", "side": "buy", "size": "1", "quote_amount": "5"}]},
         "legs[0]", "exactly one"),
        ({"legs": [{"kind": "swap", "inst_id": "BTC-USDT"}]}, "legs[0]", "kind"),
        ({"legs": [{"kind": "rebalance", "targets": {"BTC": "0.5", "ETH": "0.5"}}]},
         "legs", "legs[0].targets must list caps.quote_ccy (USDT)"),
        ({"legs": []}, "legs", "at least 1"),
        ({"caps": {"max_notional": "0"}}, "caps.max_notional", "greater than 0"),
        ({"plan_id": "has space"}, "plan_id", "letters, digits, '.', '_' or '-'"),
        ({"legs": [{"kind": "market", "inst_id": "BTC/USDT", "side": "buy", "quote_amount": "5"}]},
         "legs[0].inst_id", "two currencies in capitals joined by '-', e.g. BTC-USDT"),
        ({"legs": [{"kind": "market", "inst_id": "BTC-USDT", "side": "buy", "quote_amount": "NaN"}]},
         "legs[0].quote_amount", ""),
    ],
    ids=["missing-time", "naive-time", "zero-amount", "negative-amount", "zero-size", "weights", "two-amounts",
         "unknown-kind", "quote-not-in-targets", "no-legs", "zero-cap", "bad-plan-id", "slash-inst-id", "nan-amount"],
)  # fmt: skip
def test_bad_input_is_rejected_naming_the_field(changes, field, words):
    # Given an event with one bad field
    raw = event(**changes)
    if raw.get("scheduled_time") is None:
        raw.pop("scheduled_time")
    # When it is parsed
    problems = problems_of(raw)
    # Then the problem names that field
    assert field in problems, problems
    assert words.lower() in problems[field].lower()
    assert "^" not in problems[field] and "{" not in problems[field]  # words, not a regular expression


MARKET = {"kind": "market", "inst_id": "BTC-USDT", "side": "buy"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"dry_run": "no"}, "dry_run"),
        ({"dry_run": "1"}, "dry_run"),
        ({"dry_run": "yes"}, "dry_run"),
        ({"dry_run": 1}, "dry_run"),
        ({"dry_run": 0}, "dry_run"),
        ({"demo": "false"}, "demo"),
        ({"legs": [{**MARKET, "quote_amount": True}]}, "legs[0].quote_amount"),
        ({"legs": [{**MARKET, "quote_amount": "1e3"}]}, "legs[0].quote_amount"),
        ({"legs": [{**MARKET, "quote_amount": " 100 "}]}, "legs[0].quote_amount"),
        ({"legs": [{**MARKET, "quote_amount": "100", "expire_after_s": "10"}]}, "legs[0].expire_after_s"),
        ({"legs": [{"kind": "limit", "inst_id": "BTC-USDT", "side": "buy", "size": "1", "post_only": "true"}]},
         "legs[0].post_only"),
        ({"caps": {"max_notional": "100", "max_delay_s": 600.0}}, "caps.max_delay_s"),
        ({"scheduled_time": 1767603600}, "scheduled_time"),
    ],
    ids=["no", "str-1", "yes", "int-1", "int-0", "demo-str", "amount-bool", "amount-exp", "amount-spaces",
         "count-str", "post-only-str", "count-float", "time-number"],
)  # fmt: skip
def test_flags_counts_and_amounts_are_strict_and_the_field_is_named(changes, field):
    # Given a value that a lax parser would coerce (the string "no" into a live order)
    problems = problems_of(event(**changes))
    # Then the plan is refused, naming the field
    assert field in problems, problems


def test_amounts_as_json_numbers_and_decimal_strings_are_both_accepted():
    plan = parse_plan(event(legs=[{**MARKET, "quote_amount": 100}], caps={"max_notional": "150.5"}))
    assert plan.legs[0].quote_amount == Decimal(100) and plan.caps.max_notional == Decimal("150.5")


def test_every_problem_is_listed_and_named_in_the_message():
    raw = event(plan_id="", caps={"max_notional": "-1"})
    raw.pop("key_secret")
    with pytest.raises(PlanValidationError) as caught:
        parse_plan(raw)
    fields = [f for f, _ in caught.value.problems]
    assert set(fields) >= {"plan_id", "key_secret", "caps.max_notional"}
    for field in ("plan_id", "key_secret", "caps.max_notional"):  # it named one "(and 2 more problem(s))"
        assert f"field '{field}'" in str(caught.value)
    assert "more problem" not in str(caught.value)


def test_a_non_object_event_is_rejected():
    assert problems_of(["not", "a", "plan"]) == {"(whole event)": "is not a JSON object"}


# --- clOrdId --------------------------------------------------------------------------------------


def test_cl_ord_id_is_deterministic_okx_legal_and_distinct_per_plan_slot_leg_and_part():
    slot = Slot.of(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    same_instant = Slot.of(datetime(2026, 1, 5, 10, 0, tzinfo=timezone(timedelta(hours=1))))
    first = derive_cl_ord_id("dca", slot, 0)
    assert first == derive_cl_ord_id("dca", same_instant, 0)
    assert CL_ORD_ID_PATTERN.fullmatch(first) and len(first) == 32
    # The derivation is stable across releases: an order placed before an upgrade is found after it
    assert first == "os" + _b32(f"v1|dca|{1767603600000}|0|")
    others = {
        derive_cl_ord_id("dca2", slot, 0),
        derive_cl_ord_id("dca", Slot(slot.epoch_ms + 60_000), 0),
        derive_cl_ord_id("dca", slot, 1),
        derive_cl_ord_id("dca", slot, 0, "BTC"),
        derive_cl_ord_id("dca", slot, 0, "ETH"),
    }
    assert first not in others and len(others) == 5


def _b32(material: str) -> str:
    import base64
    import hashlib

    return base64.b32encode(hashlib.sha256(material.encode()).digest()).decode().rstrip("=").lower()[:30]


# --- the slot -------------------------------------------------------------------------------------

SPELLINGS = [
    "2026-01-05T09:00:00Z",
    "2026-01-05T09:00:00.000Z",
    "2026-01-05T09:00:00+00:00",
    "2026-01-05T10:00:00+01:00",
    "2026-01-05T04:00:00-05:00",
    "2026-01-05T14:30:00+05:30",
    "2026-01-05 09:00:00Z",
    "2026-01-05T09:00:00.0004Z",  # below the slot's millisecond precision
]


@pytest.mark.parametrize("text", SPELLINGS)
def test_every_spelling_of_one_instant_is_one_slot_with_one_canonical_form(text):
    slot = Slot.parse(text)
    assert slot == Slot(1767603600000)
    assert slot.iso == "2026-01-05T09:00:00.000Z" and str(slot) == slot.iso
    assert slot.label("dca") == "dca@2026-01-05T09:00:00.000Z"
    assert Slot.parse(slot.iso) == slot


def test_plans_in_any_spelling_share_slot_ids_idempotency_record_and_label():
    plans = [parse_plan(event(scheduled_time=text)) for text in SPELLINGS]
    assert len({p.slot for p in plans}) == 1
    assert len({json.dumps(p.idempotency_record(), sort_keys=True) for p in plans}) == 1
    assert len({p.slot_label for p in plans}) == 1


def test_the_fingerprint_is_the_plan_by_value_and_changes_with_any_plan_defining_field():
    base = parse_plan(event())
    same = parse_plan(event(caps={**event()["caps"], "max_notional": 150.0, "max_deviation_pct": "1.50"}))
    assert same.fingerprint() == base.fingerprint()
    changed = [
        event(legs=[{**event()["legs"][0], "quote_amount": "101"}]),
        event(key_secret="okx-shield/keys/other"),
        event(demo=True),
        event(caps={**event()["caps"], "max_delay_s": 601}),
    ]
    for raw in changed:
        assert parse_plan(raw).fingerprint() != base.fingerprint()
    # dry_run is part of the key instead: a dry run never uses up the live slot
    dry = parse_plan(event(dry_run=True)).idempotency_record()
    assert dry["dry_run"] is True and dry["slot"] == base.idempotency_record()["slot"]


# --- rounding -------------------------------------------------------------------------------------


def test_sizes_round_down_and_limit_prices_round_away_from_the_market():
    assert round_down(Decimal("0.123456789"), Decimal("0.00000001")) == Decimal("0.12345678")
    assert round_up(Decimal("100.01"), Decimal("0.1")) == Decimal("100.1")
    # Buy: 0.5% under the bid, rounded DOWN to the tick; sell: 0.5% over the ask, rounded UP.
    buy = limit_price(
        "buy", bid=Decimal("2999.5"), ask=Decimal("3000.5"), offset_pct=Decimal("0.5"), tick_sz=ETH.tick_sz
    )
    sell = limit_price(
        "sell", bid=Decimal("2999.5"), ask=Decimal("3000.5"), offset_pct=Decimal("0.5"), tick_sz=ETH.tick_sz
    )
    assert buy == Decimal("2984.50")  # 2984.5025 -> down
    assert sell == Decimal("3015.51")  # 3015.5025 -> up
    assert base_size(Decimal("100"), Decimal("60010"), BTC.lot_sz) == Decimal("0.00166638")


def test_rebalance_sells_first_and_never_plans_more_buys_than_the_funds():
    assets = [
        AssetState("BTC", Decimal("0.5"), Decimal("60000"), Decimal("0.5")),
        AssetState("ETH", Decimal("2"), Decimal("3000"), Decimal("0.3")),
        AssetState("USDT", Decimal("10000"), Decimal(1), Decimal("0.2")),
    ]
    decision = plan_rebalance(
        assets,
        quote_ccy="USDT",
        threshold_pct=Decimal(5),
        instruments={"BTC": BTC, "ETH": ETH},
        bids={"BTC": Decimal("59990"), "ETH": Decimal("2999.5")},
        asks={"BTC": Decimal("60010"), "ETH": Decimal("3000.5")},
        quote_available=Decimal("10000"),
    )
    assert decision.triggered
    assert [(o.ccy, o.side) for o in decision.orders] == [("BTC", "sell"), ("ETH", "buy")]
    sell, buy = decision.orders
    assert sell.sz == Decimal("0.11666666")  # 7000 USDT of BTC at 60000, rounded down to the lot
    assert buy.sz == Decimal("7800.00000000")
    assert buy.sz <= Decimal("10000") + sell.notional


def test_rebalance_under_the_threshold_plans_nothing():
    assets = [
        AssetState("BTC", Decimal("0.5"), Decimal("60000"), Decimal("0.64")),
        AssetState("USDT", Decimal("16000"), Decimal(1), Decimal("0.36")),
    ]
    decision = plan_rebalance(
        assets,
        quote_ccy="USDT",
        threshold_pct=Decimal(5),
        instruments={"BTC": BTC},
        bids={"BTC": Decimal("59990")},
        asks={"BTC": Decimal("60010")},
        quote_available=Decimal("16000"),
    )
    assert not decision.triggered and decision.orders == []
    assert decision.max_drift < 5
