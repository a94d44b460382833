"""Pacing calls to OKX within its rate limits: a sliding-window gate, fleet-level retries, and counting.

Shared by the audit (okxcore.audit), the probe (okxcore.probe) and the key repairs (okxcore.keys.repair). OkxClient
retries 50011 with jittered backoff; a key still rate limited after that is tried again here, later, a few more
times (`FleetRetry`), and every such retry is counted (`Tracker`).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from okxcore.errors import RateLimitedError

T = TypeVar("T")

# OKX: sub-account key listing, 20 requests per 2 s per user (the master). The window is stretched a little so
# that network jitter cannot squeeze 21 requests into OKX's 2 s.
MASTER_LISTING_LIMIT = 20
MASTER_LISTING_WINDOW_S = 2.2
# OKX: the sub-account list itself (users/subaccount/list, one page per request), 2 requests per 2 s in the older
# docs and 20 in the newer: paced to the lower one, as the simulator enforces it.
SUBACCOUNT_LIST_LIMIT = 2
SUBACCOUNT_LIST_WINDOW_S = 2.2


class _Pacing(Protocol):
    """What the fleet retry needs of its caller (the audit's sources)."""

    @property
    def retry(self) -> FleetRetry: ...

    @property
    def sleep(self) -> Callable[[float], None]: ...


@dataclass(frozen=True)
class FleetRetry:
    """Retries of a rate-limited call after the client's own retries gave up (the call did nothing at OKX)."""

    rounds: int = 6
    base_delay_s: float = 0.5
    max_delay_s: float = 4.0

    def delay(self, round_number: int) -> float:
        # Full jitter, growing past OKX's 2 s window so that keys of one user spread out.
        return random.uniform(self.base_delay_s, min(self.max_delay_s, self.base_delay_s * 2**round_number))


class RateGate:
    """A blocking sliding-window limiter shared by threads: at most `limit` passes per `window_s`."""

    def __init__(
        self,
        limit: int,
        window_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._passes: list[float] = []

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                self._passes = [t for t in self._passes if now - t < self.window_s]
                if len(self._passes) < self.limit:
                    self._passes.append(now)
                    return
                wait = self.window_s - (now - self._passes[0])
            self._sleep(max(wait, 0.01))


_SHARED_GATES: dict[str, RateGate] = {}
_SHARED_GATES_LOCK = threading.Lock()


def shared_gate(name: str, limit: int, window_s: float) -> RateGate:
    """The process's one gate called `name`: OKX limits some endpoints per user, so every client of one master
    in this process (the audit's, then rotation's in a warm Lambda) must wait in the same gate."""
    with _SHARED_GATES_LOCK:
        gate = _SHARED_GATES.get(name)
        if gate is None:
            gate = _SHARED_GATES[name] = RateGate(limit, window_s)
        return gate


class Tracker:
    """Counts tasks in flight (each task has at most one request in flight) and fleet-level retries."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.retried = 0
        self.unretried = 0

    def run(self, task: Callable[[], T]) -> T:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return task()
        finally:
            with self._lock:
                self.in_flight -= 1

    def count_retry(self) -> None:
        with self._lock:
            self.retried += 1

    def count_unretried(self) -> None:
        with self._lock:
            self.unretried += 1


def retry_rate_limited(
    call: Callable[[], T], retry: FleetRetry, sleep: Callable[[float], None], tracker: Tracker | None = None
) -> T:
    """The call, tried again later while OKX still rate-limits it after the client's own retries."""
    rounds = max(1, retry.rounds)
    for round_number in range(1, rounds + 1):
        try:
            return call()
        except RateLimitedError:
            if round_number == rounds:
                if tracker is not None:
                    tracker.count_unretried()
                raise
            if tracker is not None:
                tracker.count_retry()
            sleep(retry.delay(round_number))
    raise AssertionError("unreachable")  # pragma: no cover


def with_fleet_retry(call: Callable[[], T], sources: _Pacing, tracker: Tracker) -> T:
    return retry_rate_limited(call, sources.retry, sources.sleep, tracker)
