"""The master key's listing of its sub-accounts' keys, and matching it with the key secrets held here.

The master lists its sub-accounts (one page of users/subaccount/list), then each sub-account's keys (perm, ip,
creation `ts`); those calls go through a client-side gate below OKX's 20-per-2-s limit for the master. A listed
key is matched with a secret by the fingerprint of its public key id; a listed key no secret holds is audited
from the listing alone.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from okxcore.audit.fleet_rules import master_error_finding, master_finding, master_truncation_finding
from okxcore.audit.models import CreationTime, KeySubject
from okxcore.audit.sources import AuditSources
from okxcore.client import OkxClient
from okxcore.credentials import OkxKeySecret
from okxcore.models import AccountConfig, SubAccount, SubAccountApiKey, fingerprint
from okxcore.pacing import MASTER_LISTING_LIMIT, MASTER_LISTING_WINDOW_S, RateGate, Tracker, with_fleet_retry
from okxcore.report import Finding


@dataclass
class Listing:
    keys: list[SubAccountApiKey] = field(default_factory=list)
    subaccounts: list[SubAccount] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    client: OkxClient | None = None  # the master's client, once it proved to be a main account's key


def list_subaccount_keys(
    name: str,
    key: OkxKeySecret | None,
    config: AccountConfig | None,
    sources: AuditSources,
    pool: ThreadPoolExecutor,
    tracker: Tracker,
) -> Listing:
    """The master's sub-accounts and their keys; `key` and `config` are the master secret's key and its answer."""
    listing = Listing()
    if key is None or config is None:
        listing.findings.append(master_error_finding(name, "the master key itself could not be used"))
        return listing
    if config.is_sub_account:
        listing.findings.append(
            master_error_finding(name, "the master secret holds a sub-account's key, not the main account's")
        )
        return listing
    try:
        client = sources.client_for(key, name)
        listing.client = client
        pages = pool.submit(
            contextvars.copy_context().run,
            tracker.run,
            lambda: with_fleet_retry(client.subaccount_listing, sources, tracker),
        ).result()
    except Exception as exc:
        listing.findings.append(master_error_finding(name, "listing the sub-accounts failed", exc))
        return listing
    listing.subaccounts = list(pages.accounts)
    if not pages.complete:
        listing.findings.append(master_truncation_finding(name, pages))
    gate = RateGate(MASTER_LISTING_LIMIT, MASTER_LISTING_WINDOW_S, sleep=sources.sleep)

    def keys_of(sub_acct: str) -> list[SubAccountApiKey]:
        def call() -> list[SubAccountApiKey]:
            gate.acquire()
            return client.subaccount_api_keys(sub_acct)

        return with_fleet_retry(call, sources, tracker)

    futures: list[tuple[str, Future[list[SubAccountApiKey]]]] = [
        (
            sub.sub_acct,
            pool.submit(contextvars.copy_context().run, tracker.run, lambda name=sub.sub_acct: keys_of(name)),
        )
        for sub in listing.subaccounts
    ]
    for sub_acct, future in futures:
        try:
            listing.keys.extend(future.result())
        except Exception as exc:
            listing.findings.append(
                master_error_finding(
                    f"subaccount:{sub_acct}", f"listing the keys of sub-account {sub_acct} failed", exc
                )
            )
    listing.findings.append(
        master_finding(name, listed_subaccounts=len(listing.subaccounts), listed_keys=len(listing.keys))
    )
    return listing


def match_listing(
    fingerprints: Iterable[str], listing: Listing
) -> tuple[dict[str, SubAccountApiKey], list[SubAccountApiKey]]:
    """The listed keys a secret holds (by the secret key's fingerprint), and the listed keys no secret holds."""
    held = {fp for fp in fingerprints if fp}
    matched: dict[str, SubAccountApiKey] = {}
    listed_only: list[SubAccountApiKey] = []
    for listed in listing.keys:
        fp = fingerprint(listed.api_key) if listed.api_key else ""
        if fp in held:
            matched[fp] = listed
        else:
            listed_only.append(listed)
    return matched, listed_only


def listed_subject(listed: SubAccountApiKey, index: int) -> KeySubject:
    """A key only the master's listing knows: no secret, no signed call, no use okx-shield could record."""
    label = listed.label or f"key-{index}"
    return KeySubject(
        resource=f"subaccount:{listed.sub_acct}/{label}",
        label=listed.label,
        origin="sub-account",
        perm=listed.perm,
        ips=listed.ip,
        account=listed.sub_acct,
        created=CreationTime(listed.ts, "OKX's creation time (ts)") if listed.ts else None,
    )
