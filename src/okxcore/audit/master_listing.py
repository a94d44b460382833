"""The master key's listing of its sub-accounts' keys, and matching it with the key secrets held here.

The master lists its sub-accounts (one page of users/subaccount/list), then each sub-account's keys (perm, ip,
creation `ts`); those calls go through a client-side gate below OKX's 20-per-2-s limit for the master. A listed
key is matched with a secret by the fingerprint of its public key id; a listed key no secret holds is audited
from the listing alone. A fan-out shard matches its secrets against the plan's listing instead (given_listing)
and tells the fan-out which listed keys it held (share_listing); only fingerprints cross between the steps.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Mapping, Sequence
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
class SharedListing:
    """The master's listing, shared between the steps of a fanned-out audit (okxcore.audit.fanout) by the
    fingerprint of each listed key's id, never by the id itself.

    `given`: the plan's listing. A run given it matches its secrets against it instead of listing (its request
    names no master). A run fills in: `listed`, its own listing (ids left out); `listed_only`, the resource of
    each key it judged from the listing alone; `matched`, the listed keys that a secret of this run holds (to the
    secret's name).
    """

    given: dict[str, SubAccountApiKey] | None = None
    listed: dict[str, SubAccountApiKey] = field(default_factory=dict)
    listed_only: dict[str, str] = field(default_factory=dict)
    matched: dict[str, str] = field(default_factory=dict)


@dataclass
class Listing:
    keys: list[SubAccountApiKey] = field(default_factory=list)
    subaccounts: list[SubAccount] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    client: OkxClient | None = None  # the master's client, once it proved to be a main account's key
    # A fan-out shard's listing is the plan's (given_listing): its keys' ids were left out, their fingerprints
    # are here, in the order of `keys`.
    given_fingerprints: list[str] | None = None

    @property
    def given(self) -> bool:
        return self.given_fingerprints is not None

    def fingerprints(self) -> list[str]:
        """Each listed key's fingerprint, in the order of `keys`."""
        if self.given_fingerprints is not None:
            return list(self.given_fingerprints)
        return [fingerprint(key.api_key) if key.api_key else "" for key in self.keys]


def given_listing(shared: SharedListing) -> Listing | None:
    """The plan's listing, for a fan-out shard to match its secrets against; None when the run has no master."""
    if shared.given is None:
        return None
    return Listing(keys=list(shared.given.values()), given_fingerprints=list(shared.given))


def share_listing(
    shared: SharedListing,
    listing: Listing,
    matched: Mapping[str, str],
    listed_only: Sequence[SubAccountApiKey],
    listed_subjects: Sequence[KeySubject],
) -> None:
    """Tell the fan-out what this run's listing was and which of its keys a secret here held (`matched`:
    fingerprint -> secret name); ids never leave: only their fingerprints."""
    shared.matched = dict(matched)
    if listing.given:
        return
    keyed = zip(listing.fingerprints(), listing.keys, strict=True)
    shared.listed = {fp: key.model_copy(update={"api_key": ""}) for fp, key in keyed if fp}
    shared.listed_only = {
        fingerprint(key.api_key): subject.resource
        for key, subject in zip(listed_only, listed_subjects, strict=True)
        if key.api_key
    }


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
    _list_keys_of_each(listing, client, sources, pool, tracker)
    listing.findings.append(
        master_finding(name, listed_subaccounts=len(listing.subaccounts), listed_keys=len(listing.keys))
    )
    return listing


def _list_keys_of_each(
    listing: Listing, client: OkxClient, sources: AuditSources, pool: ThreadPoolExecutor, tracker: Tracker
) -> None:
    """Every listed sub-account's keys, on the pool but under one gate: OKX limits the master, not each call."""
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


def match_listing(
    fingerprints: Iterable[str], listing: Listing
) -> tuple[dict[str, SubAccountApiKey], list[SubAccountApiKey]]:
    """The listed keys a secret holds (by the secret key's fingerprint), and the listed keys no secret holds."""
    held = {fp for fp in fingerprints if fp}
    matched: dict[str, SubAccountApiKey] = {}
    listed_only: list[SubAccountApiKey] = []
    for fp, listed in zip(listing.fingerprints(), listing.keys, strict=True):
        if fp in held:
            matched[fp] = listed
        elif not listing.given:  # a shard leaves the keys only listed to the plan, which judged them
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
