"""Merging the shards of a fanned-out audit into the one report of the run.

A shard that left no result (it failed after its retries, or the Map stopped before it) is an ERROR finding
naming how many keys went unaudited and where to look; the other shards' findings stand. The merged report
is shaped like a single run's: problems worst first, the per-key table cut to the SNS budget, the full
per-key result in the run's S3 object (its URI is in the summary).
"""

from __future__ import annotations

from collections.abc import Mapping

from okxcore.audit.fanout import PlanOutput, ShardItem, ShardResult
from okxcore.audit.reporting import (
    audit_title,
    countdown_line,
    detail_sort_key,
    key_table_of_details,
    selection_details,
)
from okxcore.audit.rules import AUDIT_USE_NOTE
from okxcore.findings import finding
from okxcore.report import Finding, Report


def failed_shard_finding(item: ShardItem, run_id: str) -> Finding:
    return finding(
        "audit.shard",
        f"shard {item.shard + 1} of {item.of}",
        f"shard {item.shard + 1} of {item.of} failed after its retries: {item.keys} key(s) not audited",
        observed="no result stored for the shard",
        expected="every shard stores its result",
        remediation=(
            f"Open the state machine's execution {run_id} (Map run, failed items) and the shard function's log for "
            "the cause; the next scheduled audit retries every key."
        ),
    )


def listing_failed_finding(problem: str) -> Finding:
    return finding(
        "audit.fleet:listing_failed",
        "fleet",
        "the key secrets could not be listed: the fleet was not audited",
        observed=problem,
        remediation="Check the fan-out function's permission secretsmanager:ListSecrets.",
    )


# Over 60 lines: one pass over the shards' results, building the single report in the order it is read.
def merge_shards(
    plan: PlanOutput, items: list[ShardItem], results: Mapping[int, ShardResult | None], *, report_uri: str
) -> Report:
    """One report from every shard's result; missing shards are findings, never silently dropped."""
    request = plan.request
    findings: list[Finding] = []
    if plan.listing_error:
        findings.append(listing_failed_finding(plan.listing_error))
    done = [r for r in (results.get(item.shard) for item in items) if r is not None]
    failed = [item for item in items if results.get(item.shard) is None]
    findings += [failed_shard_finding(item, plan.run_id) for item in failed]
    for result in done:
        findings += result.problems
    keys = sorted((key for result in done for key in result.keys), key=detail_sort_key)
    passed = sum(r.passed for r in done)
    needing = sum(1 for key in keys if key.get("problems"))
    unaudited = sum(item.keys for item in failed)
    retried = sum(int(r.fleet.get("rate_limited_retried", 0)) for r in done)
    unretried = sum(int(r.fleet.get("rate_limited_unretried", 0)) for r in done)
    shield_requests = sum(r.shield_requests for r in done)
    summary = [
        f"Audited {len(keys)} key(s) in {len(done)} of {len(items)} shard(s) (at most {plan.keys_per_shard} keys "
        f"each, every OKX user's keys in one shard); {needing} need attention."
        + (f" {len(failed)} shard(s) failed: {unaudited} key(s) not audited." if failed else ""),
        f"Grouping: {plan.users} OKX user(s) known from the okx-uid tag; {plan.without_user} key(s) without it, "
        "each grouped on its own.",
    ]
    countdowns = [k for k in keys if k.get("days_until_deletion") is not None]
    if countdowns:
        nearest = min(countdowns, key=lambda k: float(k["days_until_deletion"]))
        days = float(nearest["days_until_deletion"])
        summary.append(countdown_line(len(countdowns), nearest["resource"], days, nearest.get("deletion_basis", "")))
    summary += [
        AUDIT_USE_NOTE,
        f"Rate limits: {retried} call(s) retried again after the client's retries; {unretried} left unretried.",
        f"{passed} check(s) passed.",
        f"Full per-key result: {report_uri}",
    ]
    return Report(
        report_type="audit",
        environment=request.environment,
        title=audit_title(len(keys), needing, findings, shards=len(items)),
        findings=findings,
        summary=summary,
        tables={"Keys": key_table_of_details(keys, where=report_uri)},
        details={
            "keys": keys,
            "fleet": {
                "shards": len(items),
                "shards_failed": [item.shard for item in failed],
                "keys_not_audited": unaudited,
                "rate_limited_retried": retried,
                "rate_limited_unretried": unretried,
            },
            "shield_requests_by_shards": shield_requests,
            "run_id": plan.run_id,
            "report_uri": report_uri,
            "selection": selection_details(request),
            "audit_use_note": AUDIT_USE_NOTE,
        },
    )
