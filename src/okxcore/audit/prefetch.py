"""Reading a fleet's secrets and last uses in batches, a chunk ahead of the signed calls.

At 10,000 keys, one GetSecretValue and one DynamoDB GetItem per key cost as much time as the OKX call itself
and 20,000 AWS API calls per run. Batched (20 secrets per BatchGetSecretValue, 100 items per BatchGetItem)
they are 600 calls. The runner loads one chunk while the workers audit the previous one, and holds at most
two chunks of credentials ahead of them, so memory stays flat however large the fleet.

The last use is still read before the audit's own signed call for the key: that call is use for OKX, not
for the bot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from okxcore.credentials import OkxKeySecret
from okxcore.keys.rotation.record import RotationRecord

if TYPE_CHECKING:
    from okxcore.audit.sources import BatchReads

PREFETCH_CHUNK = 100


@dataclass(frozen=True)
class Prefetched:
    key: OkxKeySecret | None = None
    error: Exception | None = None
    last_use_known: bool = False  # False: read it per key (the batch read failed)
    last_use_ms: int | None = None
    rotation_known: bool = False  # likewise for the rotation function's record of the secret
    rotation: RotationRecord | None = None


def prefetch(names: list[str], batch: BatchReads | None) -> dict[str, Prefetched]:
    """What the batch readers know about `names`; a name left out is read per key, as before."""
    if batch is None or not names:
        return {}
    keys = batch.load_keys(names)
    uses: Mapping[str, int | None] | None = None
    try:
        uses = batch.last_key_uses_ms(names)
    except Exception:  # the per-key read reports a state-table problem on the key it concerns
        uses = None
    records: Mapping[str, RotationRecord] | None = None
    try:
        records = batch.rotation_records(names)
    except Exception:  # read per key instead, where a failure only refines that key's age finding
        records = None
    out: dict[str, Prefetched] = {}
    for name in names:
        loaded = keys.get(name)
        if loaded is None:
            continue
        key = loaded if isinstance(loaded, OkxKeySecret) else None
        error = None if key is not None else loaded if isinstance(loaded, Exception) else None
        out[name] = Prefetched(
            key=key,
            error=error,
            last_use_known=uses is not None,
            last_use_ms=uses.get(name) if uses is not None else None,
            rotation_known=records is not None,
            rotation=records.get(name) if records is not None else None,
        )
    return out
