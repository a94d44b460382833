"""Exactly once, concurrently: one slot in many spellings, delivered by many threads at once, places one
order, counted at the simulator. The store is moto's DynamoDB made atomic (okxlocal.atomic_dynamodb)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import boto3
import pytest
from harness_concurrency import deliver_concurrently, spellings, statuses
from trade_helpers import load_event, orders_with

from okxlocal.stack import TABLE_NAME

THREADS, DELIVERIES = 6, 2


def slot_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def test_the_store_is_atomic_one_of_many_concurrent_conditional_puts_wins(stack, monkeypatch):
    # Given moto's condition check made slow (its answer unchanged), so that without a lock around the whole
    # check-then-write every writer would pass attribute_not_exists(id) before any of them wrote
    from moto.dynamodb.models import table

    def slow_filter_expression(*args, **kwargs):
        time.sleep(0.05)
        return real_filter_expression(*args, **kwargs)

    real_filter_expression = table.get_filter_expression
    monkeypatch.setattr(table, "get_filter_expression", slow_filter_expression)
    # And 16 threads that all create the same item only if it does not exist
    client = boto3.client("dynamodb")
    barrier, wins, lock = threading.Barrier(16), [], threading.Lock()

    def put(index: int) -> None:
        barrier.wait()
        try:
            client.put_item(
                TableName=TABLE_NAME,
                Item={"id": {"S": "race"}, "by": {"N": str(index)}},
                ConditionExpression="attribute_not_exists(id)",
            )
        except client.exceptions.ConditionalCheckFailedException:
            return
        with lock:
            wins.append(index)

    threads = [threading.Thread(target=put, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # Then exactly one write succeeded, and the item is that writer's
    assert len(wins) == 1
    item = client.get_item(TableName=TABLE_NAME, Key={"id": {"S": "race"}})["Item"]
    assert item["by"]["N"] == str(wins[0])


def test_one_slot_in_mixed_spellings_delivered_concurrently_places_one_order(stack, invoke):
    # Given OKX answers slowly, so that deliveries overlap, and one slot written six ways
    stack.sim.faults.latency_s = 0.15
    slot = slot_now()
    events = [load_event("trade-dca.json", scheduled_time=text) for text in spellings(slot)]
    assert len({e["scheduled_time"] for e in events}) == len(events)
    # When 6 threads deliver 2 events each, all at once
    outcomes = deliver_concurrently(invoke, events, threads=THREADS, deliveries=DELIVERIES)
    # Then the simulator booked one order, one delivery placed it, the others stood aside or replayed it
    [order] = orders_with(stack.sim)
    found = statuses(outcomes)
    assert set(found) <= {"DONE", "IN_PROGRESS"}, found
    assert "IN_PROGRESS" in found  # the deliveries really overlapped
    assert sum(1 for r in stack.sim.stats.requests if r.method == "POST") == 1
    # And every result names the one canonical slot and the one clOrdId
    done = [o for o in outcomes if isinstance(o, dict) and o["status"] == "DONE"]
    assert {o["slot"] for o in outcomes if isinstance(o, dict)} == {slot.isoformat(timespec="milliseconds")[:-6] + "Z"}
    assert {o["cl_ord_id"] for d in done for o in d["details"]["orders"]} == {order["clOrdId"]}
    [report] = stack.reports()
    assert report.attributes["severity"] == "OK"


def test_a_changed_plan_for_a_slot_that_ran_is_refused_with_a_clear_error_and_sends_nothing(stack, invoke):
    from okxcore.trading.delivery import TradePlanConflictError

    # Given the slot ran with a 100 USDT buy
    slot = slot_now()
    invoke(load_event("trade-dca.json", scheduled_time=spellings(slot)[0]))
    stack.reports()
    # When the same slot arrives again, written another way, but buying 120 USDT
    changed = load_event("trade-dca.json", scheduled_time=spellings(slot)[2])
    changed["legs"] = [{**changed["legs"][0], "quote_amount": "120"}]
    with pytest.raises(TradePlanConflictError) as caught:
        invoke(changed)
    # Then nothing more reached OKX, and the report says the slot already ran with another plan
    assert len(orders_with(stack.sim)) == 1
    assert sum(1 for r in stack.sim.stats.requests if r.method == "POST") == 1
    [report] = stack.reports()
    assert report.attributes["severity"] == "CRITICAL"
    assert "different plan" in report.text and "nothing was sent" in report.text
    assert "different plan" in str(caught.value)


def test_the_same_plan_with_amounts_written_differently_is_the_same_plan(stack, invoke):
    slot = slot_now()
    first = load_event("trade-dca.json", scheduled_time=spellings(slot)[0])
    again = load_event("trade-dca.json", scheduled_time=spellings(slot)[1])
    again["legs"] = [{**again["legs"][0], "quote_amount": 100.0}]
    again["caps"] = {**again["caps"], "max_notional": "150.00"}
    results = [invoke(first), invoke(again)]
    assert [r["status"] for r in results] == ["DONE", "DONE"] and results[0] == results[1]
    assert len(orders_with(stack.sim)) == 1


def test_changed_and_original_plans_racing_for_one_slot_place_one_order(stack, invoke):
    from okxcore.trading.delivery import TradePlanConflictError

    # Given deliveries of one slot, some of them with a changed amount, racing each other
    stack.sim.faults.latency_s = 0.15
    slot = slot_now()
    events = []
    for index, text in enumerate(spellings(slot)):
        event = load_event("trade-dca.json", scheduled_time=text)
        if index % 2:
            event["legs"] = [{**event["legs"][0], "quote_amount": "120"}]
        events.append(event)
    outcomes = deliver_concurrently(invoke, events, threads=THREADS, deliveries=DELIVERIES)
    # Then one order is booked, whichever plan won the slot, and every other delivery stood aside or was refused
    [order] = orders_with(stack.sim)
    assert order["sz"] in {"100", "120"}
    assert all(isinstance(o, dict | TradePlanConflictError) for o in outcomes), statuses(outcomes)
    assert any(isinstance(o, TradePlanConflictError) for o in outcomes)
