"""The audit's checks: which finding each key gets. How much each weighs is decided in okxcore.findings.

Everything here is pure: facts in (a `KeySubject`, thresholds, the expected Shield IPs, "now"), findings
out. The fleet runner gathers the facts; the report only sorts and renders what these rules said.

The severity policy, in words, is okxcore.findings' docstring.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

from okxcore.audit.models import (
    DAY_MS,
    OKX_MAX_IPS_PER_KEY,
    OKX_UNBOUND_DELETION_DAYS,
    KeySubject,
    KeyVerdict,
    Thresholds,
)
from okxcore.audit.rotation_rules import managed_age_finding, rotation_failure_finding
from okxcore.credentials import PURPOSE_PERMISSIONS
from okxcore.errors import (
    EnvironmentMismatchError,
    InvalidInputError,
    InvalidSignatureError,
    IpNotAllowedError,
    KeyGoneError,
    OkxShieldError,
    PassphraseError,
    ProxyError,
    RateLimitedError,
)
from okxcore.findings import error_finding, finding
from okxcore.report import Finding

AUDIT_USE_NOTE = (
    "This audit's own signed call (account/config) counts as use for OKX and may restart OKX's inactivity "
    "clock; countdowns and dormancy use the last use okx-shield recorded for the bots, read before that "
    "call, so a dead bot stays visible."
)


def _finding(
    key: str,
    subject: KeySubject | str,
    message: str,
    *,
    observed: str = "",
    expected: str = "",
    remediation: str | None = None,
) -> Finding:
    """A finding weighed by okxcore.findings (`remediation=None` takes the table's fix)."""
    resource = subject if isinstance(subject, str) else subject.resource
    return finding(key, resource, message, observed=observed, expected=expected, remediation=remediation)


def _days(value: float) -> str:
    return f"{value:.1f}"


def _iso_day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d")


# --- one key ------------------------------------------------------------------------------------


def evaluate_key(
    subject: KeySubject, *, thresholds: Thresholds, expected_ips: tuple[str, ...], now_ms: int
) -> KeyVerdict:
    """Every check of one key. A key that could not be audited gets exactly one finding saying why."""
    verdict = KeyVerdict(subject=subject)
    if subject.created is not None:
        verdict.age_days = max(0.0, (now_ms - subject.created.at_ms) / DAY_MS)
    if subject.use_tracked and subject.product_last_use_ms is not None:
        verdict.idle_days = max(0.0, (now_ms - subject.product_last_use_ms) / DAY_MS)
    if subject.secret_error is not None:
        verdict.findings.append(secret_finding(subject.resource, subject.secret_error))
        return verdict
    if subject.call_error is not None:
        verdict.findings.append(call_error_finding(subject, subject.call_error, verdict.age_days))
        return verdict
    if subject.perm is None or subject.ips is None:
        return verdict
    if subject.origin != "sub-account":
        verdict.findings.append(_finding("audit.auth:ok", subject, "authenticated through Shield"))
    verdict.findings.extend(_ip_binding(subject, verdict, thresholds, expected_ips))
    verdict.findings.extend(_permissions(subject))
    verdict.findings.extend(_age_or_rotation(subject, verdict, thresholds, now_ms))
    verdict.findings.extend(_dormancy(subject, verdict, thresholds))
    verdict.findings.extend(_ip_limit(subject, thresholds))
    return verdict


def secret_finding(resource: str, error: Exception) -> Finding:
    """A secret that cannot be read or does not have the format: names the secret and the field."""
    if isinstance(error, InvalidInputError):
        return _finding(
            "audit.secret",
            resource,
            f"not audited: secret {error.source}: field '{error.field}': {error.problem}",
            observed=f"field '{error.field}' {error.problem}",
            expected="a valid okx-shield key secret",
            remediation=error.hint,
        )
    return _finding(
        "audit.secret",
        resource,
        f"not audited: the secret could not be loaded ({type(error).__name__})",
    )


def call_error_finding(subject: KeySubject, error: Exception, age_days: float | None = None) -> Finding:
    """What OKX (or the way to it) answered instead of the key's configuration; okxcore.findings weighs it."""
    code = getattr(error, "code", "")
    observed = error.message if isinstance(error, OkxShieldError) else type(error).__name__
    expected = "the key authenticates"
    remediation = None  # the error's own hint
    if isinstance(error, KeyGoneError):
        message = "key gone: probably OKX's 14-day deletion, or revoked"
        if error.wrong_region_possible:
            message += ", or the wrong regional host"
        if age_days is not None:
            observed += f" (key known for {_days(age_days)} days)"
    elif isinstance(error, InvalidSignatureError | PassphraseError):
        which = "API secret" if isinstance(error, InvalidSignatureError) else "passphrase"
        message = f"secret or passphrase wrong: OKX rejected the {which} ({code})"
    elif isinstance(error, EnvironmentMismatchError):
        message = f"demo/live mismatch: the secret says demo={str(subject.demo).lower()} ({code})"
        expected = "the secret's 'demo' matches how the key was created"
    elif isinstance(error, IpNotAllowedError):
        seen = error.seen_ip or "an unnamed IP"
        message = f"bound to other IPs: OKX saw the call from {seen}, which is not bound to this key"
        observed = f"OKX saw {seen} ({code})"
        expected = "the key is bound to every Shield static IP"
    else:
        expected = "OKX answers account/config"
        if isinstance(error, RateLimitedError):
            message = "not audited: OKX kept answering 'rate limited' after every retry"
        elif isinstance(error, ProxyError):
            message = "not audited: the Shield proxy could not carry the call"
        elif isinstance(error, OkxShieldError):
            message = f"not audited: {type(error).__name__}"
        else:  # an unexpected failure: only its type, its text might carry anything
            message = f"not audited: internal error ({type(error).__name__})"
        hint = error.hint if isinstance(error, OkxShieldError) else ""
        remediation = hint or "Retry the audit; if it persists, check the function's logs."
    return error_finding(
        "audit.auth", error, subject.resource, message, observed=observed, expected=expected, remediation=remediation
    )


def _ip_binding(
    subject: KeySubject, verdict: KeyVerdict, thresholds: Thresholds, expected_ips: tuple[str, ...]
) -> list[Finding]:
    ips = subject.ips or ()
    shield = ", ".join(expected_ips) or "the Shield static IPs"
    if not ips:
        if subject.demo:
            return [
                _finding(
                    "audit.ip_binding:exempt",
                    subject,
                    "not bound to an IP; demo-trading keys are not deleted by OKX",
                )
            ]
        if not subject.can_trade_or_withdraw:
            return [
                _finding(
                    "audit.ip_binding:exempt",
                    subject,
                    "not bound to an IP; read-only keys are not deleted by OKX",
                )
            ]
        return [_deletion_countdown(subject, verdict, thresholds, shield)]
    findings = [_finding("audit.ip_binding:bound", subject, f"bound to {len(ips)} IP(s)")]
    if not expected_ips:
        return findings
    missing = [ip for ip in expected_ips if not _covered(ip, ips)]
    unknown = [entry for entry in ips if not any(_covered(ip, (entry,)) for ip in expected_ips)]
    fix_prefix = (
        "The master key can rebind it (modify-apikey replaces the whole list): "
        if subject.origin == "sub-account"
        else "In OKX's API management, edit the key's IP whitelist: "
    )
    if missing:
        findings.append(
            _finding(
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
            _finding(
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


def _covered(ip: str, bound: tuple[str, ...]) -> bool:
    """Is the IP bound, directly or through a CIDR entry (OKX accepts both)?"""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip in bound
    for entry in bound:
        try:
            if address in ipaddress.ip_network(entry.strip(), strict=False):
                return True
        except ValueError:
            if entry.strip() == ip:
                return True
    return False


def _deletion_countdown(subject: KeySubject, verdict: KeyVerdict, thresholds: Thresholds, shield: str) -> Finding:
    """Both readings of OKX's rule: 14 days after the last use, and 14 days after creation; the sooner wins."""
    readings: list[tuple[float, str]] = []
    if verdict.idle_days is not None:
        readings.append(
            (OKX_UNBOUND_DELETION_DAYS - verdict.idle_days, f"last use recorded {_days(verdict.idle_days)} days ago")
        )
    if verdict.age_days is not None and subject.created is not None:
        readings.append(
            (
                OKX_UNBOUND_DELETION_DAYS - verdict.age_days,
                f"created {_days(verdict.age_days)} days ago ({subject.created.source})",
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
        return _finding(
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
        when = f"about {_days(days_left)} day(s) left before OKX deletes it"
    observed = "; ".join(f"{_days(left)} day(s) left by {reason}" for left, reason in readings)
    note = " This audit's own call also counts as use for OKX; the countdown ignores it." if subject.use_tracked else ""
    return _finding(
        countdown,
        subject,
        f"not bound to any IP while it has {perms} permission: {when}.{note}",
        observed=observed,
        expected="bound to the Shield IPs",
        remediation=remediation,
    )


def _permissions(subject: KeySubject) -> list[Finding]:
    perm = subject.perm or frozenset()
    findings: list[Finding] = []
    if "withdraw" in perm:
        if "withdraw" in subject.allowed_permissions:
            findings.append(
                _finding(
                    "audit.permissions.withdraw:allowed",
                    subject,
                    "has withdraw permission, explicitly allowed by the secret's allowed_permissions",
                )
            )
        else:
            findings.append(
                _finding(
                    "audit.permissions.withdraw:risk",
                    subject,
                    "has withdraw permission: whoever holds the key can move funds out",
                    observed="perm: " + ",".join(sorted(perm)),
                    expected="no withdraw (unless allowed_permissions in the secret lists it)",
                )
            )
    else:
        findings.append(_finding("audit.permissions.withdraw:none", subject, "no withdraw permission"))
    if subject.purpose is not None:
        needed = PURPOSE_PERMISSIONS.get(subject.purpose, frozenset())
        excess = perm - needed - {"withdraw"}
        if excess:
            findings.append(
                _finding(
                    "audit.permissions.purpose",
                    subject,
                    f"has {', '.join(sorted(excess))} permission, more than its declared purpose "
                    f"'{subject.purpose}' needs",
                    observed="perm: " + ",".join(sorted(perm)),
                    expected="perm: " + ",".join(sorted(needed)),
                )
            )
    return findings


def _age_or_rotation(subject: KeySubject, verdict: KeyVerdict, thresholds: Thresholds, now_ms: int) -> list[Finding]:
    """A key on a healthy rotation schedule is not "rotation due"; a failed rotation is its own finding."""
    view = subject.rotation
    if view is None:
        return _age(subject, verdict, thresholds)
    failure = rotation_failure_finding(subject.resource, view)
    age = verdict.age_days
    if age is not None and view.healthy(now_ms=now_ms, age_days=age, overdue_days=thresholds.rotation_overdue_days):
        return [managed_age_finding(subject.resource, view, age)]
    return _age(subject, verdict, thresholds) + ([failure] if failure else [])


def _age(subject: KeySubject, verdict: KeyVerdict, thresholds: Thresholds) -> list[Finding]:
    if verdict.age_days is None or subject.created is None:
        return [_finding("audit.key_age:unknown", subject, "age unknown")]
    age = verdict.age_days
    observed = f"{_days(age)} days old ({subject.created.source}, {_iso_day(subject.created.at_ms)})"
    remediation = (
        "Create a new key bound to both Shield IPs, store it in the secret with created_at, then delete the old "
        "key in OKX. (Without created_at the age comes from the secret's creation date, which a rotation "
        "into the same secret does not change.)"
    )
    if age >= thresholds.rotation_overdue_days:
        return [
            _finding(
                "audit.key_age:overdue",
                subject,
                f"rotation overdue: {_days(age)} days old",
                observed=observed,
                expected=f"younger than {thresholds.rotation_overdue_days} days",
                remediation=remediation,
            )
        ]
    if age >= thresholds.rotation_due_days:
        return [
            _finding(
                "audit.key_age:due",
                subject,
                f"rotation due: {_days(age)} days old",
                observed=observed,
                expected=f"younger than {thresholds.rotation_due_days} days",
                remediation=remediation,
            )
        ]
    return [_finding("audit.key_age:ok", subject, f"{_days(age)} days old", observed=observed)]


def _dormancy(subject: KeySubject, verdict: KeyVerdict, thresholds: Thresholds) -> list[Finding]:
    if not subject.use_tracked:
        return []  # listed-only keys are used outside okx-shield: nothing here knows their use
    dormant = "audit.dormancy:dormant_risky" if subject.can_trade_or_withdraw else "audit.dormancy:dormant_safe"
    secret_read = (
        f"; its secret was last read on {_iso_day(subject.secret_last_accessed_ms)} (any read counts, this "
        "audit's included)"
        if subject.secret_last_accessed_ms is not None
        else "; its secret has no recorded read"
    )
    remediation = (
        "If a bot should be using this key, check that it runs and calls OKX through okx-shield (those calls are "
        "recorded); if the key is no longer needed, delete it in OKX and remove the secret."
    )
    if verdict.idle_days is not None:
        if verdict.idle_days >= thresholds.dormant_days:
            return [
                _finding(
                    dormant,
                    subject,
                    f"dormant: unused for {_days(verdict.idle_days)} days",
                    observed=f"last use okx-shield recorded: {_iso_day(subject.product_last_use_ms or 0)}"
                    + secret_read,
                    expected=f"used within {thresholds.dormant_days} days",
                    remediation=remediation,
                )
            ]
        return [_finding("audit.dormancy:ok", subject, f"last used {_days(verdict.idle_days)} days ago")]
    if verdict.age_days is not None and verdict.age_days >= thresholds.dormant_days:
        return [
            _finding(
                dormant,
                subject,
                f"never used since it was created {_days(verdict.age_days)} days ago",
                observed="no use recorded by okx-shield" + secret_read,
                expected=f"used within {thresholds.dormant_days} days",
                remediation=remediation,
            )
        ]
    return [_finding("audit.dormancy:new", subject, "new key, no use recorded yet")]


def _ip_limit(subject: KeySubject, thresholds: Thresholds) -> list[Finding]:
    count = len(subject.ips or ())
    if count < thresholds.ips_per_key_warn:
        return []
    at_limit = count >= OKX_MAX_IPS_PER_KEY
    return [
        _finding(
            "audit.limits.ips:at" if at_limit else "audit.limits.ips:near",
            subject,
            f"{count} of OKX's {OKX_MAX_IPS_PER_KEY} IPs per key are bound"
            + (": no IP can be added (59503)" if at_limit else ""),
            observed=f"{count} IPs",
            expected=f"fewer than {thresholds.ips_per_key_warn}",
        )
    ]
