"""Run-time fault switches of the simulator (mutable from tests while the server runs)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from .wire import ApiRequest


@dataclass
class RequestHook:
    """Something that happens at OKX around one request, as if done by someone else at that moment (a user
    editing a key's IP list in OKX's web UI between a repair's read and its write, say).

    `route` is the route's name ("GET subaccount/apikey", "POST subaccount/modify-apikey", ...). A "before" hook
    runs after the request was authenticated and rate-limited, before its handler; it may raise OkxError, and
    the request is answered with that error and does nothing. An "after" hook runs once the handler answered.
    `matches` picks the requests it applies to (all of the route's by default); it runs `times` times.
    """

    route: str
    when: Literal["before", "after"]
    action: Callable[[ApiRequest], None]
    matches: Callable[[ApiRequest], bool] = lambda _request: True
    times: int = 1


@dataclass
class SimFaults:
    """Fault injection. Plain attributes: assign them at any time (``sim.faults.server_errors = 2``).

    - ``latency_s``: sleep added to every request (echo included).
    - ``drop_after_order``: the next N order placements (``POST /api/v5/trade/order`` requests that
      reach the order handler) are processed (committed, if valid) and then the TCP connection is
      closed without sending any response bytes.
    - ``drop_after_cancel``: the same for the next N ``POST /api/v5/trade/cancel-order`` requests.
    - ``server_errors``: the next N OKX API requests answer HTTP 503 ``{"code":"50001"}``.
    - ``rate_limit_storm``: the next N authenticated private requests answer HTTP 429 ``50011``.
    - ``clock_offset_ms``: server clock = real clock + offset (``/public/time``, timestamp check,
      ``expTime``, order times).
    - ``echo_ip_override``: echo name -> IP reported instead of the real peer.
    - ``echo_down``: echo names that answer 503.
    - ``gone_key_code``: what an unknown or deleted key answers: ``50111`` (invalid key), or ``50119`` ("API key
      doesn't exist", which OKX also answers for a key of another region) at every regional host.
    - ``hooks``: one-shot actions around a route's requests (:class:`RequestHook`).
    """

    latency_s: float = 0.0
    drop_after_order: int = 0
    drop_after_cancel: int = 0
    server_errors: int = 0
    rate_limit_storm: int = 0
    clock_offset_ms: int = 0
    echo_ip_override: dict[str, str] = field(default_factory=dict)
    echo_down: set[str] = field(default_factory=set)
    gone_key_code: str = "50111"
    hooks: list[RequestHook] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def _take(self, name: str) -> bool:
        with self._lock:
            remaining = int(getattr(self, name))
            if remaining > 0:
                setattr(self, name, remaining - 1)
                return True
            return False

    def take_drop_after_order(self) -> bool:
        """Consume one ``drop_after_order`` if any is left."""
        return self._take("drop_after_order")

    def take_drop_after_cancel(self) -> bool:
        """Consume one ``drop_after_cancel`` if any is left."""
        return self._take("drop_after_cancel")

    def take_server_error(self) -> bool:
        """Consume one ``server_errors`` if any is left."""
        return self._take("server_errors")

    def take_rate_limit_storm(self) -> bool:
        """Consume one ``rate_limit_storm`` if any is left."""
        return self._take("rate_limit_storm")

    def hook(
        self,
        route: str,
        when: Literal["before", "after"],
        action: Callable[[ApiRequest], None],
        *,
        matches: Callable[[ApiRequest], bool] = lambda _request: True,
        times: int = 1,
    ) -> RequestHook:
        added = RequestHook(route, when, action, matches, times)
        with self._lock:
            self.hooks.append(added)
        return added

    def run_hooks(self, route: str, when: str, request: ApiRequest) -> None:
        """Runs the hooks due for this request (outside the faults' lock: an action may take the exchange's)."""
        with self._lock:
            due = [h for h in self.hooks if h.route == route and h.when == when and h.times > 0 and h.matches(request)]
            for hook in due:
                hook.times -= 1
            self.hooks = [h for h in self.hooks if h.times > 0]
        for hook in due:
            hook.action(request)

    def echo_view(self, name: str) -> tuple[bool, str | None]:
        """(is the echo ``name`` down, override IP or None), read consistently."""
        with self._lock:
            return name in self.echo_down, self.echo_ip_override.get(name)

    def reset(self) -> None:
        """Switch every fault off."""
        with self._lock:
            self.latency_s = 0.0
            self.drop_after_order = 0
            self.drop_after_cancel = 0
            self.server_errors = 0
            self.rate_limit_storm = 0
            self.clock_offset_ms = 0
            self.echo_ip_override = {}
            self.echo_down = set()
            self.gone_key_code = "50111"
            self.hooks = []
