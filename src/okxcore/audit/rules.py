"""The audit's checks: which finding each key gets. How much each weighs is decided in okxcore.findings.

Everything here is pure: facts in (a `KeySubject`, thresholds, the expected Shield IPs, "now"), findings
out. The fleet runner gathers the facts; the report only sorts and renders what these rules said. The IP
binding checks are in ip_rules.py, the rotation-managed age in rotation_rules.py.

The severity policy, in words, is okxcore.findings' docstring.
"""

from __future__ import annotations

from okxcore.audit.ip_rules import ip_binding_findings, ip_limit_findings
from okxcore.audit.models import DAY_MS, KeySubject, KeyVerdict, Thresholds
from okxcore.audit.rotation_rules import managed_age_finding, rotation_failure_finding
from okxcore.audit.rule_text import days_text, iso_day, subject_finding
from okxcore.credentials import PURPOSE_PERMISSIONS
from okxcore.errors import (
    EnvironmentMismatchError,
    InvalidInputError,
    InvalidSignatureError,
    IpNotAllowedError,
    KeyGoneError,
    KeyInOtherRegionError,
    OkxShieldError,
    PassphraseError,
    ProxyError,
    RateLimitedError,
)
from okxcore.findings import error_finding
from okxcore.report import Finding

AUDIT_USE_NOTE = (
    "This audit's own signed call (account/config) counts as use for OKX and may restart OKX's inactivity "
    "clock; countdowns and dormancy use the last use okx-shield recorded for the bots, read before that "
    "call, so a dead bot stays visible."
)


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
        verdict.findings.append(subject_finding("audit.auth:ok", subject, "authenticated through Shield"))
    verdict.findings.extend(ip_binding_findings(subject, verdict, thresholds, expected_ips))
    verdict.findings.extend(_permissions(subject))
    verdict.findings.extend(_age_or_rotation(subject, verdict, thresholds, now_ms))
    verdict.findings.extend(_dormancy(subject, verdict, thresholds))
    verdict.findings.extend(ip_limit_findings(subject, thresholds))
    return verdict


def secret_finding(resource: str, error: Exception) -> Finding:
    """A secret that cannot be read or does not have the format: names the secret and the field."""
    if isinstance(error, InvalidInputError):
        return subject_finding(
            "audit.secret",
            resource,
            f"not audited: secret {error.message}",
            observed=f"field '{error.field}' {error.problem}",
            expected="a valid okx-shield key secret",
            remediation=error.hint,
        )
    return subject_finding(
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
    if isinstance(error, KeyInOtherRegionError):
        message = f"wrong region: this key belongs to {error.host}: set `region` to `{error.region}` in its secret"
        expected = f"the key authenticates at the host its secret names ({error.host} knows it)"
    elif isinstance(error, KeyGoneError):
        if error.regions_asked:
            message = "key gone: no OKX region knows this key: deleted (OKX's 14-day deletion, or revoked)"
        else:
            message = "key gone: probably OKX's 14-day deletion, or revoked"
        if error.wrong_region_possible:
            message += ", or the wrong regional host"
        if age_days is not None:
            observed += f" (key known for {days_text(age_days)} days)"
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


def _permissions(subject: KeySubject) -> list[Finding]:
    perm = subject.perm or frozenset()
    findings: list[Finding] = []
    if "withdraw" in perm:
        if "withdraw" in subject.allowed_permissions:
            findings.append(
                subject_finding(
                    "audit.permissions.withdraw:allowed",
                    subject,
                    "has withdraw permission, explicitly allowed by the secret's allowed_permissions",
                )
            )
        else:
            findings.append(
                subject_finding(
                    "audit.permissions.withdraw:risk",
                    subject,
                    "has withdraw permission: whoever holds the key can move funds out",
                    observed="perm: " + ",".join(sorted(perm)),
                    expected="no withdraw (unless allowed_permissions in the secret lists it)",
                )
            )
    else:
        findings.append(subject_finding("audit.permissions.withdraw:none", subject, "no withdraw permission"))
    if subject.purpose is not None:
        needed = PURPOSE_PERMISSIONS.get(subject.purpose, frozenset())
        excess = perm - needed - {"withdraw"}
        if excess:
            findings.append(
                subject_finding(
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
        return [subject_finding("audit.key_age:unknown", subject, "age unknown")]
    age = verdict.age_days
    observed = f"{days_text(age)} days old ({subject.created.source}, {iso_day(subject.created.at_ms)})"
    remediation = (
        "Create a new key bound to both Shield IPs, store it in the secret with created_at, then delete the old "
        "key in OKX. (Without created_at the age comes from the secret's creation date, which a rotation "
        "into the same secret does not change.)"
    )
    if age >= thresholds.rotation_overdue_days:
        return [
            subject_finding(
                "audit.key_age:overdue",
                subject,
                f"rotation overdue: {days_text(age)} days old",
                observed=observed,
                expected=f"younger than {thresholds.rotation_overdue_days} days",
                remediation=remediation,
            )
        ]
    if age >= thresholds.rotation_due_days:
        return [
            subject_finding(
                "audit.key_age:due",
                subject,
                f"rotation due: {days_text(age)} days old",
                observed=observed,
                expected=f"younger than {thresholds.rotation_due_days} days",
                remediation=remediation,
            )
        ]
    return [subject_finding("audit.key_age:ok", subject, f"{days_text(age)} days old", observed=observed)]


def _dormancy(subject: KeySubject, verdict: KeyVerdict, thresholds: Thresholds) -> list[Finding]:
    if not subject.use_tracked:
        return []  # listed-only keys are used outside okx-shield: nothing here knows their use
    dormant = "audit.dormancy:dormant_risky" if subject.can_trade_or_withdraw else "audit.dormancy:dormant_safe"
    secret_read = (
        f"; its secret was last read on {iso_day(subject.secret_last_accessed_ms)} (any read counts, this "
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
                subject_finding(
                    dormant,
                    subject,
                    f"dormant: unused for {days_text(verdict.idle_days)} days",
                    observed=f"last use okx-shield recorded: {iso_day(subject.product_last_use_ms or 0)}" + secret_read,
                    expected=f"used within {thresholds.dormant_days} days",
                    remediation=remediation,
                )
            ]
        return [subject_finding("audit.dormancy:ok", subject, f"last used {days_text(verdict.idle_days)} days ago")]
    if verdict.age_days is not None and verdict.age_days >= thresholds.dormant_days:
        return [
            subject_finding(
                dormant,
                subject,
                f"never used since it was created {days_text(verdict.age_days)} days ago",
                observed="no use recorded by okx-shield" + secret_read,
                expected=f"used within {thresholds.dormant_days} days",
                remediation=remediation,
            )
        ]
    return [subject_finding("audit.dormancy:new", subject, "new key, no use recorded yet")]
