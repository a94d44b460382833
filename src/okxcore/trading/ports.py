"""What a trade run is given to work with, as Protocols: the handler's wiring satisfies them as it is; tests
pass their own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from okxcore.client import OkxClient
    from okxcore.credentials import OkxKeySecret
    from okxcore.report import Report
    from okxcore.trading.ledger import OrderRecord
    from okxcore.trading_guard import TradingGuard


class GuardReader(Protocol):
    """The trading guard, read before the run and again before every send (rule 8 in executor.py)."""

    def trading_guard(self) -> TradingGuard: ...


class OrderLedger(Protocol):
    """The resting orders okx-shield placed, in the state table (rules: okxcore/trading/ledger.py; the table's
    side: okxcore/aws/order_ledger.py). Every method raises OrderLedgerError when the table cannot be used."""

    def record(self, record: OrderRecord) -> None: ...  # written before each send of the order
    def close(self, record: OrderRecord, ended: str, at_ms: int) -> bool: ...  # False: it changed since read
    def open_records(self, plan_id: str | None = None, *, expired_by_ms: int | None = None) -> list[OrderRecord]:
        """The open records (of one plan; only those expired at `expired_by_ms`), oldest expiry first."""
        ...


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
    @property
    def orders(self) -> OrderLedger: ...
    def load_key(self, secret_name: str) -> OkxKeySecret: ...  # reads the secret; no OKX call
    def client(self, key: OkxKeySecret, *, key_name: str) -> OkxClient: ...  # the client that talks to OKX


class SlotSettings(TradeSettings, Protocol):
    """The settings one delivery reads besides the run's own."""

    @property
    def environment(self) -> str: ...
    def simulator_host(self) -> str | None: ...  # the local simulator standing in for OKX, if any


class SlotWiring(TradeWiring, Protocol):
    """What one delivery of a slot needs besides the run's own: the environment's name and the publisher."""

    @property
    def settings(self) -> SlotSettings: ...
    def publish(self, report: Report) -> str: ...  # logs the full report first, so a failed send loses nothing


class SlotStatus(StrEnum):
    COMPLETED = "COMPLETED"  # the slot's result: this delivery's run, or the one stored earlier (a replay)
    IN_PROGRESS = "IN_PROGRESS"  # another invocation holds the slot
    CONFLICT = "CONFLICT"  # the slot already ran with another plan (the record's fingerprint differs)
    STORE_FAILED = "STORE_FAILED"  # the store could not record the slot: exactly-once is not guaranteed


@dataclass(frozen=True)
class SlotAttempt:
    status: SlotStatus
    result: dict[str, Any] | None = None  # when COMPLETED
    error: Exception | None = None  # when STORE_FAILED: the store's own error, raised as it is


class SlotStore(Protocol):
    """Runs a slot's work at most once at a time and keeps its result (handlers/trade_slots.py: Powertools
    idempotency over the state table). Keyed and checked by `record` (TradePlan.idempotency_record). An
    exception from `work` releases the slot for a retry and comes back out of run_once as it is."""

    def run_once(self, record: dict[str, Any], work: Callable[[], dict[str, Any]]) -> SlotAttempt: ...


class TradeLog(Protocol):
    """The handler's logger, lent to the delivery (okxcore does not log on its own)."""

    def info(self, message: str, /) -> None: ...
    def warning(self, message: str, /) -> None: ...
    def error(self, message: str, /) -> None: ...
    def exception(self, message: str, /) -> None: ...  # with the exception being handled
