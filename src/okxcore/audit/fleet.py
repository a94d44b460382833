"""Running the audit over a fleet of keys, concurrently, within OKX's rate limits and Shield's connections.

One signed call per key (account/config: perm, ip, uid), on a bounded thread pool. Keys of one OKX user
share that endpoint's limit (5 per 2 s) and nothing tells a key's user before the call, so collisions are
expected: OkxClient retries 50011 with jittered backoff, and when a key is still rate limited after the
client's retries this runner tries it again, later, a few more times, counting every such retry. Nothing is
lost to a rate limit without an ERROR finding saying so.

The optional master key lists its sub-accounts' keys (okxcore.audit.master_listing), and the listing is
matched with the keys held here.

Every key's task catches everything: one failing key never stops the others.
"""

from __future__ import annotations

import contextlib
import contextvars
import random
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from okxcore.audit.fleet_rules import (
    account_limit_findings,
    keys_per_account,
    listing_error_finding,
    no_expected_ips_finding,
    no_keys_finding,
)
from okxcore.audit.master_listing import (
    Listing,
    SharedListing,
    given_listing,
    list_subaccount_keys,
    listed_subject,
    match_listing,
    share_listing,
)
from okxcore.audit.models import AuditRequest, CreationTime, FleetStats, KeyOrigin, KeySubject, KeyVerdict
from okxcore.audit.prefetch import PREFETCH_CHUNK, Prefetched, prefetch
from okxcore.audit.reporting import build_report
from okxcore.audit.rotation_rules import rotation_view
from okxcore.audit.rules import evaluate_key
from okxcore.audit.sources import AuditSources
from okxcore.credentials import OkxKeySecret
from okxcore.endpoints import Region
from okxcore.errors import KeyGoneError
from okxcore.key_secrets import SecretMetadata
from okxcore.keys.rotation.record import RotationRecord
from okxcore.models import AccountConfig, SubAccountApiKey, fingerprint
from okxcore.pacing import Tracker, with_fleet_retry
from okxcore.regions import locate_key
from okxcore.report import Finding, Report


@dataclass
class _Observation:
    """What one key secret and one signed call told (kept in memory only; credentials never leave `key`)."""

    name: str
    role: KeyOrigin
    meta: SecretMetadata | None
    key: OkxKeySecret | None = None
    fingerprint: str = ""
    secret_error: Exception | None = None
    last_use_ms: int | None = None
    config: AccountConfig | None = None
    call_error: Exception | None = None
    rotation: RotationRecord | None = None
    # Set when no master listing can match this key: the subject is final, and the credentials and answer are
    # dropped at once (at 10,000 keys they would be ~30 MB of a 256 MB function held to the end of the run).
    subject: KeySubject | None = None

    def settled(self) -> _Observation:
        self.subject = _secret_subject(self, None)
        self.key, self.config, self.meta = None, None, None
        return self


def _observe(
    name: str,
    role: KeyOrigin,
    meta: SecretMetadata | None,
    sources: AuditSources,
    tracker: Tracker,
    pre: Prefetched | None = None,
) -> _Observation:
    observation = _Observation(name=name, role=role, meta=meta)
    try:
        if pre is not None and pre.error is not None:
            raise pre.error
        key = pre.key if pre is not None and pre.key is not None else sources.load_key(name)
    except Exception as exc:  # a malformed or unreadable secret is this key's finding, not the fleet's end
        observation.secret_error = exc
        return observation
    observation.key = key
    observation.fingerprint = fingerprint(key.api_key.get_secret_value())
    with contextlib.suppress(Exception):  # the rotation record refines the age finding; the key is audited anyway
        known_rotation = pre is not None and pre.rotation_known
        observation.rotation = pre.rotation if pre is not None and known_rotation else sources.rotation_record(name)
    try:
        # Read BEFORE the audit's own signed call: that call is use for OKX, not for the bot.
        known = pre is not None and pre.last_use_known
        observation.last_use_ms = pre.last_use_ms if pre is not None and known else sources.last_key_use_ms(name)
        client = sources.client_for(key, name)
        observation.config = with_fleet_retry(client.account_config, sources, tracker)
    except KeyGoneError as gone:  # 50119 may be the wrong region: the key is tried at the other regions' hosts
        observation.call_error = (
            locate_key(gone, key.region, lambda region: _config_at(sources, key, name, region))
            if sources.other_regions_reachable()
            else gone
        )
    except Exception as exc:
        observation.call_error = exc
    return observation


def _config_at(sources: AuditSources, key: OkxKeySecret, name: str, region: Region) -> AccountConfig:
    return sources.client_for(key.model_copy(update={"region": region}), name).account_config()


def _ms(value: object) -> int | None:
    timestamp = getattr(value, "timestamp", None)
    return int(timestamp() * 1000) if callable(timestamp) else None


def _secret_subject(observation: _Observation, listed: SubAccountApiKey | None) -> KeySubject:
    key, config, meta = observation.key, observation.config, observation.meta
    created: CreationTime | None = None
    if key is not None and key.created_at is not None:
        created = CreationTime(int(key.created_at.timestamp() * 1000), "the secret's created_at")
    elif listed is not None and listed.ts:
        # OKX's own record beats the secret's CreatedDate: a key may predate its secret, and a rotation into an
        # existing secret keeps the old CreatedDate.
        created = CreationTime(listed.ts, "OKX's creation time from the master's listing")
    elif meta is not None and (at := _ms(meta.created)) is not None:
        created = CreationTime(at, "the secret's CreatedDate")
    return KeySubject(
        resource=observation.name,
        label=(key.label if key else "") or (config.label if config else ""),
        origin=observation.role,
        demo=key.demo if key else False,
        purpose=key.purpose if key else None,
        allowed_permissions=frozenset(key.allowed_permissions) if key else frozenset(),
        perm=config.perm if config else None,
        ips=config.ip if config else None,
        uid=config.uid if config else "",
        account=(listed.sub_acct if listed else "") or (config.uid if config else ""),
        created=created,
        use_tracked=True,
        product_last_use_ms=observation.last_use_ms,
        secret_last_accessed_ms=_ms(meta.last_accessed) if meta else None,
        secret_error=observation.secret_error,
        call_error=observation.call_error,
        rotation=rotation_view(meta, observation.rotation),
    )


def _submit_in_chunks(
    pool: ThreadPoolExecutor,
    selected: list[tuple[str, SecretMetadata | None]],
    submit_order: list[int],
    master_secret: str,
    sources: AuditSources,
    tracker: Tracker,
    given: dict[str, SubAccountApiKey] | None = None,
) -> dict[int, Future[_Observation]]:
    """One task per key, submitted a prefetched chunk at a time, never more than two chunks ahead. `given`: the
    fan-out plan's listing by fingerprint, which a key may match."""
    futures: dict[int, Future[_Observation]] = {}
    pending: deque[Future[_Observation]] = deque()
    for start in range(0, len(submit_order), PREFETCH_CHUNK):
        chunk = submit_order[start : start + PREFETCH_CHUNK]
        # The master's secret is read on its own: its listing needs it whatever happens to the batch.
        batch = [selected[i][0] for i in chunk if selected[i][0] != master_secret]
        pre = prefetch(batch, sources.batch)
        for index in chunk:
            name, meta = selected[index]
            role: KeyOrigin = "master" if name == master_secret else "secret"
            got = pre.get(name)

            def task(
                name: str = name,
                meta: SecretMetadata | None = meta,
                role: KeyOrigin = role,
                got: Prefetched | None = got,
            ) -> _Observation:
                observation = _observe(name, role, meta, sources, tracker, got)
                # Unless a listing may match this key (this run's master's, or the fan-out plan's), its subject is
                # final now.
                matchable = master_secret or (given is not None and observation.fingerprint in given)
                return observation if matchable else observation.settled()

            # The run's context: its Shield request tally counts this key's calls.
            futures[index] = pool.submit(contextvars.copy_context().run, tracker.run, task)
            pending.append(futures[index])
        while len(pending) > 2 * PREFETCH_CHUNK:
            pending.popleft().result()
    return futures


def _select(request: AuditRequest, sources: AuditSources) -> tuple[dict[str, SecretMetadata | None], list[Finding]]:
    """The secrets to audit (the master's included) and what is wrong with the selection itself."""
    fleet_findings: list[Finding] = []
    metas: dict[str, SecretMetadata | None] = {}
    selection = ", ".join(
        part
        for part in (
            f"tag {request.key_secret_tag}" if request.key_secret_tag else "",
            f"prefix {request.key_secret_prefix}" if request.key_secret_prefix else "",
        )
        if part
    )
    if selection:
        try:
            for found in sources.list_secrets(request.tag, request.key_secret_prefix):
                metas[found.name] = found
        except Exception as exc:
            fleet_findings.append(listing_error_finding(exc))
    if request.master_secret and request.master_secret not in metas:
        try:
            metas[request.master_secret] = sources.describe_secret(request.master_secret)
        except Exception:  # the key's own load reports an unreadable secret; its dates are a nicety
            metas[request.master_secret] = None
    if selection and not fleet_findings and not [n for n in metas if n != request.master_secret]:
        fleet_findings.append(no_keys_finding(selection))
    if not sources.expected_ips:
        fleet_findings.append(no_expected_ips_finding())
    return metas, fleet_findings


def _observe_all(
    request: AuditRequest,
    sources: AuditSources,
    selected: list[tuple[str, SecretMetadata | None]],
    tracker: Tracker,
    shared: SharedListing | None,
) -> tuple[list[_Observation], _Observation | None, Listing]:
    """Every key's observation in selection order, the master's, and the master's listing (a fan-out shard's is
    the plan's), on one pool."""
    # One user's keys tend to sit together in the name-sorted listing (a desk's bots share a prefix), and
    # together they would queue behind that user's 5-per-2-s limit while holding every worker. Spread them.
    submit_order = list(range(len(selected)))
    random.Random(len(selected)).shuffle(submit_order)
    with ThreadPoolExecutor(max_workers=request.max_workers, thread_name_prefix="okx-audit") as pool:
        given = shared.given if shared is not None else None
        futures = _submit_in_chunks(pool, selected, submit_order, request.master_secret, sources, tracker, given)
        observations = [futures[index].result() for index in range(len(selected))]
        listing = Listing()
        master = next((o for o in observations if o.role == "master"), None)
        if master is not None:
            listing = list_subaccount_keys(master.name, master.key, master.config, sources, pool, tracker)
        elif shared is not None:  # a fan-out shard: the plan listed
            listing = given_listing(shared) or listing
    return observations, master, listing


@dataclass
class _Repaired:
    verdicts: list[KeyVerdict]
    findings: list[Finding]
    summary: str
    table: list[list[str]]


def _repair(
    request: AuditRequest,
    sources: AuditSources,
    verdicts: list[KeyVerdict],
    listed_by: dict[str, SubAccountApiKey],
    listing: Listing,
    master: _Observation | None,
    now_ms: int,
) -> _Repaired:
    # Imported only when on, for the cold start alone (no cycle: it imports models and rules): about 7 ms.
    from okxcore.audit.repair import repair_in_audit

    done = repair_in_audit(
        verdicts,
        listed_by,
        listing.client,
        mode=request.repair_mode,
        shield_ips=sources.expected_ips,
        recorder=sources.repair_recorder,
        thresholds=request.thresholds,
        now_ms=now_ms,
        master_uid=master.config.uid if master is not None and master.config is not None else "",
    )
    return _Repaired(done.verdicts, done.result.findings(), done.result.summary(), done.result.table())


def _account_limits(subjects: list[KeySubject], listing: Listing, request: AuditRequest) -> list[Finding]:
    budget = keys_per_account((k.sub_acct for k in listing.keys), ((s.origin, s.uid, s.account) for s in subjects))
    return account_limit_findings(budget, request.thresholds)


def run_audit(request: AuditRequest, sources: AuditSources, shared_listing: SharedListing | None = None) -> Report:
    """Audit every selected key (and the master's sub-account keys) and return the one report of the run.

    `shared_listing`: a fanned-out audit's steps share the master's listing through it (okxcore.audit.fanout).
    """
    started = time.monotonic()
    now_ms = sources.now_ms()
    tracker = Tracker()
    metas, fleet_findings = _select(request, sources)
    observations, master, listing = _observe_all(request, sources, list(metas.items()), tracker, shared_listing)

    matched, listed_only = match_listing((o.fingerprint for o in observations), listing)
    subjects = [o.subject or _secret_subject(o, matched.get(o.fingerprint)) for o in observations]
    subjects += [listed_subject(listed, index) for index, listed in enumerate(listed_only, start=1)]
    if shared_listing is not None:
        held = {o.fingerprint: o.name for o in observations if o.fingerprint in matched}
        share_listing(shared_listing, listing, held, listed_only, subjects[len(observations) :])
    verdicts: list[KeyVerdict] = [
        evaluate_key(s, thresholds=request.thresholds, expected_ips=sources.expected_ips, now_ms=now_ms)
        for s in subjects
    ]
    repaired: _Repaired | None = None
    if request.repair_mode != "off":
        listed_by = {o.name: matched[o.fingerprint] for o in observations if o.fingerprint in matched}
        listed_by.update({s.resource: k for s, k in zip(subjects[len(observations) :], listed_only, strict=True)})
        repaired = _repair(request, sources, verdicts, listed_by, listing, master, now_ms)
        verdicts = repaired.verdicts
        fleet_findings += repaired.findings
    fleet_findings += listing.findings
    fleet_findings += _account_limits(subjects, listing, request)

    stats = FleetStats(
        workers=request.max_workers,
        max_in_flight=tracker.max_in_flight,
        rate_limited_retried=tracker.retried,
        rate_limited_unretried=tracker.unretried,
        elapsed_s=round(time.monotonic() - started, 3),
    )
    report = build_report(
        request,
        verdicts,
        fleet_findings,
        stats,
        listed_subaccounts=len(listing.subaccounts),
        listed_keys=len(listed_only),
    )
    if repaired is not None:
        report.summary.append(repaired.summary)
        report.tables[f"IP-binding repair ({request.repair_mode})"] = repaired.table
    return report
