"""The one report of a function that did not run because its input is invalid (its event, the schedule's Input, its
settings): the same title, one finding per problem naming the field, and what was not done, in every function."""

from __future__ import annotations

from okxcore.errors import InvalidInputError
from okxcore.findings import finding
from okxcore.report import Report, ReportType

# Each function's invalid-event row (one rule for all, okxcore.findings.rule.INVALID_EVENT).
INVALID_INPUT_CHECK: dict[ReportType, str] = {
    "probe": "probe.event",
    "audit": "audit.event",
    "trade": "trade.plan:invalid",
    "rotation": "rotation.event",
}


def invalid_input_report(
    report_type: ReportType,
    error: InvalidInputError,
    *,
    environment: str,
    not_done: str,
    notes: tuple[str, ...] = (),
) -> Report:
    """`not_done`: what did not happen, as a sentence ("Nothing was checked."); `notes`: lines after it."""
    problems = error.problems
    fields = ", ".join(f"'{field}'" for field, _ in problems)
    return Report(
        report_type=report_type,
        environment=environment,
        title=f"did not run: invalid {error.source}, field {fields}",
        findings=[
            finding(
                INVALID_INPUT_CHECK[report_type],
                field,
                f"{error.source}: field '{field}': {problem}",
                remediation=error.hint,
            )
            for field, problem in problems
        ],
        summary=[f"{not_done} Fix the {error.source} (see the findings) and run again.", *notes],
        details={"source": error.source, "problems": [{"field": f, "problem": p} for f, p in problems]},
    )
