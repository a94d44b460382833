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
  testSecret deletes its key at once.
- No key is deleted while AWSCURRENT or AWSPENDING holds it, nor before the grace period after AWSCURRENT
  was read holding another key; retired keys are deleted even once the secret is gone (retire.py's rules).
- One actor per secret: every step and the cleanup run under the secret's lease (lease.py), so a cleanup
  never decides what to keep while a rotation moves AWSCURRENT. A held lease is `RotationBusy`, retried.
- The record says what is true: every step and the cleanup first bring it up to what Secrets Manager holds,
  so a rotation whose stage move worked is "succeeded" however its answers went.
- Every step is idempotent: each first looks whether its work is already done.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from okxcore.keys.rotation.lease import STEP_WAIT_S, exclusive
from okxcore.keys.rotation.model import (
    CURRENT,
    PENDING,
    MasterKeyRotationRefused,
    RotationError,
    Step,
    describe_error,
    perm_text,
    rotation_label,
)
from okxcore.keys.rotation.okx import MasterKeys, by_fingerprint, by_label
from okxcore.keys.rotation.ports import RotationPorts, SecretVersions, StepResult
from okxcore.keys.rotation.record import RotationRecord, RotationStatus
from okxcore.keys.rotation.retire import Holders, SecretHolders, observe, read_holders, remembered
from okxcore.keys.rotation.steps import (
    create_secret,
    finish_secret,
    prepare,
    set_secret,
    settle_finished,
    test_secret,
)
from okxcore.keys.rotation.sweep import Swept, sweep
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
        name = self.versions.describe(secret_id).name or secret_id
        with exclusive(self, name, step, wait_s=STEP_WAIT_S):
            info = self.versions.describe(secret_id)  # again: what another run changed while this one waited
            # A precondition failure is not recorded: this token's rotation already ended (or never began), and the
            # record keeps the cause that ended it. An ended one is only brought up to what Secrets Manager holds.
            early = check_token(info, token, step)
            if early is not None:
                settle_finished(self, info, step)
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

    def cleanup(self, secret_name: str, *, dry_run: bool = False) -> Swept:
        """Delete this secret's retired keys whose grace period ended, and keys of abandoned rotations; from the
        record alone when the secret is gone. Raises RotationBusy when a step of this secret runs now."""
        record = self.ledger.load(secret_name)
        after = record.cleanup_after_ms()
        # Only a record with work costs an OKX call: a fleet of finished rotations costs none.
        if after is None or after > self.now_ms():
            return Swept()
        with exclusive(self, secret_name, Step.CLEANUP, wait_s=0):
            holders = read_holders(self.versions, secret_name, Step.CLEANUP)
            record = self._observed(secret_name, holders, write=not dry_run)
            if not record.sub_acct:
                return Swept()
            keys = MasterKeys(self.clients.master_client(), record.sub_acct, sleep=self.sleep)
            unless = SecretHolders(self.versions, secret_name, Step.CLEANUP, remembered(record))
            swept = sweep(
                self.ledger,
                keys,
                record,
                unless,
                keep_token=holders.pending_version,
                now_ms=self.now_ms(),
                dry_run=dry_run,
            )
            if holders.gone:
                swept.secret_gone = True
                live = keys.keys() if swept.deleted else []
                swept.left = [k.label or "(unlabelled)" for k in live if fingerprint(k.api_key) in remembered(record)]
            return swept

    def state_after(self, secret_id: str, token: str) -> list[str]:
        """What is true after a failed step, read back now from Secrets Manager and OKX (for the report): never
        what the code path assumed."""
        lines: list[str] = []
        try:
            info = self.versions.describe(secret_id)
            name = info.name or secret_id
            if info.deleted:
                return ["Secrets Manager: the secret is scheduled for deletion (read back)."]
            stages = info.stages.get(token, ())
            if CURRENT in stages:
                lines.append("Secrets Manager (read back): AWSCURRENT holds the new key of this rotation.")
            else:
                pending = (
                    "AWSPENDING is still on this rotation's version, so Secrets Manager's retry continues it"
                    if PENDING in stages
                    else "this rotation's version is no longer AWSPENDING"
                )
                lines.append(
                    f"Secrets Manager (read back): AWSCURRENT does not hold this rotation's new key (it holds "
                    f"version {info.version_with(CURRENT) or '(none)'}); {pending}."
                )
        except Exception as exc:
            return [f"Secrets Manager could not be read back after the failure ({describe_error(exc)})."]
        try:
            record = self.ledger.load(name)
            if record.sub_acct:
                lines.extend(self._okx_after(record, token, info.name))
        except Exception as exc:
            lines.append(f"OKX could not be read back after the failure ({describe_error(exc)}).")
        return lines

    def _okx_after(self, record: RotationRecord, token: str, name: str) -> list[str]:
        keys = MasterKeys(self.clients.master_client(), record.sub_acct, sleep=self.sleep).keys()
        new = by_label(keys, rotation_label(name, token))
        lines = [
            f"OKX (read back): this rotation's key {rotation_label(name, token)} "
            + ("exists." if new is not None else "does not exist.")
        ]
        for pending in record.pending_deletions:
            live = by_fingerprint(keys, pending.fingerprint) is not None
            if not live:
                continue
            when = (
                f"is deleted after {_iso(pending.due_ms)}"
                if pending.due_ms is not None
                else "is kept until a run reads AWSCURRENT holding another key"
            )
            lines.append(f"OKX (read back): the retired key {pending.label or '(unlabelled)'} is live and {when}.")
        return lines

    def _observed(self, name: str, holders: Holders, *, write: bool) -> RotationRecord:
        grace = self.settings.grace_period_s
        if not write:
            record = self.ledger.load(name)
            observe(record, holders, now_ms=self.now_ms(), grace_period_s=grace)
            return record
        return self.ledger.update(name, lambda r: observe(r, holders, now_ms=self.now_ms(), grace_period_s=grace))

    def _record_failure(self, name: str, token: str, step: Step, exc: Exception) -> None:
        """Records how the step ended, after reading back what Secrets Manager holds: a step that failed after
        its stage move took effect is a finished rotation, not a failed one."""
        status: RotationStatus = "refused" if isinstance(exc, MasterKeyRotationRefused) else "failed"
        try:
            holders: Holders | None = read_holders(self.versions, name, step)
        except Exception:
            holders = None

        def failed(r: RotationRecord) -> None:
            if holders is not None:
                observe(r, holders, now_ms=self.now_ms(), grace_period_s=self.settings.grace_period_s)
                if holders.current_version == token:
                    return  # it finished: observe recorded that
            r.status, r.token, r.step, r.failed_step = status, token, step, step
            r.error, r.updated_ms = describe_error(exc)[:500], self.now_ms()

        try:
            self.ledger.update(name, failed)
        except Exception:  # the step's own error is what must reach the report; the record is a nicety
            return


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="seconds")


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
