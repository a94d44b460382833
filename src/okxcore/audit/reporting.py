"""The audit's one report per run, and the metrics drawn from it.

The rules decide every finding; this module only orders, summarises and budgets: the per-key table is cut
to a fixed share of the SNS message (worst keys first) so that the findings always have room, whatever the
fleet size. The full per-key result is in `details` (the function's return value).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from okxcore.audit.models import AuditRequest, FleetStats, KeyVerdict
from okxcore.audit.rules import AUDIT_USE_NOTE
from okxcore.errors import InvalidInputError
from okxcore.invalid_input import invalid_input_report
from okxcore.report import Finding, MetricPoint, Report, Severity

# The table gets at most this share of the text body (Report.render_text budgets ~200 KiB in all).
TABLE_BUDGET_BYTES = 48 * 1024
TABLE_KEY_WIDTH = 48
TABLE_HEADER = ["key", "worst", "IPs", "perm", "age d", "deletes in d", "idle d"]


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _perm(perm: frozenset[str] | None) -> str:
    if perm is None:
        return "?"
    return "".join(letter for name, letter in (("read_only", "r"), ("trade", "t"), ("withdraw", "w")) if name in perm)


def _short(text: str, width: int = TABLE_KEY_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _sort_key(verdict: KeyVerdict) -> tuple[int, float, str]:
    worst = verdict.worst
    rank = worst.rank if worst is not None else -1
    deletion = verdict.days_until_deletion if verdict.days_until_deletion is not None else float("inf")
    return (-rank, deletion, verdict.subject.resource)


def detail_sort_key(key: Mapping[str, Any]) -> tuple[int, float, str]:
    """The same order as `_sort_key`, for per-key details (a merged fan-out has only those)."""
    worst = key.get("worst")
    rank = Severity(worst).rank if worst else -1
    deletion = key.get("days_until_deletion")
    return (-rank, float(deletion) if deletion is not None else float("inf"), str(key.get("resource", "")))


def _count_ips(ips: list[str] | None) -> str:
    return "?" if ips is None else (str(len(ips)) if ips else "none")


def key_table(verdicts: list[KeyVerdict], *, budget_bytes: int = TABLE_BUDGET_BYTES) -> list[list[str]]:
    """The compact per-key table, worst keys first, cut to the budget with a last row saying how many are left."""
    return key_table_of_details([_key_details(v) for v in sorted(verdicts, key=_sort_key)], budget_bytes=budget_bytes)


def key_table_of_details(
    keys: Sequence[Mapping[str, Any]],
    *,
    budget_bytes: int = TABLE_BUDGET_BYTES,
    where: str = "the function's return value",
) -> list[list[str]]:
    """`key_table` from per-key details already sorted worst first."""
    rows = [TABLE_HEADER]
    used = sum(len(cell) + 2 for cell in TABLE_HEADER) * 2
    for index, key in enumerate(keys):
        perm = key.get("perm")
        row = [
            _short(str(key.get("resource", ""))),
            str(key.get("worst") or "OK"),
            _count_ips(key.get("ips")),
            _perm(frozenset(perm) if perm is not None else None),
            _num(key.get("age_days")),
            _num(key.get("days_until_deletion")),
            _num(key.get("idle_days")),
        ]
        # Rendered rows are padded to the widest cell: budget with the widest possible key cell.
        size = TABLE_KEY_WIDTH + sum(len(cell) + 2 for cell in row[1:]) + 4
        if used + size > budget_bytes - 200:
            rows.append([f"... {len(keys) - index} more key(s): see {where}", "", "", "", "", "", ""])
            break
        rows.append(row)
        used += size
    return rows


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _key_details(verdict: KeyVerdict) -> dict[str, Any]:
    subject = verdict.subject
    return {
        "resource": subject.resource,
        "label": subject.label,
        "origin": subject.origin,
        "account": subject.account,
        "worst": verdict.worst.value if verdict.worst is not None else None,
        "problems": len(verdict.problems),
        "demo": subject.demo,
        "perm": sorted(subject.perm) if subject.perm is not None else None,
        "ips": list(subject.ips) if subject.ips is not None else None,
        "days_until_deletion": round(verdict.days_until_deletion, 3)
        if verdict.days_until_deletion is not None
        else None,
        "deletion_basis": verdict.deletion_basis,
        "age_days": _rounded(verdict.age_days),
        "age_source": subject.created.source if subject.created else None,
        "idle_days": _rounded(verdict.idle_days),
    }


def audit_title(keys: int, needing: int, *, unaudited: int = 0, shards: int | None = None) -> str:
    """The title of an audit's one report, outcome first: a single run's, or (with `shards`) the fan-out's merged
    one. `needing` counts every key with a finding, the `unaudited` ones (a failed shard's) among them; how bad
    the worst is, the report's severity says."""
    where = f" in {shards} shard(s)" if shards is not None else ""
    not_audited = f" ({unaudited} not audited)" if unaudited else ""
    return f"{needing} of {keys} key(s) need attention{not_audited}: key audit{where}"


def countdown_line(count: int, nearest: str, days: float, basis: str) -> str:
    """The summary's line on the keys OKX may delete, naming the one nearest to deletion."""
    return (
        f"{count} key(s) can be deleted by OKX (not bound to an IP); nearest: {nearest} "
        f"in {_num(days)} day(s) ({basis})."
    )


def selection_details(request: AuditRequest) -> dict[str, str]:
    return {
        "key_secret_tag": request.key_secret_tag,
        "key_secret_prefix": request.key_secret_prefix,
        "master_secret": request.master_secret,
    }


def _summary(
    request: AuditRequest, verdicts: list[KeyVerdict], stats: FleetStats, listed_subaccounts: int, listed_keys: int
) -> list[str]:
    """The summary lines, in the order the reader sees them."""
    needing_attention = sum(1 for v in verdicts if v.problems)
    secrets = sum(1 for v in verdicts if v.subject.origin != "sub-account")
    summary = [
        f"Audited {len(verdicts)} key(s): {secrets} from Secrets Manager"
        + (
            f", {listed_keys} more listed by the master in {listed_subaccounts} sub-account(s)"
            if request.master_secret
            else ""
        )
        + f"; {needing_attention} need attention.",
        "Selection: "
        + ", ".join(
            f"{name} {value}"
            for name, value in (
                ("tag", request.key_secret_tag),
                ("prefix", request.key_secret_prefix),
                ("master", request.master_secret),
            )
            if value
        )
        + ".",
    ]
    countdowns = sorted(
        (v for v in verdicts if v.days_until_deletion is not None), key=lambda v: v.days_until_deletion or 0.0
    )
    if countdowns:
        nearest = countdowns[0]
        days = nearest.days_until_deletion or 0.0
        summary.append(countdown_line(len(countdowns), nearest.subject.resource, days, nearest.deletion_basis))
    summary.append(AUDIT_USE_NOTE)
    summary.append(
        f"Rate limits: {stats.rate_limited_retried} call(s) still rate limited after the client's retries were "
        f"retried again; {stats.rate_limited_unretried} left unretried. Concurrency: {stats.workers} worker(s), "
        f"at most {stats.max_in_flight} key(s) in flight; {stats.elapsed_s:.1f} s."
    )
    return summary


def build_report(
    request: AuditRequest,
    verdicts: list[KeyVerdict],
    fleet_findings: list[Finding],
    stats: FleetStats,
    *,
    listed_subaccounts: int = 0,
    listed_keys: int = 0,
) -> Report:
    findings = [f for v in verdicts for f in v.findings] + fleet_findings
    needing_attention = sum(1 for v in verdicts if v.problems)
    keys = [_key_details(v) for v in sorted(verdicts, key=_sort_key)]
    return Report(
        report_type="audit",
        environment=request.environment,
        title=audit_title(len(verdicts), needing_attention),
        findings=findings,
        summary=_summary(request, verdicts, stats, listed_subaccounts, listed_keys),
        tables={"Keys": key_table_of_details(keys)},
        details={
            "keys": keys,
            "fleet": {
                "workers": stats.workers,
                "max_in_flight": stats.max_in_flight,
                "rate_limited_retried": stats.rate_limited_retried,
                "rate_limited_unretried": stats.rate_limited_unretried,
                "elapsed_s": stats.elapsed_s,
            },
            "selection": selection_details(request),
            "thresholds": request.thresholds.model_dump(),
            "audit_use_note": AUDIT_USE_NOTE,
        },
    )


def audit_invalid_input_report(error: InvalidInputError, *, environment: str) -> Report:
    """The audit could not start: one finding per problem, naming the field (never its value)."""
    return invalid_input_report("audit", error, environment=environment, not_done="No key was audited.")


def metric_points(report: Report) -> list[MetricPoint]:
    """Metrics for a dashboard, without per-key dimensions.

    Per-key values (DaysUntilDeletion, KeyAgeDays) are emitted as many values of one dimension-free metric:
    CloudWatch keeps their distribution (Minimum = the nearest deletion, Maximum = the oldest key) at the cost
    of one metric, where a key dimension would make one custom metric per key. Which key it is, the report
    and the logs say.
    """
    points: list[MetricPoint] = []
    keys = report.details.get("keys", [])
    for key in keys:
        if key.get("days_until_deletion") is not None:
            points.append(MetricPoint("DaysUntilDeletion", "None", float(key["days_until_deletion"])))
        if key.get("age_days") is not None:
            points.append(MetricPoint("KeyAgeDays", "None", float(key["age_days"])))
    # CriticalFindings is emitted by Wiring.publish for every report; not repeated here.
    points += [
        MetricPoint("KeysAudited", "Count", float(len(keys))),
        MetricPoint("KeysNeedingAttention", "Count", float(sum(1 for k in keys if k.get("problems")))),
    ]
    fleet = report.details.get("fleet")
    if fleet:
        points += [
            MetricPoint("RateLimitedRetried", "Count", float(fleet["rate_limited_retried"])),
            MetricPoint("RateLimitedUnretried", "Count", float(fleet["rate_limited_unretried"])),
        ]
    return points


# Lambda caps a function's response at 6 MB, and a larger one fails the invocation. Past this many keys the
# return value keeps the problems only; the full per-key result is in the structured log (or, fanned out, S3).
RESULT_MAX_KEYS = 500
RESULT_MAX_FINDINGS = 200


def compact_result(report: Report, *, where: str = "the function's structured log") -> dict[str, Any]:
    """The full result for a small fleet; else the summary, the worst problems and where the rest is."""
    keys = report.details.get("keys", [])
    if len(keys) <= RESULT_MAX_KEYS:
        return report.as_result()
    problems = [f for f in report.worst_first() if f.is_problem]
    details = {k: v for k, v in report.details.items() if k != "keys"}
    details.update(
        keys_audited=len(keys), full_result=where, findings_left_out=max(0, len(problems) - RESULT_MAX_FINDINGS)
    )
    small = report.model_copy(update={"findings": problems[:RESULT_MAX_FINDINGS], "tables": {}, "details": details})
    result = small.as_result()
    result.update(report.verdict())  # the whole run's, not that of the findings kept here
    return result
