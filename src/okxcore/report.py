"""The product's one report model: what every Lambda publishes to SNS and returns.

A finding says what was observed, what was expected, and how to fix it. Reports render to a text body
for people (SNS email) that always fits one SNS message; the full result is the function's return value.
Findings carry labels only, never a key, secret, passphrase or proxy password.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SNS_MESSAGE_LIMIT_BYTES = 256 * 1024
# Attributes count against SNS's limit too; leave room for them and for multi-byte characters.
TEXT_BUDGET_BYTES = 200 * 1024
SUBJECT_LIMIT = 100


class Severity(StrEnum):
    INFO = "INFO"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANKS[self]


# Declaration order; looked up, not recomputed: a 1,000-key audit asks for a rank about 25,000 times.
_SEVERITY_RANKS = {severity: rank for rank, severity in enumerate(Severity)}


class Status(StrEnum):
    PASS = "PASS"  # noqa: S105 - a check outcome, not a password
    WARN = "WARN"
    FAIL = "FAIL"
    ERROR = "ERROR"


ReportType = Literal["probe", "audit", "trade", "rotation"]


class Finding(BaseModel):
    model_config = ConfigDict(frozen=True)

    check_id: str
    severity: Severity
    status: Status
    resource: str  # a label: key label, secret name, "egress"; never the key itself
    message: str
    observed: str = ""
    expected: str = ""
    remediation: str = ""
    # The run did not do its job because of this: a check that could not run (every ERROR), or, decided per row
    # in okxcore.findings, a FAIL that means the same (a rotation that failed, a trade whose orders were not
    # placed). Whatever the severity.
    fails_run: bool = False

    @model_validator(mode="before")
    @classmethod
    def _errors_fail_the_run(cls, data: Any) -> Any:
        if isinstance(data, dict) and "fails_run" not in data:
            return {**data, "fails_run": str(data.get("status")) == Status.ERROR.value}
        return data

    @property
    def is_problem(self) -> bool:
        return self.status is not Status.PASS


# A report's severity when it has no problem at all.
NO_PROBLEM = "OK"


def worst_severity(findings: Iterable[Finding]) -> Severity | None:
    """The severity of the worst problem (a finding that did not pass), or None when every check passed. The one
    rule for a report's severity, a key's worst and a title's "worst"."""
    return max((f.severity for f in findings if f.is_problem), key=lambda s: s.rank, default=None)


class Report(BaseModel):
    report_type: ReportType
    environment: str = "dev"
    title: str
    generated_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    findings: list[Finding] = Field(default_factory=list)
    summary: list[str] = Field(default_factory=list)  # short lines shown before the findings
    tables: dict[str, list[list[str]]] = Field(default_factory=dict)  # compact tables, first row = header
    details: dict[str, Any] = Field(default_factory=dict)  # machine-readable extras (return value only)

    @property
    def severity(self) -> str:
        """The worst finding's severity (CRITICAL ... INFO), or "OK" when nothing is wrong: the one severity the
        subject, the SNS attribute, the metric and the body show. Whether the run failed is `failed`, apart."""
        worst = worst_severity(self.findings)
        return worst.value if worst is not None else NO_PROBLEM

    @property
    def failed(self) -> bool:
        """The run did not do all of its job (a finding that fails the run: a check that could not run, a step
        that failed, an order not placed, an event the function could not use). Its own signal, whatever the
        severity."""
        return any(f.fails_run for f in self.findings)

    def failures(self) -> int:
        return sum(1 for f in self.findings if f.fails_run)

    def counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in Severity}
        for finding in self.findings:
            if finding.is_problem:
                out[finding.severity.value] += 1
        return out

    def worst_first(self) -> list[Finding]:
        return sorted(self.findings, key=lambda f: (-f.severity.rank, f.status is Status.PASS, f.resource))

    def subject(self, *, prefix: str = "okx-shield") -> str:
        text = f"[{self.severity}] {prefix} {self.report_type} ({self.environment}): {self.title}"
        return _single_line(text)[:SUBJECT_LIMIT]

    def render_text(self, *, budget_bytes: int = TEXT_BUDGET_BYTES) -> str:
        """A body for people; it stops adding findings (and says how many it left out) at the budget."""
        head = [
            f"{self.title}",
            f"Severity: {self.severity}   Problems by severity: "
            + (", ".join(f"{k} {v}" for k, v in reversed(self.counts().items()) if v) or "none"),
            f"Run: {self.run_line()}",
            f"Environment: {self.environment}   Generated: {self.generated_at.isoformat(timespec='seconds')}",
            "",
            *self.summary,
        ]
        lines = [*head, ""]
        for name, rows in self.tables.items():
            lines.extend(_table(name, rows))
            lines.append("")
        used = _size(lines)
        problems = [f for f in self.worst_first() if f.is_problem]
        shown = 0
        if problems:
            lines.append("Findings, worst first:")
        for finding in problems:
            block = _finding_lines(finding)
            if used + _size(block) > budget_bytes - 200:
                break
            lines.extend(block)
            used += _size(block)
            shown += 1
        if shown < len(problems):
            lines.append(
                f"... {len(problems) - shown} more finding(s) left out to fit one SNS message; "
                "the function's return value has them all."
            )
        passed = len(self.findings) - len(problems)
        if passed:
            lines.append(f"{passed} check(s) passed.")
        text = "\n".join(lines)
        encoded = text.encode()
        if len(encoded) > budget_bytes:  # the tables alone were too big: cut hard, on a character boundary
            text = encoded[: budget_bytes - 100].decode(errors="ignore") + "\n... (cut to fit one SNS message)"
        return text

    def run_line(self) -> str:
        failures = self.failures()
        if not failures:
            return "complete"
        return f"FAILED: {failures} finding(s) marked 'run failed' say what was not done"

    def as_result(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data.update(self.verdict())
        return data

    def verdict(self) -> dict[str, Any]:
        """The report's severity, whether the run failed, and its problems by severity (the result's head)."""
        return {"severity": self.severity, "failed": self.failed, "counts": self.counts()}


def _finding_lines(finding: Finding) -> list[str]:
    marks = f"{finding.severity.value}/{finding.status.value}" + (", run failed" if finding.fails_run else "")
    lines = [f"- [{marks}] {finding.resource}: {finding.message}"]
    if finding.observed:
        lines.append(f"    observed: {finding.observed}")
    if finding.expected:
        lines.append(f"    expected: {finding.expected}")
    if finding.remediation:
        lines.append(f"    fix: {finding.remediation}")
    lines.append(f"    check: {finding.check_id}")
    return lines


def _table(name: str, rows: list[list[str]]) -> list[str]:
    if not rows:
        return []
    widths = [max(len(str(row[i])) if i < len(row) else 0 for row in rows) for i in range(len(rows[0]))]
    out = [f"{name}:"]
    for index, row in enumerate(rows):
        out.append("  " + "  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if index == 0:
            out.append("  " + "  ".join("-" * w for w in widths))
    return out


def _size(lines: list[str]) -> int:
    return sum(len(line.encode()) + 1 for line in lines)


def _single_line(text: str) -> str:
    return " ".join(text.split())


def report_metrics(report: Report) -> list[tuple[str, str, float]]:
    """(name, CloudWatch unit, value) every published report adds: its CRITICAL and HIGH findings, each counted
    as what it is, and whether the run failed (1) or not (0), apart from any severity."""
    counts = report.counts()
    return [
        ("CriticalFindings", "Count", float(counts[Severity.CRITICAL.value])),
        ("HighFindings", "Count", float(counts[Severity.HIGH.value])),
        ("RunFailed", "Count", 1.0 if report.failed else 0.0),
    ]
