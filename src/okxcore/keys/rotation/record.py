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
    """An old OKX key, retired by a rotation, to be deleted once `due_ms` has passed."""

    model_config = ConfigDict(frozen=True)

    fingerprint: str
    sub_acct: str
    label: str = ""
    due_ms: int
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

    def cleanup_after_ms(self) -> int | None:
        """When the cleanup first has work on this record; None: it has none (the record leaves the index).

        Mirrors Rotator.cleanup: only a key under a sub-account can be deleted, an unfinished or failed
        rotation may have left an orphan at any moment, and a retired key waits for its grace period.
        """
        if not self.sub_acct:
            return None
        if self.status != "succeeded":
            return 0
        if self.pending_deletions:
            return min(p.due_ms for p in self.pending_deletions)
        return None
