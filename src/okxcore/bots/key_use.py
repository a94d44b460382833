"""A bot's authenticated calls recorded as its key's last use, so the audit's dormancy and deletion countdown see it.

OKX counts every authenticated call as use of a key and offers no API to read it back; the audit reads what the
state table holds (`keyuse#<secret name>`). At most one write per key per `interval_s` per process, on a
background thread, so no request waits for DynamoDB. Lambda freezes the process when the handler returns: a write
queued just before may finish in the next invocation; `flush()` at the end of a handler makes it certain.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

KEY_USE_INTERVAL_S = 300.0
_log = logging.getLogger("okxcore.bots")

Write = Callable[[str, int], None]  # (key secret name, epoch ms)


class KeyUseRecorder:
    def __init__(
        self, write: Write, *, interval_s: float = KEY_USE_INTERVAL_S, clock: Callable[[], float] = time.time
    ) -> None:
        self._write = write
        self._interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._queue: queue.Queue[tuple[str, int]] = queue.Queue()
        self._worker: threading.Thread | None = None

    def _due(self, key_name: str) -> float | None:
        """The time of a write to make now, or None when one was made (or queued) within the interval."""
        now = self._clock()
        with self._lock:
            if now - self._last.get(key_name, float("-inf")) < self._interval_s:
                return None
            self._last[key_name] = now
            return now

    def used(self, key_name: str) -> None:
        """Note an authenticated call; the write (when due) happens on the background thread."""
        now = self._due(key_name)
        if now is None:
            return
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._drain, name="okx-shield-key-use", daemon=True)
                self._worker.start()
        self._queue.put((key_name, int(now * 1000)))

    def record_now(self, key_name: str) -> bool:
        """Write the use now, in this thread, unless one was written within the interval; True if written."""
        now = self._due(key_name)
        if now is None:
            return False
        return self._write_one(key_name, int(now * 1000))

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until every queued write is done (True), or timeout_s passed (False)."""
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def _drain(self) -> None:
        while True:
            key_name, at_ms = self._queue.get()
            try:
                self._write_one(key_name, at_ms)
            finally:
                self._queue.task_done()

    def _write_one(self, key_name: str, at_ms: int) -> bool:
        try:
            self._write(key_name, at_ms)
        except Exception as exc:  # botocore names the error code and the table, never a value
            with self._lock:
                self._last.pop(key_name, None)  # the next call tries again
            _log.warning("okx-shield could not record the use of key %s: %s", key_name, str(exc)[:200])
            return False
        return True


_RECORDERS: dict[str, KeyUseRecorder] = {}
_RECORDERS_LOCK = threading.Lock()


def recorder_for_table(table_name: str) -> KeyUseRecorder:
    """One recorder per state table per process: its interval holds across every client of a warm container."""
    with _RECORDERS_LOCK:
        recorder = _RECORDERS.get(table_name)
        if recorder is None:
            from okxcore.aws.state import DynamoStateStore

            stores: list[DynamoStateStore] = []

            def write(key_name: str, at_ms: int) -> None:
                if not stores:
                    stores.append(DynamoStateStore(table_name))
                stores[0].record_key_use(key_name, at_ms)

            recorder = _RECORDERS[table_name] = KeyUseRecorder(write)
        return recorder


def flush_all(timeout_s: float = 5.0) -> bool:
    with _RECORDERS_LOCK:
        recorders = list(_RECORDERS.values())
    return all(recorder.flush(timeout_s) for recorder in recorders)


def forget_recorders() -> None:
    with _RECORDERS_LOCK:
        _RECORDERS.clear()
