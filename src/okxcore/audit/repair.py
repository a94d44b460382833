"""The audit's repair step: the keys the audit judged unbound or missing a Shield IP are repaired through the
master key, and each repaired key is judged again with the IP list OKX shows afterwards, so that the report
describes the fleet as it is at the end of the run (the repair table keeps the before and after)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from okxcore.audit.models import KeySubject, KeyVerdict, Thresholds
from okxcore.audit.rules import evaluate_key
from okxcore.client import OkxClient
from okxcore.errors import IpNotAllowedError
from okxcore.keys.repair.binding import BindingRepairer, RepairRecorder, RepairResult, SubKeyRef, manual_item
from okxcore.keys.repair.modes import RepairMode
from okxcore.models import SubAccountApiKey

# The audit's own judgement decides what needs binding, less one case: a read-only or demo key without IPs is a
# LOW finding (it works from anywhere) but OKX keeps it, and binding it could lock out whoever uses it from
# elsewhere, so the repair leaves it to a person.
# OKX allows one modify-apikey per second: this many take about two minutes of the audit's 300 s timeout.
AUDIT_REPAIRS_PER_RUN = 100
NEEDS_BINDING = frozenset({"audit.ip_binding", "audit.shield_ips.missing"})


def needs_binding(verdict: KeyVerdict, shield_ips: tuple[str, ...]) -> bool:
    refused = verdict.subject.call_error
    if isinstance(refused, IpNotAllowedError) and refused.seen_ip in shield_ips:
        return True  # 50110 from a Shield IP: the key is bound, but not to the IP the call left from
    subject = verdict.subject
    if not subject.ips and (subject.demo or not subject.can_trade_or_withdraw):
        return False
    return any(f.is_problem and f.check_id in NEEDS_BINDING for f in verdict.findings)


def _after_repair(subject: KeySubject, ips: tuple[str, ...], listed: SubAccountApiKey | None) -> KeySubject:
    """The key as it is after a confirmed repair; a 50110 refusal is what the repair fixed."""
    refused_here = isinstance(subject.call_error, IpNotAllowedError)
    return replace(
        subject,
        ips=ips,
        perm=subject.perm if subject.perm is not None else (listed.perm if listed else None),
        call_error=None if refused_here else subject.call_error,
    )


@dataclass
class AuditRepair:
    verdicts: list[KeyVerdict]
    result: RepairResult


def _manual_reason(subject: KeySubject, master: OkxClient | None, master_uid: str) -> str:
    if master is None:
        return "no usable master key (master_secret) to rebind it with"
    if subject.origin == "master" or (master_uid and subject.uid == master_uid):
        return "it is the master account's own key, which OKX lets no API rebind"
    return "the master key does not list it: it is a main account's key or another master's sub-account key"


def repair_in_audit(
    verdicts: Sequence[KeyVerdict],
    listed: Mapping[str, SubAccountApiKey],
    master: OkxClient | None,
    *,
    mode: RepairMode,
    shield_ips: tuple[str, ...],
    recorder: RepairRecorder | None,
    thresholds: Thresholds,
    now_ms: int,
    master_uid: str = "",
) -> AuditRepair:
    """`listed` maps a verdict's resource to the master's listing of that key (only keys the master lists)."""
    refs: list[SubKeyRef] = []
    manual = []
    for verdict in verdicts:
        subject = verdict.subject
        if not needs_binding(verdict, shield_ips):
            continue
        key = listed.get(subject.resource)
        if key is None or master is None or not key.api_key:
            manual.append(
                manual_item(subject.resource, subject.label, _manual_reason(subject, master, master_uid), shield_ips)
            )
            continue
        refs.append(SubKeyRef(subject.resource, subject.label or key.label, key.sub_acct, key.api_key))
    result = RepairResult(mode)
    if master is not None and refs and shield_ips:
        repairer = BindingRepairer(master, shield_ips, mode, actor="audit function", recorder=recorder)
        result = repairer.repair(refs[:AUDIT_REPAIRS_PER_RUN])
        result.deferred = max(0, len(refs) - AUDIT_REPAIRS_PER_RUN)
    result.items.extend(manual)
    confirmed = result.confirmed_ips()
    judged = [
        evaluate_key(
            _after_repair(v.subject, confirmed[v.subject.resource], listed.get(v.subject.resource)),
            thresholds=thresholds,
            expected_ips=shield_ips,
            now_ms=now_ms,
        )
        if v.subject.resource in confirmed
        else v
        for v in verdicts
    ]
    return AuditRepair(judged, result)
