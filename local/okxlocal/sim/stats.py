"""Connection and request accounting of the simulator (thread-safe)."""

from __future__ import annotations

import threading
from collections import Counter
from typing import NamedTuple


class RequestRecord(NamedTuple):
    """One HTTP request as the simulator saw it.

    ``code`` is the OKX ``code`` of the answer ("" for echo answers and for requests whose
    connection was dropped by the ``drop_after_order`` fault; those have ``http_status`` 0).
    """

    peer_ip: str
    method: str
    path: str  # path with ?query, exactly as received
    api_key: str | None
    code: str
    http_status: int


class SimStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connections: Counter[str] = Counter()
        self._requests: list[RequestRecord] = []

    def record_connection(self, peer_ip: str) -> None:
        with self._lock:
            self._connections[peer_ip] += 1

    def record_request(self, record: RequestRecord) -> None:
        with self._lock:
            self._requests.append(record)

    def connections_from(self, ip: str) -> int:
        """TCP connections accepted from ``ip`` (counted at accept, before TLS)."""
        with self._lock:
            return self._connections[ip]

    def total_connections(self) -> int:
        with self._lock:
            return sum(self._connections.values())

    def requests_from(self, ip: str) -> int:
        with self._lock:
            return sum(1 for r in self._requests if r.peer_ip == ip)

    def total_requests(self) -> int:
        with self._lock:
            return len(self._requests)

    @property
    def requests(self) -> list[RequestRecord]:
        """A copy of every request record, oldest first."""
        with self._lock:
            return list(self._requests)

    def reset(self) -> None:
        with self._lock:
            self._connections.clear()
            self._requests.clear()
