"""What a rotation does at OKX, through the master key: find the key's sub-account, create, find, delete.

OKX allows one create/modify/delete per second per master (okx.md). Writes are spaced by that, and a
`50011` answer to a write is retried: a rate-limited request was refused before OKX did anything, so
resending it cannot create a second key. A delete asks, right before each attempt, whether Secrets Manager
holds the key (`HeldKeys`, retire.py's rule 2): no delete goes out on what was read earlier in the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

from okxcore.client import OkxClient
from okxcore.credentials import OkxKeySecret
from okxcore.errors import KeyGoneError, OkxShieldError, RateLimitedError
from okxcore.keys.rotation.model import RotationError, Step, describe_error, master_refused
from okxcore.models import AccountConfig, CreatedSubAccountApiKey, SubAccountApiKey, fingerprint
from okxcore.subaccounts import SubAccountListing

if TYPE_CHECKING:
    from okxcore.keys.rotation.ports import OkxClients

T = TypeVar("T")


class HeldKeys(Protocol):
    """What must not be deleted, read at the moment of asking (okxcore.keys.rotation.retire, rule 2)."""

    def held(self) -> frozenset[str]: ...


WRITE_SPACING_S = 1.05  # OKX: 1 request per second for create / modify / delete of sub-account keys
WRITE_ATTEMPTS = 4


@dataclass
class MasterKeys:
    """The master's view of one sub-account's keys, and the writes on them."""

    master: OkxClient
    sub_acct: str
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    _last_write: float | None = field(default=None, init=False)

    def keys(self) -> list[SubAccountApiKey]:
        return self.master.subaccount_api_keys(self.sub_acct)

    def create(self, *, label: str, passphrase: str, perm: str, ips: list[str]) -> CreatedSubAccountApiKey:
        created = self._write(
            lambda: self.master.create_subaccount_api_key(
                self.sub_acct, label=label, passphrase=passphrase, perm=perm, ips=ips
            )
        )
        assert created is not None  # _write returns None only when its skip_if says so, and none is given
        return created

    def delete(self, key: SubAccountApiKey, *, unless: HeldKeys) -> bool:
        """Deletes the key at OKX unless `unless.held()`, asked right before each attempt (after the wait for
        OKX's write budget), names it. True when it is gone; False when it was kept because it is held."""
        fp = fingerprint(key.api_key) if key.api_key else ""
        held = False

        def is_held() -> bool:
            nonlocal held
            held = fp in unless.held()
            return held

        try:
            self._write(lambda: self.master.delete_subaccount_api_key(self.sub_acct, key.api_key), skip_if=is_held)
        except KeyGoneError:
            return True  # already gone: what deleting wanted
        return not held

    def _write(self, call: Callable[[], T], *, skip_if: Callable[[], bool] | None = None) -> T | None:
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            if self._last_write is not None:
                wait = WRITE_SPACING_S - (self.clock() - self._last_write)
                if wait > 0:
                    self.sleep(wait)
            if skip_if is not None and skip_if():
                return None
            try:
                return call()
            except RateLimitedError:
                if attempt == WRITE_ATTEMPTS:
                    raise
            finally:
                self._last_write = self.clock()
        raise AssertionError("unreachable")  # pragma: no cover


def find_sub_account(listing: SubAccountListing, config: AccountConfig) -> str | None:
    """The sub-account name of the key whose account/config this is, among those the master listed."""
    return next((sub.sub_acct for sub in listing.accounts if sub.uid and sub.uid == config.uid), None)


def by_fingerprint(keys: list[SubAccountApiKey], wanted: str) -> SubAccountApiKey | None:
    return next((key for key in keys if key.api_key and fingerprint(key.api_key) == wanted), None)


def by_label(keys: list[SubAccountApiKey], label: str) -> SubAccountApiKey | None:
    return next((key for key in keys if key.label == label), None)


def locate(
    name: str,
    current: OkxKeySecret,
    step: Step,
    clients: OkxClients,
    master_secret_name: str,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[str, MasterKeys]:
    """The current key's sub-account, and the master's handle on its keys; refuses main-account keys."""
    if master_secret_name and name == master_secret_name:
        raise master_refused(name, step)
    try:
        config = clients.key_client(current).account_config()
    except OkxShieldError as exc:
        raise RotationError(
            name,
            step,
            f"the current key does not work at OKX, so its permissions cannot be copied: {describe_error(exc)}",
            hint="Create a new key by hand (bound to both Shield IPs) and store it in the secret.",
        ) from None
    if not config.is_sub_account:
        raise master_refused(name, step)
    if not master_secret_name:
        raise RotationError(
            name,
            step,
            "no master key is configured, and only the master can create sub-account keys",
            hint="Set the stack parameter MasterKeySecretName to the secret of the main account's IP-bound key.",
        )
    master = clients.master_client()
    listing = master.subaccount_listing()
    sub_acct = find_sub_account(listing, config)
    if sub_acct is None and not listing.complete:
        raise RotationError(
            name,
            step,
            f"the master's sub-account listing stopped after {len(listing.accounts)} sub-accounts, because "
            f"{listing.stopped_early}, without this key's sub-account",
            hint="Rotate this key by hand (a new key bound to both Shield IPs, stored in the secret), or retry later.",
        )
    if sub_acct is None:
        raise RotationError(
            name,
            step,
            "the master key does not list this key's sub-account",
            hint="The key belongs to another main account than MasterKeySecretName's: rotate it there.",
        )
    return config.uid, MasterKeys(master, sub_acct, sleep=sleep)
