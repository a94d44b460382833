"""The probe's trading pause, as a bot's own client meets it: which requests it stops, and one cached guard read.

While the guard is set, every POST except a cancel is refused before it leaves: orders, amendments, algo orders,
transfers, withdrawals and account settings. Reads (GET) and cancels pass: a pause must never trap an open order,
and a cancel only lowers exposure. The guard is read at most once per `ttl_s` per process, and only when an order
is about to be sent, so reads never wait for DynamoDB. A guard that cannot be read stops orders too (fail closed).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from okxcore.errors import TradingPausedError

if TYPE_CHECKING:
    from okxcore.trading_guard import TradingGuard

GUARD_TTL_S = 30.0
_CANCEL_PREFIXES = ("cancel", "mass-cancel")
_POLICY_HINT = (
    "Attach the okx-shield bot policy (the stack's BotPolicyArn output) to the function's role and set "
    "STATE_TABLE_NAME to the stack's state table."
)


def pause_applies(method: str, path: str) -> bool:
    """True for a request the pause refuses: a POST that is not a cancel (OKX's writes are all POSTs)."""
    if method.upper() != "POST":
        return False
    endpoint = path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return not endpoint.startswith(_CANCEL_PREFIXES)


class GuardCache:
    """The trading guard, read through `read` at most once per ttl_s (a failed read is not cached)."""

    def __init__(
        self,
        read: Callable[[], TradingGuard],
        *,
        ttl_s: float = GUARD_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._guard: TradingGuard | None = None
        self._read_at = 0.0

    def fresh(self) -> bool:
        return self._guard is not None and self._clock() - self._read_at < self._ttl_s

    def check(self, method: str, path: str) -> None:
        """Raise TradingPausedError if the pause stops this request; a no-op for reads and cancels."""
        if not pause_applies(method, path):
            return
        guard = self._current()
        if guard.paused:
            raise TradingPausedError(
                f"trading is paused: {guard.reason or 'no reason given'} (since {guard.since or '?'}, set by "
                f"{guard.set_by or '?'}); {method.upper()} {path.split('?', 1)[0]} was not sent"
            )

    def _current(self) -> TradingGuard:
        with self._lock:
            if self.fresh():
                assert self._guard is not None
                return self._guard
            try:
                guard = self._read()
            except Exception as exc:  # botocore's message names the error code and the table, never a value
                raise TradingPausedError(
                    f"the trading guard could not be read ({str(exc)[:200]}); orders are refused until it can be",
                    hint=_POLICY_HINT,
                ) from None
            self._guard, self._read_at = guard, self._clock()
            return guard


_CACHES: dict[str, GuardCache] = {}
_CACHES_LOCK = threading.Lock()


def guard_for_table(table_name: str) -> GuardCache:
    """One cache per state table per process: every client of a warm container shares its read."""
    with _CACHES_LOCK:
        cache = _CACHES.get(table_name)
        if cache is None:
            from okxcore.aws.state import DynamoStateStore

            store: DynamoStateStore | None = None

            def read() -> TradingGuard:
                nonlocal store
                if store is None:
                    store = DynamoStateStore(table_name)
                return store.trading_guard()

            cache = _CACHES[table_name] = GuardCache(read)
        return cache


def forget_guards() -> None:
    with _CACHES_LOCK:
        _CACHES.clear()
