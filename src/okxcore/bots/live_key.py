"""The key a bot's clients sign with, read again from its secret while the container stays warm.

A rotation moves the secret's AWSCURRENT to a new key, and deletes the old key at OKX once the grace period has
passed (RotationGracePeriodSeconds, at least 600 s). A warm container can outlive that by hours, so a client that
kept the key it read at cold start would go on signing with a deleted key. Every signed request asks for the key
here. At most every OKX_KEY_REFRESH_S (default 120 s) the secret is read again. When it holds another key, the
clients sign with that key from the next request on. The key a client starts with may come from the secret cache
(up to 300 s old), so the oldest key a client can sign with is 300 s + the interval + one invocation old: with the
defaults and a 60 s Timeout, 480 s, inside the smallest grace period.

A read that fails (Secrets Manager unreachable, the secret unreadable or malformed) keeps the key read before,
which stays valid through the grace period, says so in a warning, and is tried again after RETRY_S. A secret that
now names another region or demo mode is not taken either: the client's host and mode were fixed from the first
key, so the function's next cold start takes it, and an error line says so.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from okxcore.bots.redaction import Redactor
from okxcore.credentials import OkxKeySecret
from okxcore.errors import OkxShieldError

DEFAULT_REFRESH_S = 120.0
RETRY_S = 30.0

_log = logging.getLogger("okxcore.bots")

KeyLoader = Callable[[str], OkxKeySecret]


class LiveKey:
    """The current key of one secret. `load` reads the secret past any cache; None (a key given as an object, not
    by its secret's name) keeps the first key for good."""

    def __init__(
        self,
        key: OkxKeySecret,
        *,
        secret_name: str,
        load: KeyLoader | None,
        refresh_s: float,
        redact: Redactor,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._key = key
        self._secret_name = secret_name
        self._load = load
        self._refresh_s = refresh_s
        self._redact = redact
        self._clock = clock
        self._due = clock() + refresh_s
        self._lock = threading.Lock()

    @property
    def current(self) -> OkxKeySecret:
        """The key as last read, without reading the secret."""
        return self._key

    def signing_key(self) -> OkxKeySecret:
        """The key to sign the next request with: the secret is read again when its interval has passed."""
        if self._load is None or self._clock() < self._due:
            return self._key
        with self._lock:  # one read per interval, however many threads sign at that moment
            if self._clock() >= self._due:
                self._refresh(self._load)
        return self._key

    def _refresh(self, load: KeyLoader) -> None:
        try:
            fresh = load(self._secret_name)
        except OkxShieldError as exc:
            self._due = self._clock() + RETRY_S
            _log.warning(
                "okx-shield: the key's secret %s could not be read again, so requests are still signed with the "
                "key read before (valid through a rotation's grace period); next try in %.0f s: %s",
                self._secret_name,
                RETRY_S,
                exc.describe(),
            )
            return
        self._due = self._clock() + self._refresh_s
        if (fresh.region, fresh.demo) != (self._key.region, self._key.demo):
            _log.error(
                "okx-shield: the secret %s now holds a key for region %r, demo %s, and this client was built for "
                "region %r, demo %s: it keeps signing with the key read before. Fix: the function's next cold "
                "start builds the client for the new key (update the function's configuration to force one).",
                self._secret_name,
                fresh.region,
                fresh.demo,
                self._key.region,
                self._key.demo,
            )
            return
        if fresh.signing_values() != self._key.signing_values():
            self._redact.add(fresh.signing_values())
            self._key = fresh
            _log.info(
                "okx-shield: the secret %s holds a new key (a rotation): requests are signed with it from now on",
                self._secret_name,
            )
