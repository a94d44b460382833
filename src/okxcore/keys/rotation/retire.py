"""When a key stops being the secret's, and when it may be deleted at OKX: the rules, in one place.

1. A key's deletion is due only grace-period seconds after the moment AWSCURRENT was READ holding another key
   (`observe`). What a step meant to do starts no clock: a stage move that failed, or whose answer was lost,
   leaves the old key without a due time until a read shows where AWSCURRENT is. So a finishSecret retried an
   hour after its first attempt gives the old key the whole grace period from the retry's move (issue 18,
   item 3), and a key that AWSCURRENT holds again (a roll back) is no longer pending deletion at all.
2. Immediately before every OKX delete, Secrets Manager is read again, and the key is deleted only when neither
   AWSCURRENT nor AWSPENDING holds it (`SecretHolders.held`, called by `MasterKeys.delete` after its wait for
   OKX's write budget, before each attempt). Nothing decided earlier in the run stands in for that read. While
   the secret is deleted (or scheduled for deletion) no value can be read: the keys it held last (the record's
   `current_fingerprint` and `promoting_fingerprint`) are then never deleted, since a restore brings them back
   and a bot may use them; they are the user's to delete.
3. Retired keys are deleted from what the state table holds (sub-account, fingerprint, label) through the master
   key, without needing the secret: a deleted secret's retired keys are still deleted after their grace period
   (issue 18, item 5).
4. A key labelled for this secret by a rotation that is not tracked by the record (never current, never being
   made current) and not the running rotation's is an orphan: deleted at once, under rule 2.

Rotation steps and the cleanup apply these under the secret's lease (lease.py), so that no other run moves a
stage between rule 2's read and the delete. A stage moved by hand (outside a rotation) is seen by the next step
or cleanup: a key made current by hand and moved away again before okx-shield read the secret once is timed
from when okx-shield last saw it go.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from okxcore.keys.rotation.model import CURRENT, PENDING, RotationError, Step
from okxcore.keys.rotation.ports import SecretGoneError, SecretVersions, SecretVersionStore
from okxcore.keys.rotation.record import PendingDeletion, RotationRecord
from okxcore.models import fingerprint


@dataclass(frozen=True)
class Holders:
    """Which keys AWSCURRENT and AWSPENDING hold, by fingerprint, as just read from Secrets Manager."""

    current: str | None = None
    current_version: str | None = None
    pending: str | None = None  # the key stored in AWSPENDING's version (None: no value stored yet)
    pending_version: str | None = None  # the running rotation's token (AWSPENDING, when not also AWSCURRENT)
    gone: bool = False  # deleted, or scheduled for deletion: no value can be read

    def fingerprints(self) -> frozenset[str]:
        return frozenset(fp for fp in (self.current, self.pending) if fp)


def read_holders(versions: SecretVersionStore, secret_id: str, step: Step | str) -> Holders:
    """Secrets Manager, read now: the version ids with AWSCURRENT and AWSPENDING, and whose key each holds."""
    try:
        info = versions.describe(secret_id)
    except SecretGoneError:
        return Holders(gone=True)
    return holders_of(versions, info, step)


def holders_of(versions: SecretVersionStore, info: SecretVersions, step: Step | str) -> Holders:
    if info.deleted:
        return Holders(gone=True)
    current_version = info.version_with(CURRENT)
    pending_version = info.version_with(PENDING)
    current = _key_of(versions, info, CURRENT, current_version, step) if current_version else None
    running = pending_version if pending_version and pending_version != current_version else None
    pending = _key_of(versions, info, PENDING, running, step) if running else None
    return Holders(current, current_version, pending, running)


def _key_of(
    versions: SecretVersionStore, info: SecretVersions, stage: str, version: str, step: Step | str
) -> str | None:
    text = versions.value(info.arn or info.name, stage=stage, version_id=version)
    if text is None:
        return None
    try:
        api_key = json.loads(text)["api_key"]
        if not isinstance(api_key, str) or not api_key:
            raise ValueError
    except (ValueError, KeyError, TypeError):
        # Which key the stage holds is unknown: nothing of this secret may be deleted (the error names no value).
        raise RotationError(
            info.name,
            step,
            f"the {stage} version has no readable api_key, so no key of this secret can be proven unused",
            hint="Fix the secret's value (the JSON format in docs/secrets.md), then the next run continues.",
        ) from None
    return fingerprint(api_key)


def observe(record: RotationRecord, holders: Holders, *, now_ms: int, grace_period_s: int) -> None:
    """Brings the record up to date with what Secrets Manager was just read to hold (rule 1)."""
    due = now_ms + grace_period_s * 1000

    def release(fp: str, label: str, retired_by: str = "") -> None:
        found = next((p for p in record.pending_deletions if p.fingerprint == fp), None)
        if found is None:
            record.pending_deletions.append(
                PendingDeletion(
                    fingerprint=fp,
                    sub_acct=record.sub_acct,
                    label=label,
                    due_ms=due,
                    released_ms=now_ms,
                    retired_by=retired_by,
                )
            )
        elif found.due_ms is None:
            index = record.pending_deletions.index(found)
            record.pending_deletions[index] = found.model_copy(update={"due_ms": due, "released_ms": now_ms})

    if holders.gone:
        # Nothing can hold a retired key any more. The keys the secret held last stay protected (rule 2).
        record.secret_gone_ms = record.secret_gone_ms or now_ms
        for p in list(record.pending_deletions):
            if p.due_ms is None and p.fingerprint not in {record.current_fingerprint, record.promoting_fingerprint}:
                release(p.fingerprint, p.label)
        return
    record.secret_gone_ms = None
    current = holders.current
    labels = {p.fingerprint: p.label for p in record.pending_deletions}
    labels[record.promoting_fingerprint] = record.promoting_label
    labels[record.current_fingerprint] = record.current_label
    if record.current_fingerprint and record.current_fingerprint != current:
        release(record.current_fingerprint, record.current_label, retired_by=record.token)
    if record.promoting_fingerprint and record.promoting_fingerprint != current:
        # The move to it may have happened and been undone before this read: never an orphan, so it waits too.
        release(record.promoting_fingerprint, record.promoting_label)
    record.promoting_fingerprint = record.promoting_label = ""
    for p in list(record.pending_deletions):
        if p.due_ms is None and p.fingerprint != current:
            release(p.fingerprint, p.label)
    if current is not None:
        record.pending_deletions = [p for p in record.pending_deletions if p.fingerprint != current]
        record.current_label = labels.get(current, "")
        record.current_fingerprint = current
    if record.token and record.status in {"in_progress", "failed"} and holders.current_version == record.token:
        # The rotation's stage move took effect, whatever the step's answer said: the record says so.
        record.status, record.failed_step, record.error = "succeeded", "", ""
        record.last_rotated_ms = record.last_rotated_ms or now_ms


@dataclass
class SecretHolders:
    """Rule 2: what must not be deleted, read from Secrets Manager at the moment of asking."""

    versions: SecretVersionStore
    secret_id: str
    step: Step | str
    remembered: frozenset[str] = frozenset()  # the keys the secret held last, protected while it is deleted

    def held(self) -> frozenset[str]:
        holders = read_holders(self.versions, self.secret_id, self.step)
        return self.remembered if holders.gone else holders.fingerprints()


def remembered(record: RotationRecord) -> frozenset[str]:
    return frozenset(fp for fp in (record.current_fingerprint, record.promoting_fingerprint) if fp)
