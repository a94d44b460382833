"""Deleting a secret's OKX keys that no longer belong: retired keys past their grace period, and orphans.

Which keys those are is retire.py's rules; this applies them to the master's listing of the sub-account:
- a retired key (the record's `pending_deletions`) once its due time has passed;
- an orphan: a key labelled for this secret by a rotation (`rotation_label`) that the record does not track
  and that is not the running rotation's (`keep_token`): an attempt that failed or was abandoned.
The keys the record saw AWSCURRENT hold (or being made current) are never candidates, and every delete asks
Secrets Manager again right before it goes out (`MasterKeys.delete(unless=...)`).

What it reports as deleted is what OKX's listing shows afterwards, read again: not what the deletes answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from okxcore.keys.rotation.model import rotation_label, secret_label_prefix
from okxcore.keys.rotation.okx import HeldKeys, MasterKeys
from okxcore.keys.rotation.ports import RotationLedger
from okxcore.keys.rotation.record import RotationRecord
from okxcore.keys.rotation.retire import remembered
from okxcore.models import SubAccountApiKey, fingerprint


@dataclass
class Swept:
    deleted: list[str] = field(default_factory=list)  # labels OKX no longer lists (would delete, on a dry run)
    held: list[str] = field(default_factory=list)  # kept: Secrets Manager held them when the delete was due
    still_listed: list[str] = field(default_factory=list)  # OKX accepted the delete but still lists them
    secret_gone: bool = False  # the secret is deleted: the keys it held last are left (`left`), retire.py rule 2
    left: list[str] = field(default_factory=list)


def sweep(
    ledger: RotationLedger,
    keys: MasterKeys,
    record: RotationRecord,
    unless: HeldKeys,
    *,
    keep_token: str | None,
    now_ms: int,
    dry_run: bool = False,
) -> Swept:
    """Deletes this secret's due retired keys and orphans (with dry_run: lists them and changes nothing)."""
    name = record.secret
    prefix = secret_label_prefix(name)
    keep_label = rotation_label(name, keep_token) if keep_token else None
    protected = remembered(record)
    pending = {p.fingerprint: p for p in record.pending_deletions}
    out = Swept()
    asked: list[SubAccountApiKey] = []
    live = keys.keys()
    for key in live:
        fp = fingerprint(key.api_key) if key.api_key else ""
        if fp in protected:
            continue
        if fp in pending:
            due = pending[fp].due_ms
            if due is None or due > now_ms:
                continue
        elif not key.label.startswith(prefix) or key.label == keep_label:
            continue
        if dry_run:
            out.deleted.append(key.label or "(unlabelled)")
        elif keys.delete(key, unless=unless):
            asked.append(key)
        else:
            out.held.append(key.label or "(unlabelled)")
    if dry_run:
        return out
    listed = {fingerprint(k.api_key) for k in (keys.keys() if asked else live) if k.api_key}
    for key in asked:
        target = out.still_listed if fingerprint(key.api_key) in listed else out.deleted
        target.append(key.label or "(unlabelled)")
    finished = {fp for fp in pending if fp not in listed}
    if finished:
        ledger.update(name, lambda r: _forget(r, finished))
    return out


def _forget(record: RotationRecord, fingerprints: set[str]) -> None:
    record.pending_deletions = [p for p in record.pending_deletions if p.fingerprint not in fingerprints]
