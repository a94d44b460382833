"""The trade Lambda's slot store: Powertools idempotency over the state table (okxcore.trading.ports.SlotStore).

Only the AWS side: what each way a delivery can end means (replay, in progress, conflict, a failed store) is
decided in okxcore/trading/delivery.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from okxcore.aws.clients import aws_client
from okxcore.trading.plan import IDEMPOTENCY_KEY_JMESPATH, IDEMPOTENCY_PAYLOAD_JMESPATH
from okxcore.trading.ports import SlotAttempt, SlotStatus

# Scheduler may deliver up to 24 h late and Lambda holds async events up to 6 h: remember slots longer.
IDEMPOTENCY_TTL_S = 2 * 24 * 3600
IDEMPOTENCY_KEY_PREFIX = "trade-slot"
# Outside Lambda the context cannot tell its remaining time (it says 0, which would let a concurrent
# duplicate take over at once): hold the slot as long as a Lambda invocation can last.
LOCAL_REMAINING_MS = 15 * 60 * 1000


class _RemainingTime:
    """The Lambda context as Powertools' idempotency sees it, with a fallback outside Lambda."""

    def __init__(self, context: LambdaContext) -> None:
        self._context = context

    def get_remaining_time_in_millis(self) -> int:
        remaining = int(self._context.get_remaining_time_in_millis() or 0)
        return remaining if remaining > 0 else LOCAL_REMAINING_MS


class IdempotentSlots:
    """One invocation's slot store. Powertools is imported on first use, not with the module: its idempotency
    package loads boto3's DynamoDB layer, which only a valid plan needs, and module import is the cold start."""

    def __init__(self, table_name: str, context: LambdaContext) -> None:
        self._table_name = table_name
        self._context = context

    def run_once(self, record: dict[str, Any], work: Callable[[], dict[str, Any]]) -> SlotAttempt:
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyPersistenceLayerError,
            IdempotencyValidationError,
        )

        once = self._idempotent(_call)
        try:
            result = once(slot_record=record, work=work)
        except IdempotencyAlreadyInProgressError:
            return SlotAttempt(SlotStatus.IN_PROGRESS)
        except IdempotencyValidationError:
            return SlotAttempt(SlotStatus.CONFLICT)
        except IdempotencyPersistenceLayerError as exc:
            return SlotAttempt(SlotStatus.STORE_FAILED, error=exc)
        return SlotAttempt(SlotStatus.COMPLETED, result=result)

    def _idempotent(self, function: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        # Built per invocation: the persistence layer makes its boto3 client on construction (moto must be active).
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        config = IdempotencyConfig(
            event_key_jmespath=IDEMPOTENCY_KEY_JMESPATH,
            payload_validation_jmespath=IDEMPOTENCY_PAYLOAD_JMESPATH,
            raise_on_no_idempotency_key=True,
            expires_after_seconds=IDEMPOTENCY_TTL_S,
        )
        config.register_lambda_context(_RemainingTime(self._context))  # type: ignore[arg-type]
        # A client of boto3's default session, from the one factory (okxcore.aws.clients): Powertools would otherwise
        # build a new Session per invocation, whose endpoint data takes ~0.3 s to load each time.
        store = DynamoDBPersistenceLayer(
            table_name=self._table_name, key_attr="id", boto3_client=aws_client("dynamodb")
        )
        once: Callable[..., dict[str, Any]] = idempotent_function(
            function,
            data_keyword_argument="slot_record",
            persistence_store=store,
            config=config,
            key_prefix=IDEMPOTENCY_KEY_PREFIX,
        )
        return once


def _call(slot_record: dict[str, Any], work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """What Powertools runs once: `slot_record` is what it keys and validates; the work is the slot's run."""
    return work()
