"""A stateful property test of order ownership (issue 18): plan versions and renames, slots, rejected plans, fills,
lost answers, duplicate deliveries, orders placed by hand, OKX's clock and the scheduled sweep, in any order
hypothesis finds, against the trade Lambda end to end (handler -> real proxy -> OKX simulator; moto for the state
table, idempotency and SNS).

Checked after every step, from the simulator's own order book (never from what our code says about it):
- at most one order per clOrdId, that is per plan, slot and leg;
- every live order of a plan has an open record in the order ledger (the record comes before the order);
- after a run of a plan, none of that plan's orders is live past its lifetime (by OKX's clock when the run
  started); after the scheduled sweep, none of any plan's;
- orders the plan does not own are never touched: those placed by hand, and a neighbouring plan's on the same key;
- a rejected plan cancels none of the plan's orders whose lifetime is not over.

One started stack serves every example; each example works on plan ids and hand orders of its own, and puts
OKX's clock back where it was, so examples do not see each other. The hypothesis settings are the suite's stateful
profiles (tests/conftest.py, `stateful_settings`: `ci` in make test, `long` with OKX_SHIELD_STATEFUL=long), with
12 steps an example in `ci` (each step runs the trade function against the stack: tens of seconds in all).
"""

from __future__ import annotations

import itertools
import time
from decimal import Decimal
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from test_trade_executor import client_for
from trade_helpers import KEY_SECRET, UID

from handlers.wiring import Wiring
from okxcore.models import OrderRequest
from okxcore.slot import Slot
from okxcore.trading.lifetimes import parse_tag
from okxcore.trading.order_ids import derive_cl_ord_id
from okxcore.trading.plan import MAX_LEGS

# Each step runs the function against the stack, so an example of the ci profile is kept to 12 steps (the long
# profile keeps its own length).
CI_STEPS = 12

# OKX's clock moves at most this far ahead of ours in an example: the scheduled sweep decides by OKX's clock for
# the records due within 5 minutes by this machine's clock (sweep.CLOCK_TOLERANCE_MS).
MAX_CLOCK_AHEAD_S = 280
EXAMPLES = itertools.count()

limit_legs = st.fixed_dictionaries(
    {
        "kind": st.just("limit"),
        "inst_id": st.sampled_from(["ETH-USDT", "BTC-USDT"]),
        "side": st.sampled_from(["buy", "sell"]),
        "quote_amount": st.just("20"),
        "offset_pct": st.just("0.5"),
        "post_only": st.booleans(),
        "cancel_after_s": st.sampled_from([30, 90, 240]),
        "replace": st.booleans(),
    }
)
market_legs = st.just({"kind": "market", "inst_id": "BTC-USDT", "side": "buy", "quote_amount": "15"})
LONG_BID = {"kind": "limit", "inst_id": "ETH-USDT", "side": "buy", "quote_amount": "20", "offset_pct": "1",
            "cancel_after_s": 3600}  # fmt: skip
UNKNOWN_INSTRUMENT = {"kind": "market", "inst_id": "NOPE-USDT", "side": "buy", "quote_amount": "15"}
plan_legs = st.lists(st.one_of(limit_legs, limit_legs, market_legs), min_size=1, max_size=3)


def iso(epoch_ms: int, *, offset: bool = False) -> str:
    text = Slot(epoch_ms).iso
    return text.replace("Z", "+00:00") if offset else text


class OrdersMachine(RuleBasedStateMachine):
    def __init__(self, stack: Any, context: Any) -> None:
        super().__init__()
        from handlers import trade

        self.stack, self.sim = stack, stack.sim
        self.ledger = Wiring.from_environ().orders  # read by an invariant after every step: one client
        self.invoke = lambda event: trade.handler(event, context)
        number = next(EXAMPLES)
        self.plan_id = f"sm{number}"
        self.plan_ids = [self.plan_id]  # every id this example's plan has had (a rename starts a new one)
        self.legs: list[dict[str, Any]] = []  # the plan as it is now (set by the first slot)
        self.slots: list[tuple[str, int, list[dict[str, Any]]]] = []  # (plan id, slot ms, legs) of each run
        self.last_slot_ms = 0
        self.untouchable: set[str] = set()  # placed by hand, or by the neighbouring plan: never the plan's
        self.hand_ids = (f"hand{number}x{n}" for n in itertools.count())
        self.check_from_ms: dict[str, int] = {}  # plan id -> OKX time at which its last run started
        self.sim.faults.reset()
        for ccy, amount in {"USDT": "10000000", "ETH": "10000", "BTC": "1000"}.items():
            self.sim.set_balance(UID, ccy, amount)
        # A neighbouring plan on the same key, with a bid that outlives the example on ETH-USDT (replace: true):
        # nothing this plan does may touch it.
        neighbour = f"{self.plan_id}n"
        bid = {**LONG_BID, "replace": True}
        neighbour_ms = int(time.time() * 1000) - 1000
        self._deliver(self._event(neighbour, neighbour_ms, [bid]))
        self.untouchable.add(derive_cl_ord_id(neighbour, Slot(neighbour_ms), 0))

    # --- what the plan and the world do ------------------------------------------------------------

    @rule()
    def rename_plan(self) -> None:
        """The plan deleted and a new one scheduled: the old id never runs again."""
        self.plan_id = f"{self.plan_ids[0]}r{len(self.plan_ids)}"
        self.plan_ids.append(self.plan_id)

    # Rule arguments come from fixed strategies and pick among what exists by position: a draw that depended on
    # the order book (which depends on time) would make hypothesis' replays draw differently.
    @rule(which=st.integers(0, 7), whole=st.booleans())
    def fill(self, which: int, whole: bool) -> None:
        """A counterparty takes half or all of one of the plan's resting orders."""
        live = sorted((o["clOrdId"], o["sz"], o["accFillSz"]) for o in self._plan_orders() if _pending(o))
        if not live:
            return
        chosen, size, filled = live[which % len(live)]
        rest = Decimal(size) - Decimal(filled or "0")
        self.sim.fill_order(chosen, None if whole else (rest / 2).quantize(Decimal("0.000001")))

    @rule()
    def hand_order(self) -> None:
        """Someone places an order by hand on the same account."""
        cl_ord_id = next(self.hand_ids)
        request = OrderRequest(
            instId="ETH-USDT", side="buy", ordType="limit", px=Decimal(2000), sz=Decimal("0.01"), clOrdId=cl_ord_id
        )
        client_for(self.stack).place_order(request)
        self.untouchable.add(cl_ord_id)

    # --- deliveries ---------------------------------------------------------------------------------

    @initialize(legs=plan_legs)
    def first_slot(self, legs: list[dict[str, Any]]) -> None:
        self.legs = legs
        self._run_next_slot()

    @rule(okx_clock_s=st.sampled_from([0, 0, 15, 45, 100]), lost=st.sampled_from(["", "", "order", "cancel"]))
    def run_next_slot(self, okx_clock_s: int, lost: str) -> None:
        """The plan's next slot, after OKX's clock moved on (by as much), perhaps with the answer to its next order
        or cancel request lost (OKX processes it, and the connection closes without a response)."""
        faults = self.sim.faults
        faults.clock_offset_ms = min(faults.clock_offset_ms + okx_clock_s * 1000, MAX_CLOCK_AHEAD_S * 1000)
        faults.drop_after_order = int(lost == "order")
        faults.drop_after_cancel = int(lost == "cancel")
        try:
            self._run_next_slot()
        finally:  # a fault the run did not meet (it sent no such request) is not left for the next step
            faults.drop_after_order = faults.drop_after_cancel = 0

    @rule(legs=plan_legs)
    def edit_then_run(self, legs: list[dict[str, Any]]) -> None:
        """The plan edited under the same plan_id (legs inserted, removed, moved; lifetimes and replace changed),
        then its next slot."""
        self.legs = legs
        self._run_next_slot()

    @rule(okx_clock_s=st.sampled_from([0, 45, 100]))
    def run_a_slot_that_is_rejected(self, okx_clock_s: int) -> None:
        """The plan's next slot with a leg on an instrument OKX does not list: the plan is rejected."""
        faults = self.sim.faults
        faults.clock_offset_ms = min(faults.clock_offset_ms + okx_clock_s * 1000, MAX_CLOCK_AHEAD_S * 1000)
        legs, self.legs = self.legs, [*self.legs, UNKNOWN_INSTRUMENT]
        try:
            assert self._run_next_slot() == "REJECTED"
        finally:
            self.legs = legs

    def _run_next_slot(self) -> str:
        slot_ms = max(int(time.time() * 1000), self.last_slot_ms + 1)  # slots are instants to the millisecond
        while slot_ms > time.time() * 1000:  # never a future slot
            time.sleep(0.001)
        self.last_slot_ms = slot_ms
        self.slots.append((self.plan_id, slot_ms, list(self.legs)))
        self.check_from_ms[self.plan_id] = self.sim.now_ms()
        resting = {o["clOrdId"]: o for o in self._plan_orders() if _pending(o)}
        outcome = self._deliver(self._event(self.plan_id, slot_ms, self.legs))
        if outcome == "REJECTED":  # a rejected plan changes nothing at OKX but ending expired orders
            now_ms = self.sim.now_ms()
            after = {o["clOrdId"]: o["state"] for o in self._plan_orders()}
            for cl_ord_id, order in resting.items():
                slot_ms, life_s = parse_tag(order["tag"]) or (0, 0)
                if slot_ms + life_s * 1000 > now_ms:
                    assert after[cl_ord_id] != "canceled", f"a rejected plan canceled {cl_ord_id}"
        return outcome

    @precondition(lambda self: self.slots)
    @rule(which=st.integers(0, 30), as_edited=st.booleans())
    def deliver_again(self, which: int, as_edited: bool) -> None:
        """A duplicate delivery of an earlier slot (Lambda's retry, or Scheduler's at-least-once), in another
        spelling of its instant; or with the plan as it is now (a slot that already ran is refused)."""
        plan_id, slot_ms, legs = self.slots[which % len(self.slots)]
        self._deliver(self._event(plan_id, slot_ms, self.legs if as_edited else legs, offset_spelling=True))

    @rule()
    def scheduled_sweep(self) -> None:
        started = self.sim.now_ms()
        self.invoke({"sweep": "expired-orders", "scheduled_time": iso(int(time.time() * 1000))})
        for plan_id in self.plan_ids:
            self.check_from_ms[plan_id] = max(self.check_from_ms.get(plan_id, 0), started)

    def _event(
        self, plan_id: str, slot_ms: int, legs: list[dict[str, Any]], *, offset_spelling: bool = False
    ) -> dict[str, Any]:
        return {
            "plan_id": plan_id,
            "key_secret": KEY_SECRET,
            "scheduled_time": iso(slot_ms, offset=offset_spelling),
            "fill_wait_s": "0",
            "caps": {"max_notional": "1000", "max_deviation_pct": "2"},
            "legs": legs,
        }

    def _deliver(self, event: dict[str, Any]) -> str:
        from okxcore.trading.delivery import TradePlanConflictError, TradePlanRejectedError, TradeRunFailedError

        # A rejected, refused or failed slot raises, as Lambda sees it; anything else is a bug.
        try:
            return str(self.invoke(event).get("status", ""))
        except TradePlanRejectedError:
            return "REJECTED"
        except (TradePlanConflictError, TradeRunFailedError) as refused:
            return type(refused).__name__

    # --- what must hold after every step --------------------------------------------------------------

    def _own_ids(self) -> set[str]:
        ids = set()
        for plan_id, slot_ms, _legs in self.slots:
            ids.update(derive_cl_ord_id(plan_id, Slot(slot_ms), leg) for leg in range(MAX_LEGS))
        return ids

    def _plan_orders(self) -> list[dict[str, Any]]:
        own = self._own_ids()
        return [o for o in self.sim.orders(UID) if o["clOrdId"] in own]

    @invariant()
    def at_most_one_order_per_slot_and_leg(self) -> None:
        ids = [o["clOrdId"] for o in self._plan_orders()]
        assert len(ids) == len(set(ids)), f"an order was placed twice: {sorted(ids)}"

    @invariant()
    def every_live_order_of_a_plan_has_an_open_record(self) -> None:
        live = {o["clOrdId"] for o in self._plan_orders() if _pending(o)}
        if not live:
            return
        recorded = {r.cl_ord_id for r in self.ledger.open_records()}
        assert live <= recorded, f"live without a record: {sorted(live - recorded)}"

    @invariant()
    def no_order_lives_past_its_lifetime_after_the_next_run(self) -> None:
        by_plan = {
            derive_cl_ord_id(plan_id, Slot(slot_ms), leg): plan_id
            for plan_id, slot_ms, _legs in self.slots
            for leg in range(MAX_LEGS)
        }
        for order in filter(_pending, self._plan_orders()):
            slot_ms, life_s = parse_tag(order["tag"]) or (0, 0)
            checked = self.check_from_ms.get(by_plan[order["clOrdId"]], 0)
            assert slot_ms + life_s * 1000 > checked, f"{order['clOrdId']} outlived its lifetime past a run"

    @invariant()
    def orders_the_plan_does_not_own_are_never_touched(self) -> None:
        seen = {
            o["clOrdId"]: (o["state"], o["accFillSz"]) for o in self.sim.orders(UID) if o["clOrdId"] in self.untouchable
        }
        assert seen == dict.fromkeys(self.untouchable, ("live", "0")), seen

    def teardown(self) -> None:
        self.sim.faults.reset()


def _pending(order: dict[str, Any]) -> bool:
    return order["state"] in {"live", "partially_filled"}


def test_order_ownership_holds_whatever_happens(stack, lambda_context, stateful_settings, stateful_profile_name):
    steps = CI_STEPS if stateful_profile_name == "ci" else stateful_settings.stateful_step_count
    chosen = settings(stateful_settings, stateful_step_count=steps)
    run_state_machine_as_test(lambda: OrdersMachine(stack, lambda_context), settings=chosen)
