"""What the probe is given to work with, as Protocols: the handler's wiring satisfies them as it is; tests
pass their own."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from okxcore.egress import EchoResult
from okxcore.transport import DEFAULT_POOL_SIZE, ShieldSession

if TYPE_CHECKING:
    from okxcore.client import OkxClient
    from okxcore.credentials import OkxKeySecret
    from okxcore.errors import InvalidInputError
    from okxcore.probe.event import ProbeSettings
    from okxcore.shield import ShieldEndpoint
    from okxcore.trading_guard import TradingGuard


class GuardStore(Protocol):
    def trading_guard(self) -> TradingGuard: ...
    def pause_trading(self, reason: str, *, set_by: str) -> None: ...
    def resume_trading(self, *, set_by: str) -> bool: ...


class ProbeWiring(Protocol):
    """What the probe needs from handlers.wiring.Wiring (which satisfies this as it is)."""

    @property
    def settings(self) -> ProbeSettings: ...
    @property
    def state(self) -> GuardStore: ...
    def shield(self) -> ShieldEndpoint: ...
    def session(self, *, pool_maxsize: int = DEFAULT_POOL_SIZE) -> ShieldSession: ...
    def load_key(self, secret_name: str) -> OkxKeySecret: ...
    def load_keys(
        self, secret_names: list[str], *, client: Any = None
    ) -> Mapping[str, OkxKeySecret | InvalidInputError]: ...
    def client(
        self,
        key: OkxKeySecret | None,
        *,
        key_name: str = "",
        record_use: bool = True,
        pool_maxsize: int = DEFAULT_POOL_SIZE,
    ) -> OkxClient: ...


KeyLister = Callable[..., list[str]]  # (prefix, *, tag, exclude) -> secret names
DirectEcho = Callable[..., EchoResult]  # (url, *, ca_bundle) -> EchoResult
# Many key secrets in batched reads: each name maps to its key or to the error naming the secret.
KeyBatchLoader = Callable[[list[str]], "Mapping[str, OkxKeySecret | InvalidInputError]"]
