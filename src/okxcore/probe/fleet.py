"""Checking a fleet of keys: concurrently, within OKX's rate limits and the run's time budget, in a stable order.

One signed account/config per key, on a bounded thread pool over the run's one Shield session, whose pool keeps
one tunnel per worker (a smaller pool would open and drop a tunnel per call).

- **Rate limits.** account/config allows 5 calls per 2 s per OKX user, and nothing tells a key's user before the
  call. One user's keys tend to sit together in the name-sorted listing, so they are submitted in a shuffled
  order; OkxClient retries 50011 with jittered backoff, and a key still rate limited after that is tried again
  later (FleetRetry, as the audit does), never after the time budget is spent. Nothing is lost to a rate limit
  without a finding saying so.
- **Secrets** are read 20 per BatchGetSecretValue, a chunk ahead of the calls and at most two chunks ahead of the
  workers, so no secret is read for a key the budget never reaches.
- **Time.** No key check starts after the budget: the invocation's remaining time minus a reserve for the calls in
  flight, the repair and the report. Keys not reached are listed in the Keys table and counted in one finding that
  says how to fix it; they are never dropped silently.
- **Order.** Each result is placed by its key's position in the listing: the report never depends on which call
  finished first, and the egress verdict and the trading guard see the same checks either way.
- A proxy failure ends the run, as it did when keys were checked one by one: it stops new checks and is raised.
"""

from __future__ import annotations

import contextvars
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from okxcore.errors import ProxyError, RateLimitedError
from okxcore.pacing import FleetRetry, Tracker, retry_rate_limited
from okxcore.probe.checks import KeyCheck, check_key, keys_table, resolve_key_names

if TYPE_CHECKING:
    from okxcore.client import OkxClient
    from okxcore.credentials import OkxKeySecret
    from okxcore.egress import EgressVerdict
    from okxcore.models import AccountConfig
    from okxcore.probe.ports import KeyBatchLoader, KeyLister, ProbeWiring
    from okxcore.probe.reporting import ProbeRun

# Outside Lambda (no deadline known): the budget of the template's 120 s Timeout.
KEY_CHECK_BUDGET_S = 100.0
# Kept back from the invocation's remaining time: the calls still in flight, the repair, the guard and the report.
KEY_CHECK_RESERVE_S = 20.0
# Keys whose secrets are read at once (5 BatchGetSecretValue calls).
SECRETS_CHUNK = 100
NOT_REACHED = "not checked (time)"


def key_check_budget(time_left_s: float | None) -> float:
    """Seconds the key checks may start in: the remaining time minus the reserve, or the template's budget."""
    if time_left_s is None or time_left_s <= 0:
        return KEY_CHECK_BUDGET_S
    return max(time_left_s - KEY_CHECK_RESERVE_S, 0.0)


@dataclass(frozen=True)
class KeyCheckBudget:
    seconds: float
    started: float
    clock: Callable[[], float] = time.monotonic

    def spent(self) -> bool:
        return self.clock() - self.started > self.seconds


class _BudgetSpent(Exception):
    """A rate-limited key's next try would start after the budget: it ends on its last 50011."""

    def __init__(self, error: RateLimitedError) -> None:
        super().__init__()
        self.error = error


class _FleetRun:
    """What the workers share: the wiring, the yardstick, the budget, the pacing and the stop signal."""

    def __init__(
        self,
        wiring: ProbeWiring,
        yardstick: tuple[str, ...],
        configured: bool,
        budget: KeyCheckBudget,
        pool_maxsize: int,
    ) -> None:
        self.wiring = wiring
        self.yardstick = yardstick
        self.configured = configured
        self.budget = budget
        self.pool_maxsize = pool_maxsize
        self.retry = FleetRetry()
        self.tracker = Tracker()
        self.stop = threading.Event()  # set by the first proxy failure: the run is over

    def paced_config(self, client: OkxClient) -> AccountConfig:
        last: RateLimitedError | None = None

        def attempt() -> AccountConfig:
            nonlocal last
            if last is not None and self.budget.spent():
                raise _BudgetSpent(last)
            try:
                return client.account_config()
            except RateLimitedError as exc:
                last = exc
                raise

        try:
            return retry_rate_limited(attempt, self.retry, time.sleep, self.tracker)
        except _BudgetSpent as spent:
            self.tracker.count_unretried()
            raise spent.error from None

    def check(self, name: str, loaded: OkxKeySecret | Exception | None) -> KeyCheck:
        if self.stop.is_set() or self.budget.spent():
            return not_reached(name)
        try:
            return check_key(
                self.wiring,
                name,
                self.yardstick,
                self.configured,
                loaded=loaded,
                call=self.paced_config,
                pool_maxsize=self.pool_maxsize,
            )
        except ProxyError:
            self.stop.set()
            raise


def not_reached(name: str) -> KeyCheck:
    return KeyCheck(secret_name=name, label=name, result=NOT_REACHED)


def check_keys(
    run: ProbeRun,
    wiring: ProbeWiring,
    verdict: EgressVerdict,
    list_key_secrets: KeyLister,
    *,
    budget: KeyCheckBudget,
    load_keys: KeyBatchLoader,
) -> list[KeyCheck]:
    """Every key's check, in the listing's order; their findings join the run in that order."""
    names = resolve_key_names(run, list_key_secrets)
    if not names:
        return []
    # Without expected IPs the best available yardstick is what the echo services saw.
    yardstick = verdict.expected_ips or verdict.distinct_ips
    workers = max(1, min(run.config.max_workers, len(names)))
    fleet = _FleetRun(wiring, yardstick, bool(verdict.expected_ips), budget, run.config.pool_maxsize)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="okx-probe") as pool:
        futures = _submit(pool, fleet, names, load_keys)
        try:
            checks = [futures[i].result() if i in futures else not_reached(names[i]) for i in range(len(names))]
        except ProxyError:
            fleet.stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    for check in checks:
        run.findings.extend(check.findings)
    left = [c.secret_name for c in checks if c.result == NOT_REACHED]
    if left:
        run.add(
            "probe.keys.budget",
            "keys",
            f"{len(left)} key(s) were not checked, of {len(names)}: the run used up its {budget.seconds:g} s "
            f"key-check budget ({workers} checked at a time; first not checked: {left[0]}).",
        )
    run.tables["Keys"] = keys_table(checks)
    run.details["key_checks"] = {
        "keys": len(names),
        "workers": workers,
        "max_in_flight": fleet.tracker.max_in_flight,
        "rate_limited_retried": fleet.tracker.retried,
        "rate_limited_unretried": fleet.tracker.unretried,
        "not_reached": len(left),
        "budget_s": round(budget.seconds, 1),
        "elapsed_s": round(time.monotonic() - started, 3),
    }
    return checks


def _submit(
    pool: ThreadPoolExecutor, fleet: _FleetRun, names: list[str], load_keys: KeyBatchLoader
) -> dict[int, Future[KeyCheck]]:
    """One task per key in a shuffled order, its secret read a chunk ahead; nothing new once time is up."""
    order = list(range(len(names)))
    random.Random(len(names)).shuffle(order)
    futures: dict[int, Future[KeyCheck]] = {}
    pending: deque[Future[KeyCheck]] = deque()
    for start in range(0, len(order), SECRETS_CHUNK):
        if fleet.stop.is_set() or fleet.budget.spent():
            break  # the keys left are reported as not reached; their secrets are never read
        chunk = order[start : start + SECRETS_CHUNK]
        loaded = _read_secrets([names[i] for i in chunk], load_keys)
        for index in chunk:
            name = names[index]
            # The run's context: its Shield request tally counts this key's calls.
            got = loaded.get(name)
            task = pool.submit(
                contextvars.copy_context().run, fleet.tracker.run, lambda n=name, got=got: fleet.check(n, got)
            )
            futures[index] = task
            pending.append(task)
        while len(pending) > 2 * SECRETS_CHUNK:
            pending.popleft().exception()  # waits; a failure is raised where the results are collected
    return futures


def _read_secrets(names: list[str], load_keys: KeyBatchLoader) -> Mapping[str, OkxKeySecret | Exception]:
    try:
        return load_keys(names)
    except Exception:  # the batch read itself failed: each key reads its own secret and reports what stops it
        return {}
