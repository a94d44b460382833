"""Fixtures for the trade Lambda's tests: example events made current, a started stack, an invoker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


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
