"""The product's one report model: what every Lambda publishes to SNS and returns.

A finding says what was observed, what was expected, and how to fix it. Reports render to a text body
for people (SNS email) that always fits one SNS message; the full result is the function's return value.
Findings carry labels only, never a key, secret, passphrase or proxy password.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SNS_MESSAGE_LIMIT_BYTES = 256 * 1024
# Attributes count against SNS's limit too; leave room for them and for multi-byte characters.
TEXT_BUDGET_BYTES = 200 * 1024
# SNS: "less than 100 characters", UTF-8, no line breaks.
SUBJECT_LIMIT = 99
# The plain-text body's width: e-mail clients wrap longer lines and break the tables.
BODY_WIDTH = 100
CUT = "…"
JSON_MARKER = "--- for machines (JSON) ---"
# details values shorter than this go into the JSON section; longer ones stay in the function's return value.
JSON_DETAIL_MAX = 200


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
        """The severity, then the title (each function writes it outcome first); a cut subject ends with "…"."""
        text = _single_line(f"[{self.severity}] {prefix} {self.report_type} ({self.environment}): {self.title}")
        return shorten(text, SUBJECT_LIMIT)

    def render_text(self, *, budget_bytes: int = TEXT_BUDGET_BYTES) -> str:
        """A body for people, at most BODY_WIDTH columns, then the JSON section for machines. It stops adding
        findings (and says how many it left out) at the budget."""
        head = [
            f"{self.title}",
            f"Severity: {self.severity}   Problems by severity: "
            + (", ".join(f"{k} {v}" for k, v in reversed(self.counts().items()) if v) or "none"),
            f"Run: {self.run_line()}",
            f"Environment: {self.environment}   Generated: {self.generated_at.isoformat(timespec='seconds')}",
            "",
        ]
        lines = [*head, *self.summary, ""] if self.summary else head
        for name, rows in self.tables.items():
            lines.extend(_table(name, rows))
            lines.append("")
        lines = [wrapped for line in lines for wrapped in _wrap(line)]
        machine = self.machine_summary()
        used = _size(lines) + len(_json(machine)) + 200
        problems = [f for f in self.worst_first() if f.is_problem]
        shown: list[Finding] = []
        if problems:
            lines.append("Findings, worst first:")
        for finding in problems:
            block = [wrapped for line in _finding_lines(finding) for wrapped in _wrap(line)]
            size = _size(block) + len(_json(_machine_finding(finding))) + 4
            if used + size > budget_bytes - 200:
                break
            lines.extend(block)
            used += size
            shown.append(finding)
        if len(shown) < len(problems):
            lines.extend(
                _wrap(
                    f"... {len(problems) - len(shown)} more finding(s) left out to fit one SNS message; "
                    "the function's return value has them all."
                )
            )
        passed = len(self.findings) - len(problems)
        if passed:
            lines.append(f"{passed} check(s) passed.")
        machine["problems"] = [_machine_finding(f) for f in shown]
        machine["problems_left_out"] = len(problems) - len(shown)
        text = "\n".join(lines)
        encoded = text.encode()
        limit = budget_bytes - len(_json(machine)) - 100
        if len(encoded) > limit:  # the tables alone were too big: cut hard, on a character boundary
            text = encoded[: limit - 100].decode(errors="ignore") + "\n... (cut to fit one SNS message)"
        return f"{text}\n\n{JSON_MARKER}\n{_json(machine)}"

    def machine_summary(self) -> dict[str, Any]:
        """The JSON section's head: what a filter or a script needs without parsing the text (the problems are
        added by render_text, as many as the text shows)."""
        details = {
            name: value
            for name, value in self.details.items()
            if isinstance(value, str | int | float | bool) and len(str(value)) <= JSON_DETAIL_MAX
        }
        return {
            "report": self.report_type,
            "environment": self.environment,
            "title": self.title,
            "generated_at": self.generated_at.isoformat(timespec="seconds"),
            **self.verdict(),
            "details": details,
        }

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


def _machine_finding(finding: Finding) -> dict[str, Any]:
    return {
        "check": finding.check_id,
        "severity": finding.severity.value,
        "status": finding.status.value,
        "resource": finding.resource,
        "fails_run": finding.fails_run,
    }


def _json(value: dict[str, Any]) -> str:
    """Valid JSON with one field, one details entry or one problem per line: short lines, few of them."""

    def one(item: Any) -> str:
        return json.dumps(item, ensure_ascii=False, separators=(", ", ": "))

    fields = []
    for name, item in value.items():
        if isinstance(item, dict) and item and name != "counts":
            inner = ",\n  ".join(f"{one(key)}: {one(entry)}" for key, entry in item.items())
            fields.append(f" {one(name)}: {{\n  {inner}\n }}")
        elif isinstance(item, list) and item:
            inner = ",\n  ".join(one(entry) for entry in item)
            fields.append(f" {one(name)}: [\n  {inner}\n ]")
        else:
            fields.append(f" {one(name)}: {one(item)}")
    return "{\n" + ",\n".join(fields) + "\n}"


def _table(name: str, rows: list[list[str]]) -> list[str]:
    """The table, as wide as BODY_WIDTH at most: the right-hand columns that do not fit move, per row, to an
    indented line under it ("ordId 7000..., clOrdId osi3...")."""
    if not rows:
        return []
    header = [str(cell) for cell in rows[0]]
    cells = [[str(row[i]) if i < len(row) else "" for i in range(len(header))] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    kept = len(header)
    while kept > 2 and 2 + sum(widths[:kept]) + 2 * (kept - 1) > BODY_WIDTH:
        kept -= 1
    out = [f"{name}:"]
    for index, row in enumerate(cells):
        out.append("  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:kept])).rstrip())
        if index == 0:
            out.append("  " + "  ".join("-" * w for w in widths[:kept]))
            continue
        moved = ", ".join(f"{header[i]} {row[i]}" for i in range(kept, len(header)) if row[i] not in ("", "-"))
        if moved:
            out.extend(_wrap("      " + moved))
    return out


def _wrap(line: str, width: int = BODY_WIDTH) -> list[str]:
    """A line of at most `width` columns, continued indented under its first word (a finding's text, a list
    item); a word longer than the width (a URI) is broken."""
    if len(line) <= width:
        return [line]
    body = line.lstrip(" ")
    indent = " " * (len(line) - len(body))
    follow = indent + "  "
    return textwrap.wrap(
        body, width, initial_indent=indent, subsequent_indent=follow, break_long_words=True, break_on_hyphens=False
    )


def shorten(text: str, width: int) -> str:
    """`text`, or its first width-1 characters and "…" """
    return text if len(text) <= width else text[: width - 1].rstrip() + CUT


_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[^:]*:[0-9]*:secret:(?P<name>.+?)(-[A-Za-z0-9]{6})?$")


def secret_label(name_or_arn: str) -> str:
    """A secret's name as a person writes it: an ARN becomes the name it ends in (without Secrets Manager's
    six-character suffix)."""
    found = _SECRET_ARN.match(name_or_arn)
    return found.group("name") if found else name_or_arn


def _size(lines: list[str]) -> int:
    return sum(len(line.encode()) + 1 for line in lines)


def _single_line(text: str) -> str:
    return " ".join(text.split())


@dataclass(frozen=True)
class MetricPoint:
    """One CloudWatch value, the one shape every function's metrics take (the handlers emit them through
    Powertools). No dimension: none may derive from a key, label or secret."""

    name: str
    unit: str  # a CloudWatch unit name ("Count", "Milliseconds", "None")
    value: float


def report_metrics(report: Report) -> list[MetricPoint]:
    """What every published report adds: its CRITICAL and HIGH findings, each counted as what it is, and whether
    the run failed (1) or not (0), apart from any severity."""
    counts = report.counts()
    return [
        MetricPoint("CriticalFindings", "Count", float(counts[Severity.CRITICAL.value])),
        MetricPoint("HighFindings", "Count", float(counts[Severity.HIGH.value])),
        MetricPoint("RunFailed", "Count", 1.0 if report.failed else 0.0),
    ]
