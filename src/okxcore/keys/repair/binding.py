"""IP-binding repair: the master key binds both Shield IPs to a sub-account key (modify-apikey).

Why it is built this way:
- OKX's modify-apikey replaces the key's whole IP list. So a repair reads the list fresh from OKX right before
  writing (never an older view from the audit or probe), keeps every IP the key has, appends the Shield IPs
  it lacks, and removes an IP only when the caller names it. A list that would pass OKX's 20 IPs is not
  written at all: the finding says which IPs to remove.
- Opt-in. `off` (the default) does nothing, `plan` reads and reports exactly what would change, `apply` writes.
- Only a re-read that shows the new list counts as repaired: OKX's answer to the write is not proof.
- Every write is recorded (who, when, key label, old and new list). Nothing here ever holds a secret: the
  key's public id (`api_key`) is needed for the call and is kept out of every report, record and message.
- OKX allows one modify-apikey per second per user: writes pass one shared gate.

The master can modify only keys of its own sub-accounts. The master account's own keys and another master's
keys keep the manual steps the audit and probe already give (`manual_item`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from okxcore.client import OkxClient
from okxcore.egress import compare_binding
from okxcore.errors import (
    InvalidInputError,
    OkxShieldError,
    OkxTransportError,
    RateLimitedError,
    SubAccountKeyNotFoundError,
)
from okxcore.findings import finding
from okxcore.keys.repair.modes import RepairMode
from okxcore.models import OKX_MAX_IPS_PER_KEY, SubAccountApiKey
from okxcore.pacing import RateGate
from okxcore.report import Finding

CHECK_REPAIR = "keys.repair.ip_binding"
TABLE_TITLE = "IP-binding repair"
# OKX: 1 modify-apikey per second per user; stretched so that network jitter cannot squeeze two into one second.
MODIFY_LIMIT = 1
MODIFY_WINDOW_S = 1.1
WRITE_ATTEMPTS = 3


class Outcome(StrEnum):
    UNCHANGED = "already bound"
    PLANNED = "would change"
    APPLIED = "applied"
    OVER_LIMIT = "not changed: 20-IP limit"
    FAILED = "failed"
    UNCONFIRMED = "not confirmed"
    MANUAL = "manual steps"


# Each outcome's row in okxcore.findings, which weighs it.
OUTCOME_RULE: dict[Outcome, str] = {
    Outcome.UNCHANGED: "keys.repair.ip_binding:unchanged",
    Outcome.APPLIED: "keys.repair.ip_binding:applied",
    Outcome.PLANNED: "keys.repair.ip_binding:planned",
    Outcome.MANUAL: "keys.repair.ip_binding:manual",
    Outcome.OVER_LIMIT: "keys.repair.ip_binding:over_limit",
    Outcome.UNCONFIRMED: "keys.repair.ip_binding:unconfirmed",
    Outcome.FAILED: "keys.repair.ip_binding:failed",
}


@dataclass(frozen=True)
class SubKeyRef:
    """Where the master finds one sub-account key. `api_key` is OKX's public key id, never rendered."""

    resource: str  # the secret's name or "subaccount:<name>/<label>", as the audit and probe name the key
    label: str
    sub_acct: str
    api_key: str = field(repr=False)


@dataclass(frozen=True)
class BindingPlan:
    before: tuple[str, ...]
    after: tuple[str, ...]
    added: tuple[str, ...]
    removed: tuple[str, ...]

    @property
    def changes(self) -> bool:
        return self.before != self.after

    @property
    def over_limit(self) -> bool:
        return len(self.after) > OKX_MAX_IPS_PER_KEY


def plan_binding(current: Sequence[str], shield_ips: Sequence[str], *, remove: Iterable[str] = ()) -> BindingPlan:
    """The new IP list: every current entry (in OKX's order) but those named in `remove`, then each Shield IP
    that no remaining entry covers (an entry may be a CIDR block that already covers it)."""
    before = tuple(dict.fromkeys(entry.strip() for entry in current if entry.strip()))
    removal = {entry.strip() for entry in remove}
    kept = tuple(entry for entry in before if entry not in removal)
    added = compare_binding(kept, shield_ips).missing
    return BindingPlan(
        before=before,
        after=kept + added,
        added=added,
        removed=tuple(entry for entry in before if entry in removal),
    )


class RepairRecord(BaseModel):
    """One applied change, as the state table keeps it: labels and IP lists only."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: str
    by: str
    resource: str
    key_label: str
    sub_acct: str
    old_ips: tuple[str, ...]
    new_ips: tuple[str, ...]
    confirmed: bool


@runtime_checkable
class RepairRecorder(Protocol):
    def record_key_repair(self, record: RepairRecord) -> None: ...


@dataclass(frozen=True)
class RepairItem:
    resource: str
    label: str
    outcome: Outcome
    message: str
    before: tuple[str, ...] | None = None
    after: tuple[str, ...] | None = None  # planned, or as re-read after applying
    remediation: str = ""

    def finding(self) -> Finding:
        return finding(
            OUTCOME_RULE[self.outcome],
            self.resource,
            self.message,
            observed=_ips("before", self.before),
            expected=_ips("after", self.after),
            remediation=self.remediation,
        )


def _ips(word: str, ips: tuple[str, ...] | None) -> str:
    if ips is None:
        return ""
    return f"{word}: " + (", ".join(ips) if ips else "(no IP)")


@dataclass
class RepairResult:
    mode: RepairMode
    items: list[RepairItem] = field(default_factory=list)
    deferred: int = 0  # keys that need it but were left for the next run (the run's time budget)

    def findings(self) -> list[Finding]:
        return [item.finding() for item in self.items]

    def table(self) -> list[list[str]]:
        rows = [["key", "result", "before", "after"]]
        for item in self.items:
            before = ", ".join(item.before) if item.before else ("(no IP)" if item.before is not None else "-")
            after = ", ".join(item.after) if item.after else ("(no IP)" if item.after is not None else "-")
            rows.append([item.label or item.resource, item.outcome.value, before, after])
        return rows

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for item in self.items:
            counts[item.outcome.value] = counts.get(item.outcome.value, 0) + 1
        told = ", ".join(f"{n} {word}" for word, n in counts.items()) or "no key needed it"
        later = f" {self.deferred} more key(s) need it and wait for the next run." if self.deferred else ""
        return f"IP-binding repair ({self.mode}): {told}.{later}"

    def confirmed_ips(self) -> dict[str, tuple[str, ...]]:
        """resource -> the IP list OKX showed after an applied change (only confirmed changes)."""
        return {i.resource: i.after for i in self.items if i.outcome is Outcome.APPLIED and i.after is not None}


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class BindingRepairer:
    """Repairs sub-account keys one at a time through one master client."""

    master: OkxClient
    shield_ips: tuple[str, ...]
    mode: RepairMode
    actor: str  # who made the change, for the record: "audit function", "okx-shield keys bind-ips", ...
    recorder: RepairRecorder | None = None
    remove: tuple[str, ...] = ()
    gate: RateGate = field(default_factory=lambda: RateGate(MODIFY_LIMIT, MODIFY_WINDOW_S))
    now_iso: Callable[[], str] = _now_iso

    def repair(self, refs: Iterable[SubKeyRef]) -> RepairResult:
        result = RepairResult(self.mode)
        if self.mode == "off":
            return result
        for ref in refs:
            result.items.append(self.repair_one(ref))
        return result

    def repair_one(self, ref: SubKeyRef) -> RepairItem:
        try:
            current = read_sub_key(self.master, ref)
        except OkxShieldError as exc:
            return _failed(ref, "its IP list could not be read through the master key; nothing was changed", exc)
        if current is None:
            return RepairItem(
                ref.resource,
                ref.label,
                Outcome.FAILED,
                f"the master key finds no such key under sub-account {ref.sub_acct}; nothing was changed",
                remediation=SubAccountKeyNotFoundError.hint,
            )
        plan = plan_binding(current.ip, self.shield_ips, remove=self.remove)
        if not plan.changes:
            return RepairItem(
                ref.resource, ref.label, Outcome.UNCHANGED, "bound to every Shield IP: nothing to change", plan.before
            )
        if plan.over_limit:
            return _over_limit(ref, plan)
        if self.mode == "plan":
            return _planned(ref, plan)
        return self._apply(ref, plan)

    def _write(self, ref: SubKeyRef, plan: BindingPlan) -> None:
        # A 50011 answer means OKX did nothing (another writer used this second, e.g. a rotation): try again in
        # the next second. Writing the same list twice is harmless, but a lost answer is never resent blindly.
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            self.gate.acquire()
            try:
                self.master.modify_subaccount_api_key(ref.sub_acct, ref.api_key, ips=plan.after)
                return
            except RateLimitedError:
                if attempt == WRITE_ATTEMPTS:
                    raise

    def _apply(self, ref: SubKeyRef, plan: BindingPlan) -> RepairItem:
        try:
            self._write(ref, plan)
        except OkxTransportError as exc:
            return _failed(ref, "no answer to modify-apikey: the change may or may not have taken", exc, plan)
        except InvalidInputError as exc:
            return _failed(ref, "the new IP list was refused before sending; nothing was changed", exc, plan)
        except OkxShieldError as exc:
            return _failed(ref, "modify-apikey did not go through; nothing was changed", exc, plan)
        try:
            reread = read_sub_key(self.master, ref)
        except OkxShieldError:
            reread = None
        shown = reread.ip if reread is not None else None
        confirmed = shown is not None and set(shown) == set(plan.after)
        record_problem = self._record(ref, plan, shown, confirmed)
        if not confirmed:
            return RepairItem(
                ref.resource,
                ref.label,
                Outcome.UNCONFIRMED,
                "OKX accepted modify-apikey, but reading the key again does not show the new IP list" + record_problem,
                plan.before,
                shown,
                remediation="Check the key in OKX's API management; run the repair again to retry.",
            )
        added = ", ".join(plan.added)
        removed = f"; removed {', '.join(plan.removed)} as asked" if plan.removed else ""
        return RepairItem(
            ref.resource,
            ref.label,
            Outcome.APPLIED,
            f"bound Shield IP(s) {added}, kept every other IP{removed}; confirmed by reading the key again"
            + record_problem,
            plan.before,
            shown,
        )

    def _record(self, ref: SubKeyRef, plan: BindingPlan, shown: tuple[str, ...] | None, confirmed: bool) -> str:
        """Writes the change to the state table; returns a sentence for the report if that failed."""
        if self.recorder is None:
            return ""
        record = RepairRecord(
            at=self.now_iso(),
            by=self.actor,
            resource=ref.resource,
            key_label=ref.label,
            sub_acct=ref.sub_acct,
            old_ips=plan.before,
            new_ips=shown if shown is not None else plan.after,
            confirmed=confirmed,
        )
        try:
            self.recorder.record_key_repair(record)
        except Exception as exc:  # the change at OKX stands; the report must say the record is missing
            return f" (the change could not be recorded in the state table: {exc.__class__.__name__})"
        return ""


def read_sub_key(master: OkxClient, ref: SubKeyRef) -> SubAccountApiKey | None:
    """The key as the master sees it now, or None when OKX does not list it under that sub-account."""
    try:
        listed = master.subaccount_api_keys(ref.sub_acct, ref.api_key)
    except SubAccountKeyNotFoundError:
        return None
    return next((key for key in listed if key.api_key == ref.api_key), None)


def manual_item(resource: str, label: str, reason: str, shield_ips: Sequence[str]) -> RepairItem:
    """A key the master cannot modify: the manual steps, as without repair."""
    return RepairItem(
        resource,
        label,
        Outcome.MANUAL,
        f"not repaired automatically: {reason}",
        remediation="In OKX's API management, edit the key's IP whitelist and add "
        + (", ".join(shield_ips) or "both Shield static IPs")
        + " (keep the IPs it has).",
    )


def _failed(ref: SubKeyRef, problem: str, exc: OkxShieldError, plan: BindingPlan | None = None) -> RepairItem:
    return RepairItem(
        ref.resource,
        ref.label,
        Outcome.FAILED,
        f"{problem} ({exc.message})",
        plan.before if plan else None,
        plan.after if plan else None,
        remediation=exc.hint or "Run the repair again; if it persists, bind the IPs in OKX's API management.",
    )


def _over_limit(ref: SubKeyRef, plan: BindingPlan) -> RepairItem:
    return RepairItem(
        ref.resource,
        ref.label,
        Outcome.OVER_LIMIT,
        f"not changed: the key has {len(plan.before) - len(plan.removed)} IP(s), and adding Shield IP(s) "
        f"{', '.join(plan.added)} would make {len(plan.after)}, over OKX's {OKX_MAX_IPS_PER_KEY}",
        plan.before,
        remediation="Choose IPs the key no longer needs and remove them (okx-shield keys bind-ips --remove-ip IP), "
        "or edit the whitelist in OKX's API management.",
    )


def _planned(ref: SubKeyRef, plan: BindingPlan) -> RepairItem:
    removed = f", remove {', '.join(plan.removed)}" if plan.removed else ""
    return RepairItem(
        ref.resource,
        ref.label,
        Outcome.PLANNED,
        f"would add Shield IP(s) {', '.join(plan.added)}{removed} and keep every other IP; nothing was changed "
        "(plan mode)",
        plan.before,
        plan.after,
        remediation='To apply: repair_mode "apply" in the event (or KEY_REPAIR_MODE=apply), or '
        "okx-shield keys bind-ips --secret NAME --apply.",
    )
