"""The concurrency harness of the exactly-once tests: N threads x M deliveries, released together.

Outcomes are collected, never asserted here; the tests count what the simulator booked.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

Outcome = dict[str, Any] | Exception

# One instant, many ways to write it: what an operator re-running a slot may type while the Scheduler
# delivers it with Z. All are ISO 8601 with a time zone.
OFFSETS_MIN = (0, 60, -300, 330, -570, 0)


def spellings(instant: datetime) -> list[str]:
    out = [instant.astimezone(timezone(timedelta(minutes=m))).isoformat() for m in OFFSETS_MIN]
    out[0] = out[0].replace("+00:00", "Z")
    out[-1] = instant.astimezone(UTC).isoformat(timespec="milliseconds")  # +00:00 with .000
    return out


def deliver_concurrently(
    invoke: Callable[[dict[str, Any]], dict[str, Any]],
    events: Sequence[dict[str, Any]],
    *,
    threads: int,
    deliveries: int,
    timeout_s: float = 60,
) -> list[Outcome]:
    """Thread t delivers events[(t * deliveries + m) % len(events)] for m in 0..deliveries-1, all threads
    starting at one barrier. Returns every outcome (a result dict or the exception raised)."""
    barrier = threading.Barrier(threads)
    outcomes: list[Outcome] = []
    lock = threading.Lock()

    def run(thread_index: int) -> None:
        barrier.wait()
        for m in range(deliveries):
            event = dict(events[(thread_index * deliveries + m) % len(events)])
            try:
                outcome: Outcome = invoke(event)
            except Exception as exc:  # collected: a refused delivery raises after reporting
                outcome = exc
            with lock:
                outcomes.append(outcome)

    workers = [threading.Thread(target=run, args=(t,), daemon=True) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=timeout_s)
    assert not any(worker.is_alive() for worker in workers), "a delivery hung"
    return outcomes


def statuses(outcomes: Sequence[Outcome]) -> list[str]:
    return sorted(o["status"] if isinstance(o, dict) else type(o).__name__ for o in outcomes)
