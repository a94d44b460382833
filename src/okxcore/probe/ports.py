"""What the probe is given to work with, as Protocols: the handler's wiring satisfies them as it is; tests
pass their own."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from okxcore.egress import EchoResult
from okxcore.transport import ShieldSession

if TYPE_CHECKING:
    from okxcore.aws.state import TradingGuard
    from okxcore.client import OkxClient
    from okxcore.credentials import OkxKeySecret
    from okxcore.probe.event import ProbeSettings
    from okxcore.shield import ShieldEndpoint


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
    def session(self) -> ShieldSession: ...
    def load_key(self, secret_name: str) -> OkxKeySecret: ...
    def client(self, key: OkxKeySecret | None, *, key_name: str = "", record_use: bool = True) -> OkxClient: ...


KeyLister = Callable[..., list[str]]  # (prefix, *, tag, exclude) -> secret names
DirectEcho = Callable[..., EchoResult]  # (url, *, ca_bundle) -> EchoResult
