"""One secret, one actor at a time: a rotation step and the cleanup of the same secret never run their
destructive parts together.

Both read what AWSCURRENT and AWSPENDING hold, decide what to keep, and then act at OKX or in Secrets Manager.
Run at the same time, one could decide before the other acts: a cleanup that listed the keys before a rotation
finished deleted the rotation's new key (issue 18, item 4). So each takes the secret's lease in the state table
(a conditional write, `DynamoRotationLedger.acquire_lease`) before it reads, and gives it back when it is done.

A held lease is not an error. A rotation step waits for it (a cleanup of one secret takes seconds), and if it is
still held it stops with `RotationBusy`: nothing was read or changed, the rotation's record is left as it was,
and Secrets Manager retries the step. The cleanup does not wait: it leaves that secret to its next run.

The lease expires after LEASE_TTL_S, longer than the rotate function's timeout (template.yaml, 120 s): the
holder's process is gone before its lease can pass to another, and a process that died holding it blocks the
secret only until then.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

from okxcore.keys.rotation.model import RotationError, Step
from okxcore.keys.rotation.ports import RotationPorts

LEASE_TTL_S = 300
STEP_WAIT_S = 60  # well inside the function's 120 s; a cleanup of one secret takes a few seconds
POLL_FIRST_S, POLL_MAX_S = 1.0, 15.0  # asks again after 1, 2, 4, 8, 15, 15, ... s: 7 writes in 60 s, not 60


class RotationBusy(RotationError):
    """Another run holds the secret's lease: nothing was done, and the step is retried."""

    hint = "Nothing to fix: Secrets Manager retries the step, and the cleanup's next run takes the secret."


@contextlib.contextmanager
def exclusive(ports: RotationPorts, secret: str, step: Step | str, *, wait_s: float) -> Iterator[None]:
    """Holds the secret's lease for the block; raises RotationBusy when another run keeps it past `wait_s`."""
    holder = f"{step} {uuid.uuid4().hex[:12]}"
    waited, attempt = 0.0, 0
    while True:
        other = ports.ledger.acquire_lease(secret, holder, now_ms=ports.now_ms(), ttl_ms=LEASE_TTL_S * 1000)
        if other is None:
            break
        if waited >= wait_s:
            raise RotationBusy(
                secret,
                step,
                f"another run ({other}) is working on this secret; nothing was read or changed, and this is retried",
            )
        pause = min(POLL_MAX_S, POLL_FIRST_S * 2**attempt, wait_s - waited)
        ports.sleep(pause)
        waited += pause
        attempt += 1
    try:
        yield
    finally:
        ports.ledger.release_lease(secret, holder)
