"""Finding a key held in a secret among the master's sub-accounts, for the probe's and the CLI's repairs.

The audit knows each sub-account key from the master's listing; the probe and `okx-shield keys bind-ips` start
from a key secret instead. The key's own account/config names its account (`uid`) and master (`mainUid`), so
the master needs one listing call for that sub-account. When the key cannot answer (bound to other IPs only,
say) the master's sub-accounts are searched, below OKX's 20-per-2-s listing limit.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from okxcore.client import OkxClient
from okxcore.errors import KeyGoneError, OkxShieldError, SubAccountKeyNotFoundError
from okxcore.keys.repair.binding import (
    BindingRepairer,
    Outcome,
    RepairItem,
    RepairRecorder,
    RepairResult,
    SubKeyRef,
    manual_item,
)
from okxcore.keys.repair.modes import RepairMode
from okxcore.models import AccountConfig, SubAccount
from okxcore.pacing import MASTER_LISTING_LIMIT, MASTER_LISTING_WINDOW_S, FleetRetry, RateGate, retry_rate_limited

T = TypeVar("T")
PATIENCE = FleetRetry()


@dataclass(frozen=True)
class KeyToLocate:
    resource: str  # the secret's name (or "label (secret)") as the report names the key
    label: str
    api_key: str  # the public key id from the secret; never rendered
    config: AccountConfig | None = None  # the key's own account/config, when the caller already has it


class MasterNotUsableError(OkxShieldError):
    hint = (
        "Put the main account's key in the master secret: bound to both Shield IPs, with trade permission "
        "(OKX's requirement for modify-apikey)."
    )


def patiently(call: Callable[[], T], retry: FleetRetry = PATIENCE, sleep: Callable[[float], None] = time.sleep) -> T:
    """A read retried past the client's own retries while OKX rate-limits it (the listing allows 2 per 2 s)."""
    return retry_rate_limited(call, retry, sleep)


def master_uid(master: OkxClient, master_name: str) -> str:
    """The master's own uid; refuses a sub-account's key, which cannot manage other keys."""
    config = master.account_config()
    if config.is_sub_account:
        raise MasterNotUsableError(f"{master_name} holds a sub-account's key, not the main account's")
    return config.uid


def locate(
    master: OkxClient,
    own_uid: str,
    target: KeyToLocate,
    *,
    key_client: OkxClient | None = None,
    shield_ips: Sequence[str] = (),
    gate: RateGate | None = None,
    subaccounts: Sequence[SubAccount] | None = None,
) -> SubKeyRef | RepairItem:
    """Where the master finds the key, or the item saying why it cannot repair it (the manual steps)."""
    config = target.config
    if config is None and key_client is not None:
        try:
            config = key_client.account_config()
        except KeyGoneError as exc:
            return RepairItem(
                target.resource,
                target.label,
                Outcome.FAILED,
                f"OKX does not know this key ({exc.code}): nothing to bind",
                remediation=exc.hint,
            )
        except OkxShieldError:
            config = None  # e.g. 50110: the key works only from other IPs; the master can still find it
    if config is not None:
        if not config.is_sub_account:
            whose = "the master account's own key" if config.uid == own_uid else "a main account's key"
            return manual_item(
                target.resource, target.label, f"it is {whose}, which OKX lets no API rebind", shield_ips
            )
        if config.main_uid != own_uid:
            return manual_item(target.resource, target.label, "it belongs to another master's sub-account", shield_ips)
    gate = gate or RateGate(MASTER_LISTING_LIMIT, MASTER_LISTING_WINDOW_S)
    if subaccounts is None:
        subaccounts = patiently(master.subaccounts)
    for sub in subaccounts:
        if config is not None and sub.uid != config.uid:
            continue
        gate.acquire()
        try:
            listed = patiently(functools.partial(master.subaccount_api_keys, sub.sub_acct, target.api_key))
        except SubAccountKeyNotFoundError:
            continue
        if any(key.api_key == target.api_key for key in listed):
            return SubKeyRef(target.resource, target.label, sub.sub_acct, target.api_key)
    return manual_item(
        target.resource,
        target.label,
        "the master key does not list it under any of its sub-accounts (another master's key, or deleted)",
        shield_ips,
    )


def repair_secret_key(
    master: OkxClient,
    master_name: str,
    target: KeyToLocate,
    *,
    key_client: OkxClient | None,
    shield_ips: tuple[str, ...],
    mode: RepairMode,
    actor: str,
    recorder: RepairRecorder | None = None,
    remove: tuple[str, ...] = (),
) -> RepairResult:
    """One key held in a secret: located through the master, then planned or repaired (`okx-shield keys bind-ips`)."""
    found = locate(master, master_uid(master, master_name), target, key_client=key_client, shield_ips=shield_ips)
    if isinstance(found, RepairItem):
        return RepairResult(mode, [found])
    return BindingRepairer(master, shield_ips, mode, actor, recorder, remove=remove).repair([found])
