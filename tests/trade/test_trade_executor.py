"""The executor's send / reconcile rules against the simulator, with faults injected at exact points.

A fault must hit the order request, not the reads before it, so it is switched on from the OKX client's
`on_authenticated` callback, which runs after each authenticated answer (the lookup by clOrdId is the last
call before the send). Client, proxy and simulator are all real.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from trade_helpers import KEY_SECRET, UID, load_event, orders_with

from handlers.wiring import Wiring
from okxcore.aws.order_ledger import DynamoOrderLedger
from okxcore.client import OkxClient, RetryPolicy, Timeouts
from okxcore.credentials import OkxKeySecret
from okxcore.errors import OkxTransportError, OrderOutcomeUnknownError
from okxcore.models import Instrument, OrderRequest
from okxcore.trading.executor import (
    LegStatus,
    PlannedOrder,
    RunStatus,
    execute,
    prepare,
    run_plan,
)
from okxcore.trading.lifetimes import DEFAULT_MAX_LIFETIME_S
from okxcore.trading.plan import parse_plan
from okxcore.trading_guard import TradingGuard

FAST_RETRY = RetryPolicy(attempts=3, base_delay_s=0.05, max_delay_s=0.1)
OPEN = TradingGuard()


@dataclass
class AfterRequest:
    """Runs `action` once, right after the first authenticated request that `matches` was answered."""

    sim: object
    matches: Callable[[object], bool]
    action: Callable[[], None]
    then: list[tuple[Callable[[object], bool], Callable[[], None]]] = field(default_factory=list)
    done: bool = False

    def __call__(self, _label: str) -> None:
        last = self.sim.stats.requests[-1]
        if not self.done and self.matches(last):
            self.done = True
            self.action()
        elif self.done and self.then and self.then[0][0](last):
            self.then.pop(0)[1]()


def is_lookup(record) -> bool:
    return record.method == "GET" and record.path.startswith("/api/v5/trade/order?") and "clOrdId=" in record.path


def is_post(record) -> bool:
    return record.method == "POST"


def client_for(stack, hook=None, **options) -> OkxClient:
    wiring = Wiring.from_environ()
    return OkxClient(
        wiring.session(),
        key=wiring.load_key(KEY_SECRET),
        base_url=wiring.settings.okx_target(),
        allow_other_hosts=wiring.settings.local_overrides,
        retry=options.pop("retry", FAST_RETRY),
        on_authenticated=hook,
        **options,
    )


def posts(sim) -> list[str]:
    return [r.code for r in sim.stats.requests if r.method == "POST"]


class Guard:
    """The trading guard as read in turn: each read takes the next reading, the last one repeats."""

    def __init__(self, *readings: TradingGuard) -> None:
        self.readings = list(readings or [OPEN])

    def trading_guard(self) -> TradingGuard:
        return self.readings.pop(0) if len(self.readings) > 1 else self.readings[0]


@dataclass(frozen=True)
class Settings:
    limit_order_max_lifetime_s: int = DEFAULT_MAX_LIFETIME_S


def ledger() -> DynamoOrderLedger:
    """The stack's order ledger (moto's state table)."""
    return Wiring.from_environ().orders


@dataclass
class OneClient:
    """A TradeWiring around one client (whose own key is the plan's), a guard and the stack's order ledger."""

    the_client: OkxClient
    state: Guard = field(default_factory=Guard)
    settings: Settings = field(default_factory=Settings)
    orders: DynamoOrderLedger = field(default_factory=ledger)

    def load_key(self, secret_name: str) -> OkxKeySecret:
        assert self.the_client.key is not None
        return self.the_client.key

    def client(self, key: OkxKeySecret, *, key_name: str) -> OkxClient:
        return self.the_client


def run(plan, client, guard=None):
    return run_plan(plan, OneClient(client, guard or Guard()))


def test_a_rate_limited_send_is_resent_once_after_a_lookup_confirms_absence(stack):
    # Given OKX rate-limits exactly the order request (50011: refused before processing)
    hook = AfterRequest(stack.sim, is_lookup, lambda: setattr(stack.sim.faults, "rate_limit_storm", 1))
    plan = parse_plan(load_event("trade-dca.json"))
    # When the plan runs
    result = run(plan, client_for(stack, hook))
    # Then the order was sent a second time only after a lookup, and exactly one order exists
    assert posts(stack.sim) == ["50011", "0"]
    lookups_between = [r for r in stack.sim.stats.requests if is_lookup(r)]
    assert len(lookups_between) == 2  # before the first send, and before the resend
    assert len(orders_with(stack.sim)) == 1
    assert result.status is RunStatus.DONE and result.legs[0].status is LegStatus.PLACED


def test_a_rate_limited_send_whose_absence_cannot_be_confirmed_is_not_resent(stack):
    # Given OKX keeps rate-limiting everything from the order request on
    hook = AfterRequest(stack.sim, is_lookup, lambda: setattr(stack.sim.faults, "rate_limit_storm", 50))
    plan = parse_plan(load_event("trade-dca.json"))
    # When the plan runs
    result = run(plan, client_for(stack, hook))
    # Then the order was sent once and never again, nothing exists, and the run failed saying why
    assert posts(stack.sim) == ["50011"]
    assert orders_with(stack.sim) == []
    assert result.status is RunStatus.FAILED
    assert "not resent because its absence could not be confirmed" in result.legs[0].reason


def test_51016_means_the_order_exists_it_is_reported_and_never_placed_again(stack):
    # Given someone places this slot's order (a resting limit order) between our lookup and our send
    plan = parse_plan(load_event("trade-limit.json", fill_wait_s="0"))
    other = client_for(stack)

    def place_first() -> None:
        prep = prepare(other, plan)
        other.place_order(prep.orders[0].request)

    hook = AfterRequest(stack.sim, is_lookup, place_first)
    # When the plan runs
    result = run(plan, client_for(stack, hook))
    # Then our send got 51016, the order was looked up and reported, and only that one order exists
    assert posts(stack.sim) == ["0", "1"]  # theirs, then ours refused with sCode 51016
    [order] = orders_with(stack.sim)
    leg = result.legs[0]
    assert leg.status is LegStatus.EXISTING and leg.ord_id == order["ordId"]
    assert result.status is RunStatus.DONE


def test_a_send_that_arrives_after_its_exptime_is_discarded_by_okx(stack):
    # Given the order request is held up 1.5 s on the way, and the leg allows 1 s (expTime)
    event = load_event("trade-dca.json")
    event["legs"][0]["expire_after_s"] = 1
    faults = stack.sim.faults
    hook = AfterRequest(
        stack.sim,
        is_lookup,
        lambda: setattr(faults, "latency_s", 1.5),
        then=[(is_post, lambda: setattr(faults, "latency_s", 0.0))],
    )
    # When the plan runs
    result = run(parse_plan(event), client_for(stack, hook))
    # Then OKX refused the stale request (50037) and no order exists
    assert posts(stack.sim) == ["50037"]
    assert orders_with(stack.sim) == []
    assert result.status is RunStatus.FAILED
    assert "expTime" in result.legs[0].hint


def test_a_lost_send_confirmed_absent_after_exptime_is_failed_and_not_resent(stack):
    # Given the order request is held up past both our read timeout (1 s) and its expTime (1 s)
    event = load_event("trade-dca.json")
    event["legs"][0]["expire_after_s"] = 1
    faults = stack.sim.faults

    def hold_up_the_send() -> None:
        faults.latency_s = 1.6
        threading.Timer(1.2, lambda: setattr(faults, "latency_s", 0.0)).start()

    hook = AfterRequest(stack.sim, is_lookup, hold_up_the_send)
    client = client_for(stack, hook, timeouts=Timeouts(connect_s=2, read_s=1.0))
    # When the plan runs
    started = time.monotonic()
    result = run(parse_plan(event), client)
    # Then the send's outcome was unknown; lookups ran until OKX was past its expTime and found nothing
    leg = result.legs[0]
    assert leg.status is LegStatus.FAILED, leg.reason
    assert "cannot appear later" in leg.reason
    assert time.monotonic() - started < 8
    # And it was not resent: OKX saw one order request (which it discarded as expired) and has no order
    time.sleep(0.5)  # let the held-up request finish at the simulator
    assert posts(stack.sim) == ["50037"]
    assert orders_with(stack.sim) == []
    assert result.status is RunStatus.FAILED and result.must_retry


def test_insufficient_balance_at_okx_51008_fails_the_leg_without_an_order(stack):
    # Given the plan passed its balance check, and then the balance went (another bot spent it)
    plan = parse_plan(load_event("trade-dca.json"))
    client = client_for(stack)
    client.sync_clock()
    prep = prepare(client, plan)
    assert not prep.problems
    stack.sim.set_balance(UID, "USDT", "10")
    # When the orders are sent
    executed = execute(client, prep.orders, guard=Guard(), ledger=ledger(), slot_deadline=time.time() + 60)
    # Then OKX refused with 51008, the leg failed with the fix, and no order exists
    [leg] = executed.results
    assert leg.status is LegStatus.FAILED
    assert "51008" in leg.reason and "top up" in leg.hint.lower()
    assert orders_with(stack.sim) == []


def test_a_pause_after_the_checks_stops_the_orders_not_yet_sent(stack):
    # Given trading is open when the run starts, and paused by the time the order would be sent
    reads = Guard(OPEN, TradingGuard(paused=True, reason="egress changed", since="2026-01-05T09:00:01Z"))
    plan = parse_plan(load_event("trade-dca.json"))
    # When the plan runs
    result = run(plan, client_for(stack), guard=reads)
    # Then nothing was sent and the run is PAUSED with the reason
    assert posts(stack.sim) == []
    assert result.status is RunStatus.PAUSED
    assert result.legs[0].status is LegStatus.NOT_SENT and "egress changed" in result.legs[0].reason


def test_after_a_failed_leg_no_further_order_is_sent(stack):
    # Given a two-leg plan whose first leg OKX will refuse (balance gone after the checks)
    event = load_event("trade-dca.json", legs=[
        {"kind": "market", "inst_id": "BTC-USDT", "side": "buy", "quote_amount": "60"},
        {"kind": "market", "inst_id": "ETH-USDT", "side": "sell", "quote_amount": "60"},
    ])  # fmt: skip
    plan = parse_plan(event)
    client = client_for(stack)
    client.sync_clock()
    prep = prepare(client, plan)
    stack.sim.set_balance(UID, "USDT", "1")
    # When the orders are sent
    executed = execute(client, prep.orders, guard=Guard(), ledger=ledger(), slot_deadline=time.time() + 60)
    # Then the second leg (which could have been placed) was not sent
    assert [r.status for r in executed.results] == [LegStatus.FAILED, LegStatus.NOT_SENT]
    assert "51008" in executed.results[0].reason
    assert posts(stack.sim) == ["1"]  # one order request, refused (sCode 51008)


# --- the one rule that needs OKX to be unreachable mid-reconcile: a stand-in client -----------------


class UnreachableAfterSend:
    """OKX as seen when the answer to the order is lost and every lookup fails (a stand-in, not OKX)."""

    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.sends = 0

    def now_ms(self) -> int:
        return int(self.now * 1000)

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def get_order(self, inst_id: str, **_ids: str) -> None:
        if self.sends:
            self.now += 0.1
            raise OkxTransportError("GET /api/v5/trade/order failed after 4 attempt(s): ConnectionError")
        return None

    def place_order(self, order: OrderRequest, *, expires_at_ms: int | None = None) -> None:
        self.sends += 1
        self.expires_at_ms = expires_at_ms
        raise OrderOutcomeUnknownError("no answer to the order for BTC-USDT (ReadTimeout)", cl_ord_id=order.cl_ord_id)


def test_an_unknown_outcome_that_cannot_be_looked_up_is_unknown_and_never_resent(aws):
    client = UnreachableAfterSend()
    instrument = Instrument.model_validate(
        {"instId": "BTC-USDT", "baseCcy": "BTC", "quoteCcy": "USDT", "minSz": "0.00001", "lotSz": "0.00000001",
         "tickSz": "0.1"}
    )  # fmt: skip
    planned = PlannedOrder(
        leg_index=0,
        kind="market",
        field="legs[0]",
        part="",
        request=OrderRequest(
            inst_id="BTC-USDT", side="buy", ord_type="market", sz=Decimal(100), tgt_ccy="quote_ccy", cl_ord_id="os1"
        ),
        instrument=instrument,
        reference_px=Decimal(60000),
        expected_px=Decimal(60010),
        notional=Decimal(100),
        needs=("USDT", Decimal(100)),
        expire_after_s=10,
    )
    executed = execute(
        client,  # type: ignore[arg-type]
        [planned],
        guard=Guard(),
        ledger=DynamoOrderLedger("a-market-order-is-not-recorded"),
        slot_deadline=client.now + 600,
        clock=lambda: client.now,
        sleep=client.sleep,
    )
    [leg] = executed.results
    assert leg.status is LegStatus.UNKNOWN
    assert client.sends == 1
    # It kept asking until OKX's clock was past the request's expTime, so nothing can land after this run.
    assert client.now_ms() > client.expires_at_ms
    assert "os1" in leg.hint
