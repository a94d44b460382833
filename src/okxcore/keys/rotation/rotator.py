"""Rotating one sub-account key held in a Secrets Manager secret: the four steps and the cleanup.

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

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from okxcore.aws.rotation_secrets import SecretVersions
from okxcore.aws.rotation_state import PendingDeletion, RotationRecord, RotationStatus
from okxcore.credentials import OkxKeySecret, parse_okx_key_secret
from okxcore.keys.rotation.model import (
    CURRENT,
    OKX_MAX_KEYS_PER_ACCOUNT,
    PENDING,
    MasterKeyRotationRefused,
    RotationError,
    Step,
    bind_list,
    describe_error,
    new_passphrase,
    new_permissions,
    perm_text,
    rotation_label,
)
from okxcore.keys.rotation.okx import MasterKeys, by_fingerprint, by_label, locate
from okxcore.keys.rotation.ports import OkxClients, RotationLedger, RotationSettings, SecretVersionStore, StepResult
from okxcore.keys.rotation.sweep import sweep
from okxcore.models import SubAccountApiKey, fingerprint


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class _Prepared:
    raw: dict[str, Any]
    current_fp: str
    sub_uid: str
    keys: MasterKeys
    old: SubAccountApiKey
    perm: frozenset[str]
    ips: list[str]
    deleted: list[str]
    live_keys: int


@dataclass
class Rotator:
    versions: SecretVersionStore
    ledger: RotationLedger
    clients: OkxClients
    settings: RotationSettings
    now_ms: Callable[[], int] = _now_ms
    sleep: Callable[[float], None] = time.sleep

    # --- entry --------------------------------------------------------------------------------------

    def run_step(self, secret_id: str, token: str, step: Step) -> StepResult:
        info = self.versions.describe(secret_id)
        name = info.name or secret_id
        # A precondition failure is not recorded: it means this token's rotation already ended (or never began),
        # and the record keeps the cause that ended it.
        early = self._check_token(info, token, step)
        if early is not None:
            return early
        try:
            result = {
                Step.CREATE: self._create,
                Step.SET: self._set,
                Step.TEST: self._test,
                Step.FINISH: self._finish,
            }[step](info, token)
        except Exception as exc:
            self._record_failure(name, token, step, exc)
            raise
        return result

    def _check_token(self, info: SecretVersions, token: str, step: Step) -> StepResult | None:
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

    # --- steps ----------------------------------------------------------------------------------------

    def _create(self, info: SecretVersions, token: str) -> StepResult:
        if self.versions.value(info.arn, stage=PENDING, version_id=token) is not None:
            return StepResult(info.name, Step.CREATE, "the new key was already stored as AWSPENDING")
        prep = self._prepare(info, Step.CREATE, dry_run=False)
        raw, keys, old, perm, ips, deleted = prep.raw, prep.keys, prep.old, prep.perm, prep.ips, prep.deleted
        current_fp, sub_uid = prep.current_fp, prep.sub_uid
        label = rotation_label(info.name, token)

        def begin(record: RotationRecord) -> None:
            record.status, record.token, record.step, record.failed_step, record.error = (
                "in_progress",
                token,
                Step.CREATE,
                "",
                "",
            )
            record.sub_acct, record.sub_uid = keys.sub_acct, sub_uid
            record.old_fingerprint, record.old_label, record.new_label = current_fp, old.label, label
            record.new_perm, record.updated_ms = sorted(perm), self.now_ms()

        self.ledger.update(info.name, begin)
        created = keys.create(label=label, passphrase=new_passphrase(), perm=perm_text(perm), ips=ips)
        body = {
            **raw,
            "api_key": created.api_key,
            "api_secret": created.secret_key.get_secret_value(),
            "passphrase": created.passphrase.get_secret_value(),
            "created_at": datetime.fromtimestamp(self.now_ms() / 1000, tz=UTC).isoformat(timespec="seconds"),
        }
        try:
            self.versions.put_pending(info.arn, token, json.dumps(body))
        except Exception as exc:
            keys.delete(created)  # the key's secret is lost with this attempt: it must not outlive it
            raise RotationError(
                info.name, Step.CREATE, f"storing the new key failed, so it was deleted at OKX again ({exc})"
            ) from None
        return StepResult(
            info.name,
            Step.CREATE,
            f"created key {label} in sub-account {keys.sub_acct} (perm {perm_text(perm)}, IPs {', '.join(ips)})"
            + (f"; deleted {len(deleted)} old key(s): {', '.join(deleted)}" if deleted else ""),
            changed=True,
            details={"label": label, "sub_acct": keys.sub_acct, "perm": sorted(perm), "ips": ips, "deleted": deleted},
        )

    def _prepare(self, info: SecretVersions, step: Step, *, dry_run: bool) -> _Prepared:
        """Everything createSecret decides before it creates: the sub-account, the old key, the new key's
        permissions and IPs; old keys past their grace period and orphans are deleted (listed, on a dry run)."""
        raw, current = self._read_current(info, step)
        sub_uid, keys = self._locate(info, current, step)
        current_fp = fingerprint(current.api_key.get_secret_value())
        old = by_fingerprint(keys.keys(), current_fp)
        if old is None:
            raise RotationError(
                info.name,
                step,
                f"the current key is not among sub-account {keys.sub_acct}'s keys",
                hint="Check that the master key belongs to this sub-account's main account.",
            )
        deleted = sweep(
            self.ledger, keys, info.name, keep={current_fp}, keep_token=None, now_ms=self.now_ms(), dry_run=dry_run
        )
        live = len(keys.keys()) - (len(deleted) if dry_run else 0)
        if live >= OKX_MAX_KEYS_PER_ACCOUNT:
            raise RotationError(
                info.name,
                step,
                f"sub-account {keys.sub_acct} already has {live} keys, OKX's limit (59501)",
                hint="Delete keys that are no longer used in OKX, then rotate again.",
            )
        perm = new_permissions(old.perm, current.allowed_permissions)
        ips = bind_list(self.settings.shield_ips, old.ip)
        return _Prepared(raw, current_fp, sub_uid, keys, old, perm, ips, deleted, live)

    def plan(self, secret_id: str) -> StepResult:
        """What a rotation would do now, changing nothing (`okx-shield keys rotate --dry-run`)."""
        info = self.versions.describe(secret_id)
        prep = self._prepare(info, Step.CREATE, dry_run=True)
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

    def _set(self, info: SecretVersions, token: str) -> StepResult:
        # OKX makes the key in createSecret (its secret exists only in that answer): nothing to set, but the
        # stored version must be a valid key secret before it is tested.
        self._read_pending(info, token, Step.SET)
        self.ledger.update(info.name, lambda r: _step_done(r, Step.SET, self.now_ms()))
        return StepResult(info.name, Step.SET, "nothing to set at OKX: the key was created in createSecret")

    def _test(self, info: SecretVersions, token: str) -> StepResult:
        pending = self._read_pending(info, token, Step.TEST)
        record = self.ledger.load(info.name)
        try:
            config = self.clients.key_client(pending).account_config()
            problems = self._test_problems(info.name, token, record, config.label, config.uid, config.ip, config.perm)
        except Exception as exc:
            problems = [f"the signed call with the new key failed: {describe_error(exc)}"]
        if problems:
            try:
                self._abandon(info, token, record)
                cleaned = "The new key was deleted at OKX"
            except Exception as exc:  # the test's failure is the news; the next run deletes what is left
                cleaned = f"Deleting the new key failed too ({describe_error(exc)}); the next run deletes it"
            raise RotationError(
                info.name,
                Step.TEST,
                "; ".join(problems) + f". {cleaned}; AWSCURRENT is unchanged",
                hint="Fix the cause (Shield IPs, permissions, master key) and rotate again.",
            )
        self.ledger.update(info.name, lambda r: _tested(r, token, self.now_ms()))
        return StepResult(
            info.name,
            Step.TEST,
            f"the new key authenticates through Shield, is bound to {', '.join(self.settings.shield_ips)} "
            f"and holds {perm_text(record.new_perm)}",
        )

    def _test_problems(
        self,
        name: str,
        token: str,
        record: RotationRecord,
        label: str,
        uid: str,
        ips: tuple[str, ...],
        perm: frozenset[str],
    ) -> list[str]:
        problems = []
        if label != rotation_label(name, token):
            problems.append(f"its label is {label!r}, not this rotation's {rotation_label(name, token)!r}")
        if record.sub_uid and uid != record.sub_uid:
            problems.append("it belongs to another account than the old key")
        missing = [ip for ip in self.settings.shield_ips if ip not in ips]
        if missing:
            problems.append(f"it is not bound to Shield IP(s) {', '.join(missing)}")
        expected = frozenset(record.new_perm) | {"read_only"}
        if perm | {"read_only"} != expected:
            problems.append(f"it holds {perm_text(perm) or 'nothing'}, expected {perm_text(expected)}")
        return problems

    def _finish(self, info: SecretVersions, token: str) -> StepResult:
        record = self.ledger.load(info.name)
        if record.tested_token != token:
            raise RotationError(
                info.name,
                Step.FINISH,
                "the new key has not passed testSecret: AWSCURRENT stays where it is",
                hint="Let Secrets Manager run testSecret first (or start a new rotation).",
            )
        _raw, old = self._read_current(info, Step.FINISH)
        old_fp = fingerprint(old.api_key.get_secret_value())
        due = self.now_ms() + self.settings.grace_period_s * 1000

        def retire(r: RotationRecord) -> None:
            # Recorded before AWSCURRENT moves, so the old key can never be forgotten; deletion re-checks that
            # a key is not AWSCURRENT's, so a record written by a finish that then failed is harmless.
            if not any(p.fingerprint == old_fp for p in r.pending_deletions):
                r.pending_deletions.append(
                    PendingDeletion(
                        fingerprint=old_fp, sub_acct=r.sub_acct, label=r.old_label, due_ms=due, retired_by=token
                    )
                )

        self.ledger.update(info.name, retire)
        self.versions.promote(info.arn, token, info.current_version)

        def succeeded(r: RotationRecord) -> None:
            r.status, r.step, r.failed_step, r.error = "succeeded", Step.FINISH, "", ""
            r.last_rotated_ms = r.updated_ms = self.now_ms()

        record = self.ledger.update(info.name, succeeded)
        when = datetime.fromtimestamp(due / 1000, tz=UTC).isoformat(timespec="seconds")
        return StepResult(
            info.name,
            Step.FINISH,
            f"AWSCURRENT is the new key {record.new_label}; the old key {record.old_label or '(unlabelled)'} "
            f"stays valid for the grace period and is deleted after {when}",
            changed=True,
            details={"new_label": record.new_label, "old_label": record.old_label, "old_key_deleted_after": when},
        )

    # --- cleanup ----------------------------------------------------------------------------------------

    def cleanup(self, secret_name: str, *, dry_run: bool = False) -> list[str]:
        """Delete this secret's old keys whose grace period ended, and keys of abandoned rotations."""
        record = self.ledger.load(secret_name)
        due = any(p.due_ms <= self.now_ms() for p in record.pending_deletions)
        # Only a failed or unfinished rotation can have left an orphan: a fleet of finished ones costs no OKX call.
        if not record.sub_acct or (record.status == "succeeded" and not due):
            return []
        info = self.versions.describe(secret_name)
        _raw, current = self._read_current(info, Step.CLEANUP)
        pending_version = info.version_with(PENDING)
        running = pending_version if pending_version and pending_version != info.version_with(CURRENT) else None
        keys = MasterKeys(self.clients.master_client(), record.sub_acct, sleep=self.sleep)
        keep = {fingerprint(current.api_key.get_secret_value())}
        return sweep(
            self.ledger, keys, secret_name, keep=keep, keep_token=running, now_ms=self.now_ms(), dry_run=dry_run
        )

    # --- helpers ---------------------------------------------------------------------------------------

    def _parse(self, name: str, text: str) -> OkxKeySecret:
        return parse_okx_key_secret(name, text, defaults=self.settings.key_defaults)

    def _read_current(self, info: SecretVersions, step: Step) -> tuple[dict[str, Any], OkxKeySecret]:
        text = self.versions.value(info.arn, stage=CURRENT)
        if text is None:
            raise RotationError(info.name, step, "the secret has no AWSCURRENT value")
        key = self._parse(info.name, text)
        raw: dict[str, Any] = json.loads(text)
        return raw, key

    def _read_pending(self, info: SecretVersions, token: str, step: Step) -> OkxKeySecret:
        text = self.versions.value(info.arn, stage=PENDING, version_id=token)
        if text is None:
            raise RotationError(
                info.name, step, "the token's AWSPENDING version has no value (createSecret did not finish)"
            )
        return self._parse(info.name, text)

    def _locate(self, info: SecretVersions, current: OkxKeySecret, step: Step) -> tuple[str, MasterKeys]:
        return locate(info.name, current, step, self.clients, self.settings.master_secret_name, sleep=self.sleep)

    def _abandon(self, info: SecretVersions, token: str, record: RotationRecord) -> None:
        """A failed test: delete the new key at OKX and take AWSPENDING away, so nothing half-made remains."""
        if record.sub_acct:
            keys = MasterKeys(self.clients.master_client(), record.sub_acct, sleep=self.sleep)
            found = by_label(keys.keys(), rotation_label(info.name, token))
            if found is not None:
                keys.delete(found)
        self.versions.drop_pending(info.arn, token)

    def _record_failure(self, name: str, token: str, step: Step, exc: Exception) -> None:
        status: RotationStatus = "refused" if isinstance(exc, MasterKeyRotationRefused) else "failed"

        def failed(r: RotationRecord) -> None:
            r.status, r.token, r.step, r.failed_step = status, token, step, step
            r.error, r.updated_ms = describe_error(exc)[:500], self.now_ms()

        try:
            self.ledger.update(name, failed)
        except Exception:  # the step's own error is what must reach the report; the record is a nicety
            return


def _step_done(record: RotationRecord, step: Step, now: int) -> None:
    record.step, record.updated_ms = step, now


def _tested(record: RotationRecord, token: str, now: int) -> None:
    record.tested_token, record.step, record.updated_ms = token, Step.TEST, now
