"""The product's one report model: what every Lambda publishes to SNS and returns.

A finding says what was observed, what was expected, and how to fix it. Reports render to a text body
for people (SNS email) that always fits one SNS message; the full result is the function's return value.
Findings carry labels only, never a key, secret, passphrase or proxy password.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

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
        return list(Severity).index(self)


class Status(StrEnum):
    PASS = "PASS"  # noqa: S105 - a check outcome, not a password
    WARN = "WARN"
    FAIL = "FAIL"
    ERROR = "ERROR"


class Overall(StrEnum):
    OK = "OK"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"


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

    @property
    def is_problem(self) -> bool:
        return self.status is not Status.PASS


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
    def overall(self) -> Overall:
        problems = [f for f in self.findings if f.is_problem]
        if any(f.severity.rank >= Severity.HIGH.rank or f.status is Status.ERROR for f in problems):
            return Overall.CRITICAL
        if any(f.severity.rank >= Severity.LOW.rank for f in problems):
            return Overall.WARNING
        return Overall.OK

    def counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in Severity}
        for finding in self.findings:
            if finding.is_problem:
                out[finding.severity.value] += 1
        return out

    def worst_first(self) -> list[Finding]:
        return sorted(self.findings, key=lambda f: (-f.severity.rank, f.status is Status.PASS, f.resource))

    def subject(self, *, prefix: str = "okx-shield") -> str:
        text = f"[{self.overall.value}] {prefix} {self.report_type} ({self.environment}): {self.title}"
        return _single_line(text)[:SUBJECT_LIMIT]

    def render_text(self, *, budget_bytes: int = TEXT_BUDGET_BYTES) -> str:
        """A body for people; it stops adding findings (and says how many it left out) at the budget."""
        head = [
            f"{self.title}",
            f"Overall: {self.overall.value}   Environment: {self.environment}   "
            f"Generated: {self.generated_at.isoformat(timespec='seconds')}",
            "Problems by severity: "
            + (", ".join(f"{k} {v}" for k, v in reversed(self.counts().items()) if v) or "none"),
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

    def as_result(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data["overall"] = self.overall.value
        data["counts"] = self.counts()
        return data


def _finding_lines(finding: Finding) -> list[str]:
    lines = [f"- [{finding.severity.value}/{finding.status.value}] {finding.resource}: {finding.message}"]
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
