"""Secrets out of whatever a bot's library prints or logs: ccxt's `verbose` output and debug log both carry the
request headers, the passphrase among them."""

from __future__ import annotations

import logging
from collections.abc import Iterable, MutableMapping
from typing import Any

REDACTED = "***"
_MIN_SECRET_LENGTH = 4  # shorter values would blank out ordinary text


class Redactor:
    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = _longest_first(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Redact these too (a rotated key's): the key read before stays redacted, as its lines may still come."""
        self._secrets = _longest_first([*self._secrets, *secrets])  # one assignment: a logging thread sees old or new

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


def _longest_first(secrets: Iterable[str]) -> list[str]:
    return sorted({s for s in secrets if len(s) >= _MIN_SECRET_LENGTH}, key=len, reverse=True)


class RedactingLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger that formats each record's message itself and redacts it before the real logger sees it."""

    def __init__(self, logger: logging.Logger, redact: Redactor) -> None:
        super().__init__(logger, {})
        self._redact = redact

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        text = str(msg)
        if args:
            try:
                text = text % args
            except (TypeError, ValueError):
                text = " ".join([text, *map(str, args)])
        self.logger.log(level, self._redact(text), **kwargs)

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        return msg, kwargs
