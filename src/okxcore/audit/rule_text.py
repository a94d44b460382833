"""What the per-key rules (rules.py, ip_rules.py) share: a finding about a key, and days and dates as worded."""

from __future__ import annotations

from datetime import UTC, datetime

from okxcore.audit.models import KeySubject
from okxcore.findings import finding
from okxcore.report import Finding


def subject_finding(
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


def days_text(value: float) -> str:
    return f"{value:.1f}"


def iso_day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d")
