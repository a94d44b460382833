"""The rotation's record of one key secret: what a later step, a retry, the next rotation, the scheduled cleanup
and the audit need to know: the rotation in progress (token, sub-account, the label of the key it created), whether
the new key passed testSecret, how the last attempt ended (the failed step, for the audit's HIGH finding), and the
old OKX keys waiting for their grace period to end. Keys are recorded by a SHA-256 fingerprint of their API key and
their label, never by the key itself, and never with a secret or passphrase. Kept by okxcore.aws.rotation_state.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RotationStatus = Literal["none", "in_progress", "succeeded", "failed", "refused"]


class PendingDeletion(BaseModel):
    """An OKX key of this secret that AWSCURRENT no longer holds (or may no longer hold), to be deleted once its
    grace period is over.

    The grace period counts from when a run READ AWSCURRENT holding another key (`released_ms`), never from when
    a step meant to move it: a move that failed, or whose answer was lost, starts no clock. `due_ms` is None
    until then, and a key without a due time is never deleted (okxcore.keys.rotation.retire).
    """

    model_config = ConfigDict(frozen=True)

    fingerprint: str
    sub_acct: str
    label: str = ""
    due_ms: int | None = None
    released_ms: int | None = None
    retired_by: str = ""  # the token of the rotation that made another key current


class RotationRecord(BaseModel):
    secret: str
    status: RotationStatus = "none"
    token: str = ""
    step: str = ""  # the last step that ran (completed, or failed when status is "failed")
    failed_step: str = ""
    error: str = ""
    sub_acct: str = ""
    sub_uid: str = ""
    old_fingerprint: str = ""
    old_label: str = ""
    new_label: str = ""
    new_perm: list[str] = Field(default_factory=list)
    tested_token: str = ""
    updated_ms: int = 0
    last_rotated_ms: int | None = None
    # Requests the rotation of `token` sent through Shield so far, summed over its steps (each step is its own
    # invocation; the report at finishSecret states them all).
    shield_requests: int = 0
    pending_deletions: list[PendingDeletion] = Field(default_factory=list)
    # What AWSCURRENT held when a step or the cleanup last read it: when a later read finds another key there,
    # this one is retired as of that read, whoever moved the stage (a rotation, a retry, a roll back by hand).
    current_fingerprint: str = ""
    current_label: str = ""
    # finishSecret's new key from before it moves AWSCURRENT until a read shows where AWSCURRENT is: it may have
    # become current, so it is never treated as a key that never was (an orphan, deleted at once).
    promoting_fingerprint: str = ""
    promoting_label: str = ""
    secret_gone_ms: int | None = None  # when a run found the secret deleted (or scheduled for deletion)

    def cleanup_after_ms(self) -> int | None:
        """When the cleanup first has work on this record; None: it has none (the record leaves the index).

        Mirrors Rotator.cleanup: only a key under a sub-account can be deleted; an unfinished or failed rotation
        may have left an orphan at any moment; a stage move not yet read back, or a retired key not yet seen out
        of AWSCURRENT, needs a read now; a retired key otherwise waits for its grace period.
        """
        if not self.sub_acct:
            return None
        if self.secret_gone_ms is None and (self.status != "succeeded" or self.promoting_fingerprint):
            return 0
        due = [p.due_ms for p in self.pending_deletions]
        if any(d is None for d in due):
            return 0
        return min((d for d in due if d is not None), default=None)
