"""A listener that accepts TCP connections and never answers: a proxy that stalls."""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from types import TracebackType
from typing import Self
from urllib.parse import quote

from okxlocal.proxies.children import LISTEN_HOST


class StalledListener:
    """A TCP listener that accepts connections and never sends a byte: the "stalled proxy" fault.

    Accepted connections stay open (unread) until close().
    """

    def __init__(self, host: str = LISTEN_HOST) -> None:
        self.host = host
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.bind((host, 0))
        self._server.listen(64)
        self._server.setblocking(False)
        self.port: int = int(self._server.getsockname()[1])
        self._lock = threading.Lock()
        self._accepted = 0
        self._connections: list[socket.socket] = []
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"stalled-listener-{self.port}", daemon=True)
        self._thread.start()

    @property
    def accepted(self) -> int:
        with self._lock:
            return self._accepted

    def url(self, scheme: str, username: str = "user", password: str = "pass") -> str:  # noqa: S107
        """A proxy URL pointing at this listener, e.g. url("socks5h")."""
        return f"{scheme}://{quote(username, safe='')}:{quote(password, safe='')}@{self.host}:{self.port}"

    def wait_accepted(self, count: int = 1, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.accepted >= count:
                return True
            time.sleep(0.02)
        return self.accepted >= count

    def _run(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._server, selectors.EVENT_READ)
            while not self._closing.is_set():
                if not selector.select(timeout=0.1):
                    continue
                try:
                    conn, _peer = self._server.accept()
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    return
                with self._lock:
                    if self._closing.is_set():
                        conn.close()
                        return
                    self._connections.append(conn)
                    self._accepted += 1

    def close(self) -> None:
        self._closing.set()
        self._thread.join(timeout=2.0)
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.close()
        with contextlib.suppress(OSError):
            self._server.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
