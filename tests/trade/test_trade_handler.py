"""The trade Lambda end to end: handler -> real proxy -> OKX simulator, with moto for secrets, SNS and DynamoDB.

Exactly-once is asserted on the simulator's own order book (sim.orders()), never on the handler's counters.
"""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from trade_helpers import EVENTS_DIR, KEY_SECRET, UID, load_event, orders_with

from okxcore.aws.state import DynamoStateStore
from okxcore.trading.delivery import TradePlanRejectedError, TradeRunFailedError
from okxcore.trading.plan import PlanValidationError
from okxlocal.seeds import new_key, seed_with
from okxlocal.stack import TABLE_NAME


def only_report(stack):
    reports = stack.reports()
    assert len(reports) == 1, [r.subject for r in reports]
    return reports[0]


def cl_ord_ids(result) -> set[str]:
    return {o["cl_ord_id"] for o in result["details"]["orders"] if o["cl_ord_id"]}


# --- each leg kind --------------------------------------------------------------------------------


def test_market_dca_buy_is_placed_filled_and_reported(stack, invoke):
    # Given the DCA example: buy BTC for 100 USDT
    event = load_event("trade-dca.json")
    # When the schedule fires
    result = invoke(event)
    # Then exactly one market order for 100 USDT is at OKX, filled
    [order] = orders_with(stack.sim)
    assert (order["instId"], order["side"], order["ordType"]) == ("BTC-USDT", "buy", "market")
    assert (order["sz"], order["tgtCcy"], order["state"]) == ("100", "quote_ccy", "filled")
    assert result["status"] == "DONE"
    assert cl_ord_ids(result) == {order["clOrdId"]}
    # And the report is an OK LIVE report with the order's fill, fee and ids in its table
    report = only_report(stack)
    # (outcome first, then the mode, the plan and the slot)
    assert report.subject.startswith("[OK] okx-shield trade (local): 1 order(s) placed: LIVE dca-btc-weekly @ ")
    assert report.attributes["severity"] == "OK"
    # And against the simulator it does not claim real funds
    assert f"Mode: LIVE against the local OKX simulator at localhost:{stack.sim.port}: no real funds." in report.text
    assert "real funds)" not in report.text
    for text in ("Orders:", "BTC-USDT", "filled", order["accFillSz"], order["avgPx"], order["ordId"], order["clOrdId"]):
        assert text in report.text
    assert order["fee"] in report.text


def test_limit_post_only_rests_at_the_offset_price_rounded_the_safe_way(stack, invoke):
    # Given the limit example: post-only buy of 300 USDT of ETH 0.5% under the bid (2999.5)
    event = load_event("trade-limit.json", fill_wait_s="0.3")
    # When the schedule fires
    result = invoke(event)
    # Then one post-only order rests at OKX: price 2984.5025 rounded DOWN to the tick, size rounded DOWN to the lot
    [order] = orders_with(stack.sim)
    assert (order["ordType"], order["side"], order["state"]) == ("post_only", "buy", "live")
    assert order["px"] == "2984.5"
    assert Decimal(order["sz"]) == Decimal("0.100519")  # 300 / 2984.50 = 0.1005193...
    assert result["status"] == "DONE"
    report = only_report(stack)
    assert "post_only" not in report.subject and "live" in report.text


def test_exptime_is_computed_on_okx_clock_so_a_skewed_local_clock_does_not_void_orders(stack, invoke):
    # Given OKX's clock runs 40 s ahead of ours, longer than the leg's 20 s expTime window
    stack.sim.faults.clock_offset_ms = 40_000
    # When the limit plan runs
    invoke(load_event("trade-limit.json", fill_wait_s="0"))
    # Then the order is accepted: expTime was set from OKX's time (measured at the start), not ours
    assert [o["state"] for o in orders_with(stack.sim)] == ["live"]


def test_rebalance_over_threshold_sells_first_then_buys_toward_the_targets(stack, invoke):
    # Given 10000 USDT, 0.5 BTC (30000) and 2 ETH (6000): BTC is 65% against a 50% target
    event = load_event("trade-rebalance.json")
    # When the rebalance runs
    result = invoke(event)
    # Then BTC was sold and then ETH bought, as market orders, and the weights are now near the targets
    orders = orders_with(stack.sim)
    assert [(o["instId"], o["side"], o["state"]) for o in orders] == [
        ("BTC-USDT", "sell", "filled"),
        ("ETH-USDT", "buy", "filled"),
    ]
    balances = stack.sim.balances(UID)
    values = {"BTC": balances["BTC"] * 60000, "ETH": balances["ETH"] * 3000, "USDT": balances["USDT"]}
    total = sum(values.values())
    for ccy, target in {"BTC": "0.5", "ETH": "0.3", "USDT": "0.2"}.items():
        assert abs(values[ccy] / total - Decimal(target)) < Decimal("0.01"), (ccy, values[ccy] / total)
    assert result["status"] == "DONE"
    assert "drift from targets" in only_report(stack).text


def test_rebalance_under_threshold_trades_nothing_and_says_why(stack, invoke):
    # Given targets within 5 percentage points of the current weights (65/13/22)
    event = load_event("trade-rebalance.json")
    event["legs"][0]["targets"] = {"BTC": "0.63", "ETH": "0.14", "USDT": "0.23"}
    # When the rebalance runs
    result = invoke(event)
    # Then no order is placed and the report says the drift is under the threshold
    assert orders_with(stack.sim) == []
    assert result["status"] == "DONE"
    report = only_report(stack)
    assert report.subject.startswith("[OK]") and "nothing to trade" in report.subject
    assert "under drift_threshold_pct" in report.text


# --- bad input: rejected before any order, CRITICAL report, handler raises ---------------------------


@pytest.mark.parametrize(
    ("leg_changes", "caps", "field"),
    [
        ({"quote_amount": "0"}, None, "legs[0].quote_amount"),
        ({"quote_amount": "-10"}, None, "legs[0].quote_amount"),
        ({"kind": "rebalance", "targets": {"BTC": "0.6", "USDT": "0.6"}}, None, "legs[0].targets"),
    ],
    ids=["zero-amount", "negative-amount", "weights-not-summing-to-1"],
)
def test_invalid_events_are_rejected_before_any_call_to_okx(stack, invoke, leg_changes, caps, field):
    # Given an event with a bad field
    event = load_event("trade-dca.json")
    leg = {**event["legs"][0], **leg_changes}
    if leg["kind"] == "rebalance":
        leg = {"kind": "rebalance", "targets": leg["targets"]}
    event["legs"] = [leg]
    # When it is delivered, Then the handler raises naming the field
    with pytest.raises(PlanValidationError) as caught:
        invoke(event)
    assert caught.value.field == field
    # And nothing reached OKX, and a CRITICAL report names the field
    assert stack.sim.stats.total_requests() == 0
    report = only_report(stack)
    assert report.attributes["severity"] == "CRITICAL"
    assert f"'{field}'" in report.text and "no order was sent" in report.text


def test_missing_scheduled_time_is_rejected_naming_the_field(stack, invoke):
    event = load_event("trade-dca.json")
    del event["scheduled_time"]
    with pytest.raises(PlanValidationError, match="scheduled_time"):
        invoke(event)
    assert stack.sim.stats.total_requests() == 0
    assert "field 'scheduled_time': is missing" in only_report(stack).text


@pytest.mark.parametrize(
    ("leg", "field", "words"),
    [
        ({"kind": "market", "inst_id": "DOGE-USDT", "side": "buy", "quote_amount": "50"}, "legs[0].inst_id",
         "DOGE-USDT is not an OKX spot instrument"),
        ({"kind": "limit", "inst_id": "BTC-USDT", "side": "sell", "size": "0.000001"}, "legs[0].size", "minSz"),
        ({"kind": "market", "inst_id": "BTC-USDT", "side": "buy", "quote_amount": "0.5"}, "legs[0].quote_amount",
         "minSz"),
        ({"kind": "market", "inst_id": "BTC-USDT", "side": "buy", "quote_amount": "149"}, "caps.max_notional",
         "over the cap"),
    ],
    ids=["unknown-instrument", "size-under-minSz", "quote-amount-under-minSz", "notional-over-cap"],
)  # fmt: skip
def test_plans_failing_okx_side_checks_send_nothing_report_once_and_raise(stack, invoke, leg, field, words):
    # Given a plan whose leg fails a check against OKX's instrument data or the caps (cap here: 100 USDT)
    event = load_event("trade-dca.json", legs=[leg])
    event["caps"]["max_notional"] = "100"
    # When it is delivered, and Lambda retries it
    for _ in range(2):
        with pytest.raises(TradePlanRejectedError):
            invoke(event)
    # Then no order was placed, and one CRITICAL report names the field (the retry replayed the stored rejection)
    assert orders_with(stack.sim) == []
    assert not any(r.method == "POST" for r in stack.sim.stats.requests)
    report = only_report(stack)
    assert report.attributes["severity"] == "CRITICAL"
    assert "plan rejected, no order" in report.subject
    assert field in report.text and words in report.text


def test_insufficient_balance_is_caught_before_sending(stack, invoke):
    # Given only 50 USDT available for a 100 USDT buy
    stack.sim.set_balance(UID, "USDT", "50")
    # When the DCA runs, Then it is rejected before any order (OKX would have answered 51008)
    with pytest.raises(TradePlanRejectedError):
        invoke(load_event("trade-dca.json"))
    assert orders_with(stack.sim) == []
    body = only_report(stack).body
    assert "needs 100 USDT, but only 50 USDT is available" in body and "51008" in body


def test_malformed_key_secret_sends_nothing_and_names_the_field(local_stack, seed, invoke):
    # Given the key's secret lacks its passphrase
    stack = local_stack(seed, skip_key_secrets=frozenset({"bot-main"}))
    key = seed.keys[0]
    stack.put_secret(KEY_SECRET, {"api_key": key.api_key, "api_secret": key.secret, "label": "bot-main"})
    # When the plan runs, Then the invocation fails
    with pytest.raises(TradeRunFailedError):
        invoke(load_event("trade-dca.json"))
    # And nothing authenticated reached OKX, and the report names the secret and field, never a value
    assert orders_with(stack.sim) == []
    assert not any(r.api_key for r in stack.sim.stats.requests)
    report = only_report(stack)
    assert report.attributes["severity"] == "CRITICAL"
    assert "okx-shield/keys/bot-main: field 'passphrase': is missing" in report.text
    assert key.secret not in report.text and key.api_key not in report.text


# --- exactly once ---------------------------------------------------------------------------------


def test_the_same_event_three_times_in_sequence_places_one_order_and_reports_once(stack, invoke):
    event = load_event("trade-dca.json")
    results = [invoke(dict(event)) for _ in range(3)]
    assert len(orders_with(stack.sim)) == 1
    assert results[1] == results[0] == results[2]
    only_report(stack)
    assert sum(1 for r in stack.sim.stats.requests if r.method == "POST") == 1


def test_the_same_event_three_times_concurrently_places_one_order(stack, invoke):
    # Given OKX answers slowly, so that the three deliveries overlap
    stack.sim.faults.latency_s = 0.15
    event = load_event("trade-dca.json")
    barrier = threading.Barrier(3)
    outcomes: list[object] = []

    def deliver() -> None:
        barrier.wait()
        try:
            outcomes.append(invoke(dict(event)))
        except Exception as exc:  # collected and asserted below
            outcomes.append(exc)

    # When three threads deliver the same event at once
    threads = [threading.Thread(target=deliver) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # Then exactly one order exists at OKX, one invocation placed it and the others stood aside
    assert len(orders_with(stack.sim)) == 1
    statuses = sorted(o["status"] if isinstance(o, dict) else repr(o) for o in outcomes)
    assert statuses.count("DONE") >= 1 and set(statuses) <= {"DONE", "IN_PROGRESS"}, statuses
    assert "IN_PROGRESS" in statuses  # the deliveries really overlapped
    only_report(stack)


def test_a_lost_answer_after_okx_accepted_the_order_is_reconciled_not_resent(stack, invoke):
    # Given OKX accepts the next order but the connection drops before the answer
    stack.sim.faults.drop_after_order = 1
    event = load_event("trade-dca.json")
    # When the plan runs, and the event is delivered again
    result = invoke(event)
    invoke(dict(event))
    # Then exactly one order exists, sent once, and the report says the answer was lost and the order found
    [order] = orders_with(stack.sim)
    assert order["state"] == "filled"
    assert [r.http_status for r in stack.sim.stats.requests if r.method == "POST"] == [0]
    assert result["status"] == "DONE"
    assert "answer was lost" in only_report(stack).text


def test_a_duplicate_after_the_idempotency_record_is_gone_finds_the_order_by_cl_ord_id(stack, invoke):
    # Given the slot ran, and its idempotency record has since expired (deleted here)
    event = load_event("trade-dca.json")
    invoke(event)
    stack.reports()
    import boto3

    dynamodb = boto3.client("dynamodb")
    records = [i["id"]["S"] for i in dynamodb.scan(TableName=TABLE_NAME)["Items"] if i["id"]["S"].startswith("trade")]
    assert len(records) == 1
    dynamodb.delete_item(TableName=TABLE_NAME, Key={"id": {"S": records[0]}})
    # When the event is delivered again
    result = invoke(dict(event))
    # Then the order is found by its clOrdId and not placed again
    assert len(orders_with(stack.sim)) == 1
    assert [o["status"] for o in result["details"]["orders"]] == ["EXISTING"]
    assert "already placed" in only_report(stack).subject


def test_a_state_table_that_cannot_record_the_slot_sends_nothing_and_fails_the_invocation(stack, invoke):
    import boto3
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyPersistenceLayerError

    # Given the state table is gone, so the slot cannot be recorded
    boto3.client("dynamodb").delete_table(TableName=TABLE_NAME)
    # When the schedule fires, Then the invocation fails with the store's own error
    with pytest.raises(IdempotencyPersistenceLayerError):
        invoke(load_event("trade-dca.json"))
    # And OKX saw nothing, and the CRITICAL report says why exactly-once is not guaranteed and that nothing was sent
    assert stack.sim.stats.total_requests() == 0
    report = only_report(stack)
    assert report.attributes["severity"] == "CRITICAL"
    assert "could not record this slot" in report.text and "no order was sent" in report.text


# --- rate limits, pause, dry run, proxy down, demo, late delivery ----------------------------------


def test_rate_limited_reads_are_retried_and_the_order_is_sent_once(stack, invoke):
    # Given OKX rate-limits the next two private requests
    stack.sim.faults.rate_limit_storm = 2
    # When the DCA runs
    result = invoke(load_event("trade-dca.json"))
    # Then the reads were retried past the 50011s and one order was sent, once
    codes = [r.code for r in stack.sim.stats.requests if r.api_key]
    assert codes[:2] == ["50011", "50011"]
    assert len(orders_with(stack.sim)) == 1
    assert sum(1 for r in stack.sim.stats.requests if r.method == "POST") == 1
    assert result["status"] == "DONE"


def test_trading_paused_sends_nothing_and_reports_why(stack, invoke):
    # Given the probe paused trading
    DynamoStateStore(TABLE_NAME).pause_trading("egress 1.2.3.4 is not a Shield IP", set_by="probe")
    # When the schedule fires
    result = invoke(load_event("trade-dca.json"))
    # Then nothing reached OKX and the CRITICAL report gives the guard's reason and since
    assert stack.sim.stats.total_requests() == 0
    assert result["status"] == "PAUSED"
    report = only_report(stack)
    assert report.attributes["severity"] == "CRITICAL"
    assert "(local): trading paused, no order: LIVE dca-btc-weekly @ " in report.subject
    guard = DynamoStateStore(TABLE_NAME).trading_guard()
    assert "egress 1.2.3.4 is not a Shield IP" in report.text and guard.since in report.text
    assert "set by probe" in report.text


def test_dry_run_sends_nothing_and_does_not_use_up_the_slot(stack, invoke):
    # Given the DCA plan as a dry run
    event = load_event("trade-dca.json", dry_run=True)
    # When it runs
    result = invoke(event)
    # Then no order exists, and the report says DRY RUN in its subject and shows the order it would send
    assert orders_with(stack.sim) == []
    assert result["status"] == "DRY_RUN"
    report = only_report(stack)
    assert "(local): 1 order(s) would be sent: LIVE DRY RUN dca-btc-weekly @ " in report.subject
    assert "DRY_RUN" in report.text and "100 USDT" in report.text
    # And the same slot run live afterwards still trades
    invoke(dict(event, dry_run=False))
    assert len(orders_with(stack.sim)) == 1


def test_proxy_down_means_no_order_a_critical_report_and_a_failed_invocation(stack, invoke):
    # Given the Shield proxy is down
    stack.proxy.stop()
    # When the schedule fires, Then the invocation fails
    with pytest.raises(TradeRunFailedError):
        invoke(load_event("trade-dca.json"))
    # And OKX saw nothing, and the CRITICAL report names the cause
    assert stack.sim.stats.total_requests() == 0
    report = only_report(stack)
    assert report.attributes["severity"] == "CRITICAL"
    assert "could not run, no order" in report.subject
    assert "Shield proxy" in report.text and "Fix:" in report.text


def test_late_delivery_beyond_max_delay_trades_nothing(stack, invoke):
    # Given a delivery an hour and a half after its slot (caps.max_delay_s 600)
    slot = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1, minutes=30)
    event = load_event("trade-dca.json", scheduled_time=slot.isoformat())
    # When it arrives, Then nothing is sent and a CRITICAL report says why in words; no raise (a retry cannot help)
    result = invoke(event)
    assert result["status"] == "TOO_LATE"
    assert stack.sim.stats.total_requests() == 0
    body = only_report(stack).text
    assert "came 1 hour 30 minutes after its slot" in body
    assert "within caps.max_delay_s (10 minutes)" in body and "nothing was sent" in body
    assert "put the current time in scheduled_time" in body


def test_a_dry_run_of_an_old_slot_says_in_words_why_it_did_nothing(stack, invoke):
    # Given the shipped dry-run example as written, its slot months in the past
    event = json.loads((EVENTS_DIR / "trade-dca-demo-dry-run.json").read_text())
    event["key_secret"] = KEY_SECRET
    event.pop("demo")
    # When it is delivered now
    result = invoke(event)
    # Then it was skipped before any OKX call, and the report says so in days, not seconds
    assert result["status"] == "TOO_LATE"
    assert stack.sim.stats.total_requests() == 0
    body = only_report(stack).text
    assert re.search(r"came \d+ days( \d+ hours?)? after its slot \(2026-01-05T09:00:00.000Z\)", body), body
    assert "nothing was checked nor sent" in body
    assert not re.search(r"\d{5,} s", body)


DEMO_SECRET = "okx-shield/keys/bot-demo"


def test_demo_key_places_the_order_with_the_demo_header(local_stack, invoke):
    # Given a demo key (OKX accepts it only with x-simulated-trading: 1) whose secret says demo=true
    key = new_key("2002", "bot-demo", ips=["127.0.0.2"], demo=True)
    stack = local_stack(seed_with([key]))
    # When a DCA plan that expects a demo key runs
    result = invoke(load_event("trade-dca.json", key_secret=DEMO_SECRET, demo=True))
    # Then the order was accepted: a demo key's order without the header would have been refused (50101)
    [order] = stack.sim.orders("2002")
    assert order["state"] == "filled"
    [post] = [r for r in stack.sim.stats.requests if r.method == "POST"]
    assert (post.api_key, post.code) == (key.api_key, "0")
    assert result["status"] == "DONE"
    assert only_report(stack).subject.startswith("[OK] okx-shield trade (local): 1 order(s) placed: DEMO ")


def test_demo_key_whose_secret_says_live_is_a_clear_error(local_stack, invoke):
    # Given a demo key whose secret wrongly says demo=false
    key = new_key("2002", "bot-demo", ips=["127.0.0.2"], demo=True)
    stack = local_stack(seed_with([key]), key_secret_extras={"bot-demo": {"demo": False}})
    # When the plan runs, Then it fails without an order, and the report explains the mismatch
    with pytest.raises(TradeRunFailedError):
        invoke(load_event("trade-dca.json", key_secret=DEMO_SECRET))
    assert stack.sim.orders() == []
    report = only_report(stack)
    assert "50101" in report.text and "Demo/live mismatch" in report.text


def test_plan_for_demo_with_a_live_key_is_rejected_before_any_private_call(stack, invoke):
    with pytest.raises(TradePlanRejectedError):
        invoke(load_event("trade-dca.json", demo=True))
    assert not any(r.api_key for r in stack.sim.stats.requests)
    body = only_report(stack).body
    assert "demo:" in body and "holds a live key" in body


def test_the_demo_dry_run_example_checks_against_the_demo_account_and_sends_nothing(local_stack, invoke):
    # Given the demo dry-run example and a demo key (OKX answers a demo key only with the demo header)
    key = new_key("2002", "bot-demo", ips=["127.0.0.2"], demo=True)
    stack = local_stack(seed_with([key]))
    event = load_event("trade-dca-demo-dry-run.json", key_secret=DEMO_SECRET)
    # When it runs
    result = invoke(event)
    # Then the balance check reached OKX as demo, nothing was sent, and the subject says DEMO DRY RUN
    assert result["status"] == "DRY_RUN"
    assert any(r.api_key == key.api_key and r.code == "0" for r in stack.sim.stats.requests)
    assert stack.sim.orders() == []
    assert only_report(stack).subject.startswith(
        "[OK] okx-shield trade (local): 2 order(s) would be sent: DEMO DRY RUN dca-eth-demo @ "
    )


def test_a_slot_far_in_the_future_is_rejected_before_any_call_to_okx(stack, invoke):
    # Given a hand-made event for tomorrow's slot (running it now would use up that slot's order ids)
    event = load_event("trade-dca.json", scheduled_time="2999-01-01T00:00:00Z")
    with pytest.raises(TradePlanRejectedError):
        invoke(event)
    assert stack.sim.stats.total_requests() == 0
    body = only_report(stack).body
    assert "scheduled_time: is" in body and "days" in body and "in the future" in body
