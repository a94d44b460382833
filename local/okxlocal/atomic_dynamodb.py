"""moto's DynamoDB with DynamoDB's atomicity: one item operation at a time.

moto evaluates a ConditionExpression and then writes, with nothing between the two, so two threads can
both pass `attribute_not_exists(id)` and both write. Real DynamoDB serialises the writes to one item, and
exactly-once rests on that (Powertools' idempotency record is such a conditional put). One lock around
every item operation of moto's backend makes each one atomic, as DynamoDB's are; it changes no answer,
only when the next operation may start. The local stack holds it for its whole life, so the demo and
every test on the stack see an atomic store; tests/trade/test_concurrency.py checks it is atomic.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any

ITEM_OPERATIONS = (
    "get_item",
    "put_item",
    "update_item",
    "delete_item",
    "batch_get_item",
    "batch_write_item",
    "query",
    "scan",
    "transact_get_items",
    "transact_write_items",
    "execute_statement",
    "batch_execute_statement",
    "execute_transaction",
)
_LOCK = threading.RLock()  # one for the process: moto's backends are process-global too


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return method(*args, **kwargs)

    wrapper.__okx_shield_atomic__ = True  # type: ignore[attr-defined]
    return wrapper


@contextlib.contextmanager
def atomic_item_operations() -> Iterator[None]:
    """While active, every item operation of moto's DynamoDB runs under one lock (re-entrant, nestable)."""
    from moto.dynamodb.models import DynamoDBBackend  # loaded when a stack starts (okxlocal/__init__.py)

    originals = {name: getattr(DynamoDBBackend, name) for name in ITEM_OPERATIONS}
    if all(getattr(method, "__okx_shield_atomic__", False) for method in originals.values()):
        yield  # already atomic: an enclosing stack holds it
        return
    for name, method in originals.items():
        setattr(DynamoDBBackend, name, _locked(method))
    try:
        yield
    finally:
        for name, method in originals.items():
            setattr(DynamoDBBackend, name, method)
