"""Rotating one sub-account key held in a Secrets Manager secret: which step does what, and the cleanup.

Secrets Manager calls the function four times per rotation, as in AWS's rotation template
(SecretsManagerRotationTemplate/lambda_function.py): each call first checks the template's preconditions
(`check_token`), then runs its step (`STEPS`, in steps.py).

The invariants, and where they are kept:
- The secret always has a working AWSCURRENT: AWSCURRENT moves only in finishSecret, only to a version whose
  key passed testSecret (recorded in the state table), and the old key is deleted only after a grace period.
- No orphaned OKX key: every key a rotation creates carries `rotation_label(secret, token)`. A retry of
  createSecret finds its earlier attempt's key by that label and deletes it before creating again (OKX
  shows a key's secret only once, so a key whose secret was never stored cannot be reused). Keys of this
  secret's earlier, abandoned rotations are deleted at the next createSecret and by the cleanup; a failed
  testSecret deletes its key at once. The key AWSCURRENT (or a running rotation's AWSPENDING) holds is never
  deleted, whatever the records say.
- Every step is idempotent: each first looks whether its work is already done.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from okxcore.keys.rotation.model import (
    CURRENT,
    PENDING,
    MasterKeyRotationRefused,
    RotationError,
    Step,
    describe_error,
    perm_text,
)
from okxcore.keys.rotation.okx import MasterKeys
from okxcore.keys.rotation.ports import RotationPorts, SecretVersions, StepResult
from okxcore.keys.rotation.record import RotationRecord, RotationStatus
from okxcore.keys.rotation.steps import create_secret, finish_secret, prepare, read_current, set_secret, test_secret
from okxcore.keys.rotation.sweep import sweep
from okxcore.models import fingerprint

STEPS: dict[Step, Callable[[RotationPorts, SecretVersions, str], StepResult]] = {
    Step.CREATE: create_secret,  # a new OKX key for this token, stored as AWSPENDING
    Step.SET: set_secret,  # nothing at OKX; the stored version must be a valid key secret
    Step.TEST: test_secret,  # the new key signs a call through Shield, bound and permitted as planned
    Step.FINISH: finish_secret,  # AWSCURRENT moves to the tested key; the old key is due for deletion later
}


@dataclass
class Rotator(RotationPorts):
    def run_step(self, secret_id: str, token: str, step: Step) -> StepResult:
        info = self.versions.describe(secret_id)
        name = info.name or secret_id
        # A precondition failure is not recorded: it means this token's rotation already ended (or never began),
        # and the record keeps the cause that ended it.
        early = check_token(info, token, step)
        if early is not None:
            return early
        try:
            return STEPS[step](self, info, token)
        except Exception as exc:
            self._record_failure(name, token, step, exc)
            raise

    def plan(self, secret_id: str) -> StepResult:
        """What a rotation would do now, changing nothing (`okx-shield keys rotate --dry-run`)."""
        info = self.versions.describe(secret_id)
        prep = prepare(self, info, Step.CREATE, dry_run=True)
        text = (
            f"would create a key in sub-account {prep.keys.sub_acct} with perm {perm_text(prep.perm)} bound to "
            f"{', '.join(prep.ips)} (old key {prep.old.label or '(unlabelled)'}: perm {perm_text(prep.old.perm)}, "
            f"IPs {', '.join(prep.old.ip) or '(none)'}); the old key would stay valid "
            f"{self.settings.grace_period_s} s after finishSecret, then be deleted"
        )
        if prep.deleted:
            text += f"; would delete now: {', '.join(prep.deleted)}"
        return StepResult(
            info.name,
            "plan",
            text,
            details={
                "sub_acct": prep.keys.sub_acct,
                "old_label": prep.old.label,
                "old_perm": sorted(prep.old.perm),
                "old_ips": list(prep.old.ip),
                "new_perm": sorted(prep.perm),
                "new_ips": prep.ips,
                "keys_in_sub_account": prep.live_keys,
                "would_delete": prep.deleted,
                "rotation_enabled": info.rotation_enabled,
            },
        )

    def cleanup(self, secret_name: str, *, dry_run: bool = False) -> list[str]:
        """Delete this secret's old keys whose grace period ended, and keys of abandoned rotations."""
        record = self.ledger.load(secret_name)
        due = any(p.due_ms <= self.now_ms() for p in record.pending_deletions)
        # Only a failed or unfinished rotation can have left an orphan: a fleet of finished ones costs no OKX call.
        if not record.sub_acct or (record.status == "succeeded" and not due):
            return []
        info = self.versions.describe(secret_name)
        _raw, current = read_current(self, info, Step.CLEANUP)
        pending_version = info.version_with(PENDING)
        running = pending_version if pending_version and pending_version != info.version_with(CURRENT) else None
        keys = MasterKeys(self.clients.master_client(), record.sub_acct, sleep=self.sleep)
        keep = {fingerprint(current.api_key.get_secret_value())}
        return sweep(
            self.ledger, keys, secret_name, keep=keep, keep_token=running, now_ms=self.now_ms(), dry_run=dry_run
        )

    def _record_failure(self, name: str, token: str, step: Step, exc: Exception) -> None:
        status: RotationStatus = "refused" if isinstance(exc, MasterKeyRotationRefused) else "failed"

        def failed(r: RotationRecord) -> None:
            r.status, r.token, r.step, r.failed_step = status, token, step, step
            r.error, r.updated_ms = describe_error(exc)[:500], self.now_ms()

        try:
            self.ledger.update(name, failed)
        except Exception:  # the step's own error is what must reach the report; the record is a nicety
            return


def check_token(info: SecretVersions, token: str, step: Step) -> StepResult | None:
    """Secrets Manager's preconditions (AWS's rotation template): a known token that is AWSPENDING."""
    if not info.rotation_enabled:
        raise RotationError(
            info.name,
            step,
            "rotation is not enabled on this secret",
            hint="Turn rotation on (RotationSchedule in template.yaml, or `aws secretsmanager rotate-secret`).",
        )
    labels = info.stages.get(token)
    if labels is None:
        raise RotationError(info.name, step, "the request token is not a version of this secret")
    if CURRENT in labels:
        return StepResult(info.name, step, "already current: this rotation has finished")
    if PENDING not in labels:
        raise RotationError(
            info.name,
            step,
            "the token's version is no longer AWSPENDING (abandoned or superseded)",
            hint="Start a new rotation; the next run deletes any key this one left at OKX.",
        )
    return None
