"""Fixtures for the trade Lambda's tests: example events made current, a started stack, an invoker."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def atomic_dynamodb_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make moto's DynamoDB conditional writes atomic, as DynamoDB's are.

    moto checks a ConditionExpression and then writes, with no lock between the two, so two threads can both
    pass `attribute_not_exists(id)`. Real DynamoDB serialises writes to one item. Without this, the concurrent
    duplicate tests would test moto's race instead of the handler.
    """
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()

    def locked(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return method(*args, **kwargs)

        return wrapper

    for name in ("put_item", "update_item", "delete_item", "get_item"):
        monkeypatch.setattr(DynamoDBBackend, name, locked(getattr(DynamoDBBackend, name)))


@pytest.fixture
def stack(local_stack, seed):
    """The local stack with the root conftest's seed: key bot-main (uid 1001) bound to the Shield IP."""
    return local_stack(seed)


@pytest.fixture
def invoke(lambda_context) -> Callable[[dict[str, Any]], dict[str, Any]]:
    from handlers import trade

    def call(event: dict[str, Any]) -> dict[str, Any]:
        return trade.handler(event, lambda_context)

    return call
