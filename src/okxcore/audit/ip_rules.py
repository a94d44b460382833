"""The audit's checks of a key's IP binding: bound to every Shield IP and nothing else, OKX's deletion of an
unbound key with trade or withdraw permission, and OKX's 20 IPs per key. How much each weighs is decided in
okxcore.findings; evaluate_key (rules.py) calls these."""

from __future__ import annotations

from okxcore.audit.models import OKX_MAX_IPS_PER_KEY, OKX_UNBOUND_DELETION_DAYS, KeySubject, KeyVerdict, Thresholds
from okxcore.audit.rule_text import days_text, subject_finding
from okxcore.egress import compare_binding
from okxcore.report import Finding


def ip_binding_findings(
    subject: KeySubject, verdict: KeyVerdict, thresholds: Thresholds, expected_ips: tuple[str, ...]
) -> list[Finding]:
    ips = subject.ips or ()
    shield = ", ".join(expected_ips) or "the Shield static IPs"
    if not ips:
        if subject.demo:
            return [
                subject_finding(
                    "audit.ip_binding:unbound_safe",
                    subject,
                    "bound to no IP; a demo key (not deleted by OKX), but whoever holds it can use it from anywhere",
                    observed="no IP bound",
                    expected=f"bound to {shield}",
                )
            ]
        if not subject.can_trade_or_withdraw:
            return [
                subject_finding(
                    "audit.ip_binding:unbound_safe",
                    subject,
                    "bound to no IP; read-only (not deleted by OKX), but whoever holds it can use it from anywhere",
                    observed="no IP bound",
                    expected=f"bound to {shield}",
                )
            ]
        return [_deletion_countdown(subject, verdict, thresholds, shield)]
    findings = [subject_finding("audit.ip_binding:bound", subject, f"bound to {len(ips)} IP(s)")]
    if not expected_ips:
        return findings
    # One rule for "bound" everywhere: the probe and the repairs compare with the same function.
    binding = compare_binding(ips, expected_ips)
    missing, unknown = binding.missing, binding.extra
    fix_prefix = (
        "The master key can rebind it (modify-apikey replaces the whole list): "
        if subject.origin == "sub-account"
        else "In OKX's API management, edit the key's IP whitelist: "
    )
    if missing:
        findings.append(
            subject_finding(
                "audit.shield_ips.missing",
                subject,
                f"not bound to Shield IP(s) {', '.join(missing)}: calls leaving from them fail with 50110 "
                "(Shield balances over both IPs, so about half of all calls)",
                observed="bound: " + ", ".join(ips),
                expected="bound: every Shield IP (" + shield + ")",
                remediation=fix_prefix + "add " + ", ".join(missing) + ".",
            )
        )
    if unknown:
        findings.append(
            subject_finding(
                "audit.shield_ips.unknown",
                subject,
                f"bound to {len(unknown)} IP(s) that are not Shield's: anyone calling from there with the "
                "key's credentials is let in",
                observed="not Shield's: " + ", ".join(unknown),
                expected="only the Shield IPs (" + shield + ")",
                remediation=fix_prefix + "remove the IPs you do not recognise.",
            )
        )
    return findings


def _deletion_countdown(subject: KeySubject, verdict: KeyVerdict, thresholds: Thresholds, shield: str) -> Finding:
    """Both readings of OKX's rule: 14 days after the last use, and 14 days after creation; the sooner wins."""
    readings: list[tuple[float, str]] = []
    if verdict.idle_days is not None:
        readings.append(
            (
                OKX_UNBOUND_DELETION_DAYS - verdict.idle_days,
                f"last use recorded {days_text(verdict.idle_days)} days ago",
            )
        )
    if verdict.age_days is not None and subject.created is not None:
        readings.append(
            (
                OKX_UNBOUND_DELETION_DAYS - verdict.age_days,
                f"created {days_text(verdict.age_days)} days ago ({subject.created.source})",
            )
        )
    perms = "/".join(sorted((subject.perm or frozenset()) & {"trade", "withdraw"}))
    remediation = f"Bind both Shield static IPs ({shield}) to the key: bound keys are not deleted. " + (
        "The master key can do it (modify-apikey)."
        if subject.origin == "sub-account"
        else "OKX: API management, edit the key, IP whitelist."
    )
    if not readings:
        verdict.days_until_deletion = None
        return subject_finding(
            "audit.ip_binding:countdown_unknown",
            subject,
            f"not bound to any IP while it has {perms} permission: OKX deletes such keys after 14 days, and "
            "neither its creation nor its last use is known",
            expected="bound to the Shield IPs",
            remediation=remediation,
        )
    days_left, basis = min(readings)
    verdict.days_until_deletion = days_left
    verdict.deletion_basis = basis
    if days_left <= thresholds.deletion_critical_days:
        countdown = "audit.ip_binding:countdown_critical"
    elif days_left <= thresholds.deletion_high_days:
        countdown = "audit.ip_binding:countdown_high"
    else:
        countdown = "audit.ip_binding:countdown_medium"
    if days_left <= 0:
        when = "past OKX's 14-day limit by the stricter reading: it may be deleted at any moment"
    else:
        when = f"about {days_text(days_left)} day(s) left before OKX deletes it"
    observed = "; ".join(f"{days_text(left)} day(s) left by {reason}" for left, reason in readings)
    note = " This audit's own call also counts as use for OKX; the countdown ignores it." if subject.use_tracked else ""
    return subject_finding(
        countdown,
        subject,
        f"not bound to any IP while it has {perms} permission: {when}.{note}",
        observed=observed,
        expected="bound to the Shield IPs",
        remediation=remediation,
    )


def ip_limit_findings(subject: KeySubject, thresholds: Thresholds) -> list[Finding]:
    count = len(subject.ips or ())
    if count < thresholds.ips_per_key_warn:
        return []
    at_limit = count >= OKX_MAX_IPS_PER_KEY
    return [
        subject_finding(
            "audit.limits.ips:at" if at_limit else "audit.limits.ips:near",
            subject,
            f"{count} of OKX's {OKX_MAX_IPS_PER_KEY} IPs per key are bound"
            + (": no IP can be added (59503)" if at_limit else ""),
            observed=f"{count} IPs",
            expected=f"fewer than {thresholds.ips_per_key_warn}",
        )
    ]
