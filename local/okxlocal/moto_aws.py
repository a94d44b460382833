"""moto for the local stack: every AWS service the functions use, in this process.

While it runs, DynamoDB's item operations are atomic (atomic_dynamodb.py) and a Secrets Manager read that
names no version reads AWSCURRENT (moto_secrets.py), as in AWS.

Start it once and `reset()` it between users (the tests do: one per session): starting moto replaces boto3's
default session, and the new session reads every service model again (about 0.4 s for the services a stack
uses), while a reset only empties moto's backends (well under 1 ms), as a fresh start would find them.
"""

from __future__ import annotations

from contextlib import ExitStack
from types import TracebackType
from typing import Self

from okxlocal.atomic_dynamodb import atomic_item_operations
from okxlocal.moto_secrets import reads_current_version


class MotoAws:
    def __init__(self) -> None:
        self._exits = ExitStack()

    def start(self) -> Self:
        from moto import mock_aws  # loaded when a stack starts (okxlocal/__init__.py)

        self._exits.enter_context(mock_aws())
        self._exits.enter_context(
            atomic_item_operations()
        )  # DynamoDB serialises writes to an item
        self._exits.enter_context(reads_current_version())  # a read naming no version is AWSCURRENT's, as in AWS
        self.reset()  # inside another moto mock, starting does not reset: a new user starts from nothing either way
        return self

    def reset(self) -> None:
        """Every backend empty, as a fresh mock_aws starts (boto3's session and its models stay)."""
        from moto.core.base_backend import BackendDict  # moto is running (okxlocal/__init__.py)

        BackendDict.reset()

    def stop(self) -> None:
        self._exits.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
