"""IP-binding repair: the master key binds both Shield IPs to a sub-account key (modify-apikey).

Why it is built this way:
- OKX's modify-apikey replaces the key's whole IP list, and offers no conditional write. So every write is
  based on a read made immediately before it: after the wait for OKX's 1-per-second write budget, and again
  before any resend after a 50011 (never the plan's older read, nor the audit's or probe's view). It keeps
  every IP that read shows, appends the Shield IPs it lacks, and removes an IP only when the caller names it;
  a named IP the key does not have is an error naming it, and nothing is written. A list that would pass
  OKX's 20 IPs is not written at all: the finding says which IPs to remove.
- Every write is checked by a read right after it. When that read shows another list than the one written
  (someone changed the key meanwhile), the repair plans again from what it shows, at most WRITE_ATTEMPTS
  writes in all, and then reports the conflict. What remains possible is a change made by someone else within
  the one round trip between the read and the write: OKX cannot refuse a stale write.
- Opt-in. `off` (the default) does nothing, `plan` reads and reports exactly what would change, `apply` writes.
- Only a re-read that shows the new list counts as repaired: OKX's answer to the write is not proof. The report
  names an IP as kept, or removed, only when that re-read shows it so.
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
    not_bound: tuple[str, ...] = ()  # named for removal, but the key does not have them: nothing is written

    @property
    def changes(self) -> bool:
        return self.before != self.after

    @property
    def over_limit(self) -> bool:
        return len(self.after) > OKX_MAX_IPS_PER_KEY


def plan_binding(current: Sequence[str], shield_ips: Sequence[str], *, remove: Iterable[str] = ()) -> BindingPlan:
    """The new IP list: every current entry (in OKX's order) but those named in `remove`, then each Shield IP
    that no remaining entry covers (an entry may be a CIDR block that already covers it). An entry named in
    `remove` must be one of the key's, written as OKX lists it (`not_bound` otherwise)."""
    before = tuple(dict.fromkeys(entry.strip() for entry in current if entry.strip()))
    removal = {entry.strip() for entry in remove}
    kept = tuple(entry for entry in before if entry not in removal)
    added = compare_binding(kept, shield_ips).missing
    return BindingPlan(
        before=before,
        after=kept + added,
        added=added,
        removed=tuple(entry for entry in before if entry in removal),
        not_bound=tuple(entry for entry in dict.fromkeys(e.strip() for e in remove) if entry not in before),
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
            return _gone(ref)
        plan = plan_binding(current.ip, self.shield_ips, remove=self.remove)
        if plan.not_bound:
            return _not_bound(ref, plan)
        if not plan.changes:
            return RepairItem(
                ref.resource, ref.label, Outcome.UNCHANGED, "bound to every Shield IP: nothing to change", plan.before
            )
        if plan.over_limit:
            return _over_limit(ref, plan)
        if self.mode == "plan":
            return _planned(ref, plan)
        return self._apply(ref, plan)

    def _apply(self, ref: SubKeyRef, first: BindingPlan) -> RepairItem:
        """Writes, each write based on a read made right before it and checked by a read right after it."""
        written: BindingPlan | None = None  # the last plan written, once OKX accepted one
        shown: tuple[str, ...] | None = None
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            self.gate.acquire()  # the wait comes first: the read below is the one the write is based on
            try:
                now = read_sub_key(self.master, ref)
            except OkxShieldError as exc:
                return self._ended(
                    ref,
                    first,
                    written,
                    shown,
                    _failed(ref, "reading it right before writing failed; nothing more was written", exc),
                )
            if now is None:
                return self._ended(ref, first, written, shown, _gone(ref))
            plan = plan_binding(now.ip, self.shield_ips, remove=self.remove)
            if plan.not_bound:
                return self._ended(ref, first, written, now.ip, _not_bound(ref, plan))
            if not plan.changes:
                return self._settled(ref, first, written, plan)
            if plan.over_limit:
                return self._ended(ref, first, written, now.ip, _over_limit(ref, plan))
            try:
                self.master.modify_subaccount_api_key(ref.sub_acct, ref.api_key, ips=plan.after)
            except RateLimitedError as exc:
                # OKX did nothing (another writer used this second, e.g. a rotation). The next attempt waits for
                # the next second and reads the key again: the list may have changed by then.
                if attempt == WRITE_ATTEMPTS:
                    return self._ended(
                        ref,
                        first,
                        written,
                        plan.before,
                        _failed(ref, f"OKX rate-limited all {WRITE_ATTEMPTS} writes; nothing was changed", exc),
                    )
                continue
            except OkxTransportError as exc:
                shown = _reread(self.master, ref)
                if shown is None or set(shown) != set(plan.after):
                    problem = "no answer to modify-apikey, and " + _shown(shown)
                    return self._ended(ref, first, written, shown, _failed(ref, problem, exc, plan))
                written = plan  # the re-read shows it took
            except OkxShieldError as exc:  # InvalidInputError included: refused here, before anything was sent
                problem = (
                    "the new IP list was refused before sending"
                    if isinstance(exc, InvalidInputError)
                    else "modify-apikey did not go through"
                )
                return self._ended(
                    ref, first, written, plan.before, _failed(ref, problem + "; nothing was changed", exc, plan)
                )
            else:
                written = plan
                shown = _reread(self.master, ref)
            if shown is not None and set(shown) == set(plan.after):
                return self._done(ref, first, plan, shown)
            # Another list than the one written: someone changed the key right after (or OKX did not apply it).
            # The next attempt plans again from what OKX shows then.
        return self._ended(
            ref,
            first,
            written,
            shown,
            RepairItem(
                ref.resource,
                ref.label,
                Outcome.UNCONFIRMED,
                f"the key's IP list kept changing while the repair wrote it ({WRITE_ATTEMPTS} attempts): "
                + _shown(shown),
                first.before,
                shown,
                remediation="Someone else is editing this key's IPs: check it in OKX's API management, then run "
                "the repair again.",
            ),
        )

    def _done(self, ref: SubKeyRef, first: BindingPlan, plan: BindingPlan, shown: tuple[str, ...]) -> RepairItem:
        """The re-read shows the list written. What it says was kept or removed is what the re-read shows."""
        record_problem = self._record(ref, first, shown, True)
        changed = ""
        if plan.before != first.before:
            again = ", ".join(plan.before) or "(no IP)"
            changed = f" (the key's IP list changed after it was first read: planned again from {again})"
        return RepairItem(
            ref.resource,
            ref.label,
            Outcome.APPLIED,
            _verified(plan, shown) + changed + "; confirmed by reading the key again" + record_problem,
            first.before,
            shown,
        )

    def _settled(self, ref: SubKeyRef, first: BindingPlan, written: BindingPlan | None, now: BindingPlan) -> RepairItem:
        """The read before a write shows every Shield IP bound: by this repair's earlier write, or by someone else."""
        if written is None:
            return RepairItem(
                ref.resource,
                ref.label,
                Outcome.UNCHANGED,
                "bound to every Shield IP (the key's IP list changed since it was first read): nothing to change",
                now.before,
            )
        lost = [ip for ip in written.before if ip not in written.removed and ip not in now.before]
        if lost:
            return self._ended(ref, first, written, now.before, _lost(ref, first, now.before, lost))
        return self._done(ref, first, written, now.before)

    def _ended(
        self,
        ref: SubKeyRef,
        first: BindingPlan,
        written: BindingPlan | None,
        shown: tuple[str, ...] | None,
        item: RepairItem,
    ) -> RepairItem:
        """An attempt that stopped: after a write OKX accepted, the report says what the last read showed."""
        if written is None:
            return item
        record_problem = self._record(ref, first, shown, False)
        return RepairItem(
            item.resource,
            item.label,
            Outcome.UNCONFIRMED if item.outcome is not Outcome.FAILED else item.outcome,
            item.message + "; an earlier write of this repair went through, and " + _shown(shown) + record_problem,
            first.before,
            shown,
            remediation=item.remediation or "Check the key in OKX's API management; run the repair again to retry.",
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


def _reread(master: OkxClient, ref: SubKeyRef) -> tuple[str, ...] | None:
    """The key's IP list as OKX shows it now, or None when it cannot be read (never a guess)."""
    try:
        found = read_sub_key(master, ref)
    except OkxShieldError:
        return None
    return found.ip if found is not None else None


def _shown(shown: tuple[str, ...] | None) -> str:
    if shown is None:
        return "reading the key again failed, so what it holds now is not known"
    return "reading the key again shows " + (", ".join(shown) or "(no IP)")


def _verified(plan: BindingPlan, shown: tuple[str, ...]) -> str:
    """What the re-read shows of the plan: the Shield IPs bound, the IPs kept and the IPs removed."""
    kept = [ip for ip in plan.before if ip not in plan.removed and ip in shown]
    removed = [ip for ip in plan.removed if ip not in shown]
    text = f"bound Shield IP(s) {', '.join(plan.added)}" if plan.added else "the Shield IPs stay bound"
    if kept:
        text += f", kept {', '.join(kept)}"
    if removed:
        text += f"; removed {', '.join(removed)} as asked"
    return text


def _gone(ref: SubKeyRef) -> RepairItem:
    return RepairItem(
        ref.resource,
        ref.label,
        Outcome.FAILED,
        f"the master key finds no such key under sub-account {ref.sub_acct}; nothing was changed",
        remediation=SubAccountKeyNotFoundError.hint,
    )


def _not_bound(ref: SubKeyRef, plan: BindingPlan) -> RepairItem:
    return RepairItem(
        ref.resource,
        ref.label,
        Outcome.FAILED,
        f"asked to remove {', '.join(plan.not_bound)}, which the key does not have (it has "
        f"{', '.join(plan.before) or 'no IP'}); nothing was changed",
        plan.before,
        remediation="Name each IP to remove exactly as the key lists it (see 'before'), or leave it out.",
    )


def _lost(ref: SubKeyRef, first: BindingPlan, shown: tuple[str, ...], lost: list[str]) -> RepairItem:
    return RepairItem(
        ref.resource,
        ref.label,
        Outcome.UNCONFIRMED,
        f"the Shield IPs are bound, but {', '.join(lost)} no longer is: someone changed the key's IPs while the "
        "repair wrote them",
        first.before,
        shown,
        remediation=f"If {', '.join(lost)} should stay, add it again in OKX's API management.",
    )


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
