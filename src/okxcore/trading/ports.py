"""What a trade run is given to work with, as Protocols: the handler's wiring satisfies them as it is; tests
pass their own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from okxcore.aws.state import TradingGuard
    from okxcore.client import OkxClient
    from okxcore.credentials import OkxKeySecret


class GuardReader(Protocol):
    """The trading guard, read before the run and again before every send (rule 8 in executor.py)."""

    def trading_guard(self) -> TradingGuard: ...


class TradeSettings(Protocol):
    """The function settings a run reads (handlers.settings.RuntimeSettings has them)."""

    @property
    def limit_order_max_lifetime_s(self) -> int: ...  # the stack's ceiling on a limit order's lifetime


class TradeWiring(Protocol):
    """What run_plan needs from handlers.wiring.Wiring (which satisfies this as it is)."""

    @property
    def settings(self) -> TradeSettings: ...
    @property
    def state(self) -> GuardReader: ...
    def load_key(self, secret_name: str) -> OkxKeySecret: ...  # reads the secret; no OKX call
    def client(self, key: OkxKeySecret, *, key_name: str) -> OkxClient: ...  # the client that talks to OKX
