"""Where the handlers' structured log goes while a command runs them in-process.

In AWS it goes to CloudWatch. Here Powertools' Logger (handlers/observability.py) is created when the handlers
are imported and writes to the stdout of that moment; a command points it elsewhere for its own length.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import TextIO, cast

from handlers.observability import logger


@contextlib.contextmanager
def handler_logs_to(stream: TextIO, *, level: str | None = None) -> Iterator[None]:
    """The handlers' log is written to `stream` (and, given a level, only from that level up) while inside."""
    handler = cast("logging.StreamHandler[TextIO]", logger.registered_handler)
    previous_stream = handler.setStream(stream)
    previous_level = logger.log_level
    if level is not None:
        logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(previous_level)
        if previous_stream is not None:
            handler.setStream(previous_stream)
