"""Deleting a secret's OKX keys that no longer belong: old keys past their grace period, and orphans.

An orphan is a key labelled for this secret by a rotation (`rotation_label`) that is neither the key
AWSCURRENT holds nor the key of the rotation running now: an attempt that failed or was abandoned.
The keys in `keep` (AWSCURRENT's) are never deleted, whatever the records say.
"""

from __future__ import annotations

from okxcore.keys.rotation.model import rotation_label, secret_label_prefix
from okxcore.keys.rotation.okx import MasterKeys
from okxcore.keys.rotation.ports import RotationLedger
from okxcore.keys.rotation.record import RotationRecord
from okxcore.models import fingerprint


def sweep(
    ledger: RotationLedger,
    keys: MasterKeys,
    name: str,
    *,
    keep: set[str],
    keep_token: str | None,
    now_ms: int,
    dry_run: bool = False,
) -> list[str]:
    """Deletes due old keys and orphans of this secret; returns their labels. `keep` is never deleted.

    With dry_run, returns what it would delete and changes nothing."""
    record = ledger.load(name)
    now = now_ms
    prefix = secret_label_prefix(name)
    keep_label = rotation_label(name, keep_token) if keep_token else None
    pending = {p.fingerprint: p for p in record.pending_deletions}
    deleted: list[str] = []
    live = keys.keys()
    for key in live:
        fp = fingerprint(key.api_key) if key.api_key else ""
        if fp in keep:
            continue
        if fp in pending:
            if pending[fp].due_ms <= now:
                if not dry_run:
                    keys.delete(key)
                deleted.append(key.label or "(unlabelled)")
            continue
        if key.label.startswith(prefix) and key.label != keep_label:
            if not dry_run:
                keys.delete(key)  # created by an attempt that never became current
            deleted.append(key.label)
    live_fps = {fingerprint(k.api_key) for k in live if k.api_key}
    finished = {fp for fp, p in pending.items() if fp not in keep and (fp not in live_fps or p.due_ms <= now)}
    if finished and not dry_run:
        ledger.update(name, lambda r: _forget(r, finished))
    return deleted


def _forget(record: RotationRecord, fingerprints: set[str]) -> None:
    record.pending_deletions = [p for p in record.pending_deletions if p.fingerprint not in fingerprints]
