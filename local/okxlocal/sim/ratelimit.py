"""Sliding-window rate limiter (OKX limits are "N requests per 2 seconds")."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Hashable


class SlidingWindowLimiter:
    def __init__(self, window_s: float = 2.0) -> None:
        self.window_s = window_s
        self._lock = threading.Lock()
        self._hits: dict[Hashable, deque[float]] = {}

    def allow(self, key: Hashable, limit: int, window_s: float | None = None) -> bool:
        """Count one request under ``key``; False (and not counted) if ``limit`` is already reached within
        ``window_s`` (default: the limiter's window)."""
        now = time.monotonic()
        window = self.window_s if window_s is None else window_s
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and now - hits[0] >= window:
                hits.popleft()
            if len(hits) >= limit:
                return False
            hits.append(now)
            return True

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()
