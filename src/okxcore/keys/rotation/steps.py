"""The four Secrets Manager steps of one rotation, each a function of (what it is given, the secret's versions,
the token), as AWS's rotation template writes them; and what createSecret decides, which the dry-run plan shares.
Which step runs when, and the preconditions they all share, are in rotator.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from okxcore.credentials import OkxKeySecret, parse_okx_key_secret
from okxcore.keys.rotation.model import (
    CURRENT,
    OKX_MAX_KEYS_PER_ACCOUNT,
    PENDING,
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
from okxcore.keys.rotation.ports import RotationPorts, SecretVersions, StepResult
from okxcore.keys.rotation.record import RotationRecord
from okxcore.keys.rotation.retire import Holders, SecretHolders, holders_of, observe, read_holders, remembered
from okxcore.keys.rotation.sweep import sweep
from okxcore.models import SubAccountApiKey, fingerprint


def create_secret(ports: RotationPorts, info: SecretVersions, token: str) -> StepResult:
    """A new OKX key for this token, labelled `rotation_label(secret, token)`, stored as the AWSPENDING version;
    old keys past their grace period and keys of abandoned rotations are deleted first."""
    if ports.versions.value(info.arn, stage=PENDING, version_id=token) is not None:
        return StepResult(info.name, Step.CREATE, "the new key was already stored as AWSPENDING")
    prep = prepare(ports, info, Step.CREATE, dry_run=False)
    raw, keys, old, perm, ips, deleted = prep.raw, prep.keys, prep.old, prep.perm, prep.ips, prep.deleted
    current_fp, sub_uid = prep.current_fp, prep.sub_uid
    label = rotation_label(info.name, token)

    def begin(record: RotationRecord) -> None:
        if record.token != token:
            record.shield_requests = 0  # a new rotation: its steps' requests are counted from here
        record.status, record.token, record.step, record.failed_step, record.error = (
            "in_progress",
            token,
            Step.CREATE,
            "",
            "",
        )
        record.sub_acct, record.sub_uid = keys.sub_acct, sub_uid
        record.old_fingerprint, record.old_label, record.new_label = current_fp, old.label, label
        record.new_perm, record.updated_ms = sorted(perm), ports.now_ms()
        if record.current_fingerprint == current_fp:
            record.current_label = old.label

    ports.ledger.update(info.name, begin)
    created = keys.create(label=label, passphrase=new_passphrase(), perm=perm_text(perm), ips=ips)
    body = {
        **raw,
        "api_key": created.api_key,
        "api_secret": created.secret_key.get_secret_value(),
        "passphrase": created.passphrase.get_secret_value(),
        "created_at": datetime.fromtimestamp(ports.now_ms() / 1000, tz=UTC).isoformat(timespec="seconds"),
    }
    try:
        ports.versions.put_pending(info.arn, token, json.dumps(body))
    except Exception as exc:
        # The key's secret is lost with this attempt, so the key must not outlive it, unless the version was
        # stored after all (a lost answer): the delete reads AWSPENDING first and keeps a key it holds.
        if keys.delete(created, unless=SecretHolders(ports.versions, info.arn, Step.CREATE)):
            raise RotationError(
                info.name,
                Step.CREATE,
                f"storing the new key failed ({describe_error(exc)}); read back, AWSPENDING does not hold it, so "
                "it was deleted at OKX again",
            ) from None
    return StepResult(
        info.name,
        Step.CREATE,
        f"created key {label} in sub-account {keys.sub_acct} (perm {perm_text(perm)}, IPs {', '.join(ips)})"
        + (f"; deleted {len(deleted)} old key(s): {', '.join(deleted)}" if deleted else ""),
        changed=True,
        details={"label": label, "sub_acct": keys.sub_acct, "perm": sorted(perm), "ips": ips, "deleted": deleted},
    )


def set_secret(ports: RotationPorts, info: SecretVersions, token: str) -> StepResult:
    """Nothing to set at OKX: the key exists since createSecret (its secret exists only in that answer), but
    the stored version must be a valid key secret before it is tested."""
    _read_pending(ports, info, token, Step.SET)
    ports.ledger.update(info.name, lambda r: _step_done(r, Step.SET, ports.now_ms()))
    return StepResult(info.name, Step.SET, "nothing to set at OKX: the key was created in createSecret")


def test_secret(ports: RotationPorts, info: SecretVersions, token: str) -> StepResult:
    """The new key signs a call through Shield and is this rotation's, bound to the Shield IPs, with the planned
    permissions; otherwise it is deleted at OKX and AWSPENDING taken away. Records the token as tested."""
    pending = _read_pending(ports, info, token, Step.TEST)
    record = ports.ledger.load(info.name)
    try:
        config = ports.clients.key_client(pending).account_config()
        problems = _test_problems(ports, info.name, token, record, config.label, config.uid, config.ip, config.perm)
    except Exception as exc:
        problems = [f"the signed call with the new key failed: {describe_error(exc)}"]
    if problems:
        try:
            cleaned = _abandon(ports, info, token, record)
        except Exception as exc:  # the test's failure is the news; the next run deletes what is left
            cleaned = f"Deleting the new key failed too ({describe_error(exc)}); the next run deletes it"
        raise RotationError(
            info.name,
            Step.TEST,
            "; ".join(problems) + f". {cleaned}; AWSCURRENT is unchanged",
            hint="Fix the cause (Shield IPs, permissions, master key) and rotate again.",
        )
    ports.ledger.update(info.name, lambda r: _tested(r, token, ports.now_ms()))
    return StepResult(
        info.name,
        Step.TEST,
        f"the new key authenticates through Shield, is bound to {', '.join(ports.settings.shield_ips)} "
        f"and holds {perm_text(record.new_perm)}",
    )


def finish_secret(ports: RotationPorts, info: SecretVersions, token: str) -> StepResult:
    """AWSCURRENT moves to the tested key. Where it is afterwards is read back, and only that read starts the
    old key's grace period (retire.py, rule 1); the new key is tracked from before the move, so that a crash
    between the move and its record can never make it look like an orphan."""
    record = ports.ledger.load(info.name)
    if record.tested_token != token:
        raise RotationError(
            info.name,
            Step.FINISH,
            "the new key has not passed testSecret: AWSCURRENT stays where it is",
            hint="Let Secrets Manager run testSecret first (or start a new rotation).",
        )
    before = holders_of(ports.versions, info, Step.FINISH)
    if before.current is None or before.current_version is None:
        raise RotationError(info.name, Step.FINISH, "the secret has no AWSCURRENT value")
    if before.pending is None:
        raise RotationError(info.name, Step.FINISH, "the token's AWSPENDING version has no value")
    grace = ports.settings.grace_period_s
    new_fp = before.pending

    def moving(r: RotationRecord) -> None:
        observe(r, before, now_ms=ports.now_ms(), grace_period_s=grace)
        r.promoting_fingerprint, r.promoting_label = new_fp, r.new_label
        r.step, r.updated_ms = Step.FINISH, ports.now_ms()

    ports.ledger.update(info.name, moving)
    move_error: Exception | None = None
    try:
        ports.versions.promote(info.arn, token, before.current_version)
    except Exception as exc:  # the answer is not the outcome: the read below is
        move_error = exc
    after = read_holders(ports.versions, info.arn, Step.FINISH)
    moved = after.current_version == token

    def settled(r: RotationRecord) -> None:
        if not moved:  # read right after this move's own attempt, under the lease: it did not take effect
            r.promoting_fingerprint = r.promoting_label = ""
        observe(r, after, now_ms=ports.now_ms(), grace_period_s=grace)
        if moved:
            r.status, r.step, r.failed_step, r.error = "succeeded", Step.FINISH, "", ""
            r.last_rotated_ms = r.updated_ms = ports.now_ms()

    record = ports.ledger.update(info.name, settled)
    if not moved:
        why = describe_error(move_error) if move_error is not None else "Secrets Manager shows another version"
        raise RotationError(
            info.name,
            Step.FINISH,
            f"AWSCURRENT was not moved to the new key ({why}); read back, it holds "
            + ("the key from before this rotation" if after.current == before.current else "another key"),
            hint="Secrets Manager retries finishSecret; the old key stays until a move has been read back.",
        )
    old = next((p for p in record.pending_deletions if p.fingerprint == before.current), None)
    when = _iso(old.due_ms) if old is not None and old.due_ms is not None else "(not scheduled)"
    old_label = (old.label if old is not None else "") or "(unlabelled)"
    return StepResult(
        info.name,
        Step.FINISH,
        f"AWSCURRENT holds the new key {record.current_label} (read back from Secrets Manager); the old key "
        f"{old_label} is deleted at OKX after {when}, {grace} s after this move",
        changed=True,
        details={"new_label": record.current_label, "old_label": old_label, "old_key_deleted_after": when},
    )


def settle_finished(ports: RotationPorts, info: SecretVersions, step: Step) -> None:
    """The token's version is AWSCURRENT already: the record is brought up to what Secrets Manager holds (a
    retry of a finishSecret whose move worked but whose record failed ends here, and so does its HIGH)."""
    holders = holders_of(ports.versions, info, step)
    grace = ports.settings.grace_period_s
    ports.ledger.update(info.name, lambda r: observe(r, holders, now_ms=ports.now_ms(), grace_period_s=grace))


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Prepared:
    raw: dict[str, Any]
    current_fp: str
    sub_uid: str
    keys: MasterKeys
    old: SubAccountApiKey
    perm: frozenset[str]
    ips: list[str]
    deleted: list[str]
    live_keys: int


def prepare(ports: RotationPorts, info: SecretVersions, step: Step, *, dry_run: bool) -> Prepared:
    """Everything createSecret decides before it creates: the sub-account, the old key, the new key's
    permissions and IPs; old keys past their grace period and orphans are deleted (listed, on a dry run)."""
    raw, current = read_current(ports, info, step)
    sub_uid, keys = locate(
        info.name, current, step, ports.clients, ports.settings.master_secret_name, sleep=ports.sleep
    )
    current_fp = fingerprint(current.api_key.get_secret_value())
    old = by_fingerprint(keys.keys(), current_fp)
    if old is None:
        raise RotationError(
            info.name,
            step,
            f"the current key is not among sub-account {keys.sub_acct}'s keys",
            hint="Check that the master key belongs to this sub-account's main account.",
        )
    record, _holders = observed(ports, info, step, write=not dry_run)
    unless = SecretHolders(ports.versions, info.arn, step, remembered(record))
    swept = sweep(ports.ledger, keys, record, unless, keep_token=None, now_ms=ports.now_ms(), dry_run=dry_run)
    deleted = swept.deleted
    live = len(keys.keys()) - (len(deleted) if dry_run else 0)
    if live >= OKX_MAX_KEYS_PER_ACCOUNT:
        raise RotationError(
            info.name,
            step,
            f"sub-account {keys.sub_acct} already has {live} keys, OKX's limit (59501)",
            hint="Delete keys that are no longer used in OKX, then rotate again.",
        )
    perm = new_permissions(old.perm, current.allowed_permissions)
    ips = bind_list(ports.settings.shield_ips, old.ip)
    return Prepared(raw, current_fp, sub_uid, keys, old, perm, ips, deleted, live)


def observed(ports: RotationPorts, info: SecretVersions, step: Step, *, write: bool) -> tuple[RotationRecord, Holders]:
    """The record brought up to date with what AWSCURRENT and AWSPENDING hold now (written, unless a dry run)."""
    holders = holders_of(ports.versions, info, step)
    grace = ports.settings.grace_period_s
    if write:
        record = ports.ledger.update(
            info.name, lambda r: observe(r, holders, now_ms=ports.now_ms(), grace_period_s=grace)
        )
    else:
        record = ports.ledger.load(info.name)
        observe(record, holders, now_ms=ports.now_ms(), grace_period_s=grace)
    return record, holders


def read_current(ports: RotationPorts, info: SecretVersions, step: Step) -> tuple[dict[str, Any], OkxKeySecret]:
    text = ports.versions.value(info.arn, stage=CURRENT)
    if text is None:
        raise RotationError(info.name, step, "the secret has no AWSCURRENT value")
    key = _parse(ports, info.name, text)
    raw: dict[str, Any] = json.loads(text)
    return raw, key


def _parse(ports: RotationPorts, name: str, text: str) -> OkxKeySecret:
    return parse_okx_key_secret(name, text, defaults=ports.settings.key_defaults)


def _read_pending(ports: RotationPorts, info: SecretVersions, token: str, step: Step) -> OkxKeySecret:
    text = ports.versions.value(info.arn, stage=PENDING, version_id=token)
    if text is None:
        raise RotationError(
            info.name, step, "the token's AWSPENDING version has no value (createSecret did not finish)"
        )
    return _parse(ports, info.name, text)


def _test_problems(
    ports: RotationPorts,
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
    missing = [ip for ip in ports.settings.shield_ips if ip not in ips]
    if missing:
        problems.append(f"it is not bound to Shield IP(s) {', '.join(missing)}")
    expected = frozenset(record.new_perm) | {"read_only"}
    if perm | {"read_only"} != expected:
        problems.append(f"it holds {perm_text(perm) or 'nothing'}, expected {perm_text(expected)}")
    return problems


def _abandon(ports: RotationPorts, info: SecretVersions, token: str, record: RotationRecord) -> str:
    """A failed test: AWSPENDING is taken away first, then the new key is deleted at OKX (a key a stage holds is
    never deleted), so that nothing half-made remains. Returns what happened, in words."""
    ports.versions.drop_pending(info.arn, token)
    if not record.sub_acct:
        return "The new key's sub-account is not recorded; the next run deletes it"
    keys = MasterKeys(ports.clients.master_client(), record.sub_acct, sleep=ports.sleep)
    found = by_label(keys.keys(), rotation_label(info.name, token))
    if found is None:
        return "OKX does not list the new key any more"
    if not keys.delete(found, unless=SecretHolders(ports.versions, info.arn, Step.TEST, remembered(record))):
        return "The new key was kept at OKX: Secrets Manager still holds it; the next run deletes it"
    return "The new key was deleted at OKX"


def _step_done(record: RotationRecord, step: Step, now: int) -> None:
    record.step, record.updated_ms = step, now


def _tested(record: RotationRecord, token: str, now: int) -> None:
    record.tested_token, record.step, record.updated_ms = token, Step.TEST, now
