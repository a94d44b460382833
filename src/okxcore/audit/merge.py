"""Merging the shards of a fanned-out audit into the one report of the run.

A shard that left no result (it failed after its retries, or the Map stopped before it) is an ERROR finding
naming the keys that went unaudited and where to look; the other shards' findings stand. The merged report
is shaped like a single run's: problems worst first, the per-key table cut to the SNS budget, the full
per-key result in the run's S3 object (its URI is in the summary).

The plan's master result judged every listed key as if no secret held it; a key some shard held (by
fingerprint) keeps the shard's verdict only, as one run matches it. The 50-key budget is counted again over
the merged keys, because a shard knows only its own (keys without the okx-uid tag may be spread over several).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from okxcore.audit.fanout import MasterResult, PlanOutput, ShardItem, ShardResult, StoredRun, is_repair
from okxcore.audit.fleet_rules import account_limit_findings, keys_per_account
from okxcore.audit.reporting import (
    audit_title,
    countdown_line,
    detail_sort_key,
    key_table_of_details,
    metric_points,
    selection_details,
)
from okxcore.audit.rules import AUDIT_USE_NOTE
from okxcore.findings import finding
from okxcore.report import Finding, MetricPoint, Report

# A failed shard's finding names at most this many of its secrets; its entries object lists them all.
NAMED_UNAUDITED = 20
# The 50-key budget's findings: every step counts only what it saw, so the merge counts again over all keys.
BUDGET_CHECK = "audit.limits.keys"


def failed_shard_finding(item: ShardItem, run_id: str, unaudited: Sequence[str] = (), malformed: str = "") -> Finding:
    """A shard that left no result, or one that is not a shard result (`malformed`: the object and its problems)."""
    named = ", ".join(unaudited[:NAMED_UNAUDITED])
    more = len(unaudited) - NAMED_UNAUDITED
    where = f"shard {item.shard + 1} of {item.of}"
    if malformed:
        return finding(
            "audit.shard:malformed",
            where,
            f"{where}: its stored result is malformed and was left out: {item.keys} key(s) not reported",
            observed=malformed + (f"; not reported: {named}" if named else ""),
            expected="a shard result as the shard step writes it",
            remediation=(
                f"Look at the object and at the shard function's log of run {run_id}; something other than the "
                "shard step wrote it, or the function versions differ. The next scheduled audit retries every key."
            ),
        )
    return finding(
        "audit.shard",
        where,
        f"{where} failed after its retries: {item.keys} key(s) not audited",
        observed="no result stored for the shard"
        + (f"; not audited: {named}" if named else "")
        + (f" and {more} more (listed in {item.entries_key})" if more > 0 else ""),
        expected="every shard stores its result",
        remediation=(
            f"Open the state machine's execution {run_id} (Map run, failed items) and the shard function's log for "
            "the cause; the next scheduled audit retries every key."
        ),
    )


def plan_unreadable_finding(plan: PlanOutput, problem: str) -> Finding:
    return finding(
        "audit.run:plan_unreadable",
        "fleet",
        f"the run's planned items could not be read: {plan.keys} key(s) in {plan.shards} shard(s) not audited",
        observed=f"{plan.items_key}: {problem}",
        expected="the object the plan step wrote, listing every shard",
        remediation=(
            f"Check the run bucket's objects of run {plan.run_id} (a lifecycle rule or a person may have removed "
            "them) and the function's s3:GetObject permission; the next scheduled audit plans the run again."
        ),
    )


def master_unreadable_finding(problem: str) -> Finding:
    return finding(
        "audit.run:master_unreadable",
        "the master key",
        "the plan's audit of the master key and its listing is malformed and was left out",
        observed=problem,
        remediation="Look at the object and at the plan step's log; the next scheduled audit audits the master again.",
    )


def listing_failed_finding(problem: str) -> Finding:
    return finding(
        "audit.fleet:listing_failed",
        "fleet",
        "the key secrets could not be listed: the fleet was not audited",
        observed=problem,
        remediation="Check the fan-out function's permission secretsmanager:ListSecrets.",
    )


def _without_held_twins(
    master: MasterResult | None, done: Sequence[ShardResult]
) -> tuple[list[dict[str, Any]], list[Finding], int]:
    """The master result's keys, problems and passed checks, less every listed key that a shard held; the plan's
    repair of such a key stays, named by the key's secret as one run names it."""
    if master is None:
        return [], [], 0
    held = {fp: name for result in done for fp, name in result.matched.items()}
    twins = {resource: held[fp] for fp, resource in master.listed_only.items() if fp in held}
    keys = [key for key in master.keys if key.get("resource") not in twins]
    problems = [
        f.model_copy(update={"resource": twins[f.resource]}) if f.resource in twins else f
        for f in master.problems
        if f.resource not in twins or is_repair(f)
    ]
    passed = master.passed - sum(master.listed_passes.get(resource, 0) for resource in twins)
    return keys, problems, passed


def master_metric_points(master: MasterResult | None, results: Mapping[int, ShardResult | None]) -> list[MetricPoint]:
    """The metrics of the keys the merge keeps from the plan's master result (each shard emits its own keys')."""
    keys, _problems, _passed = _without_held_twins(master, [r for r in results.values() if r is not None])
    if not keys:
        return []
    return metric_points(Report(report_type="audit", title="the master's keys", details={"keys": keys}))


def _budget_findings(master: MasterResult | None, keys: Iterable[Mapping[str, Any]], plan: PlanOutput) -> list[Finding]:
    # A held key's budget account is its uid unless the listing matched it (then it is the sub-account's name).
    held = ((str(k.get("origin", "")), str(k.get("account", "")), str(k.get("account", ""))) for k in keys)
    listed = (key.sub_acct for key in master.listed.values()) if master is not None else ()
    return account_limit_findings(keys_per_account(listed, held), plan.request.thresholds)


def _unique(findings: Iterable[Finding]) -> list[Finding]:
    """Fleet findings every step makes alike (no expected IPs, say) are reported once, as one run does."""
    return list(dict.fromkeys(findings))


# Over 60 lines: one pass over the shards' results, building the single report in the order it is read.
def merge_shards(plan: PlanOutput, stored: StoredRun, *, report_uri: str) -> Report:
    """One report from every shard's result and the plan's master result, as read back (fanout.read_run).

    Whatever could not be read is a finding, never silently dropped: a shard without a result or with a malformed
    one names its secrets; planned items that cannot be read make the whole run an error (its keys counted as not
    audited), never an OK report of 0 keys."""
    request = plan.request
    master, results = stored.master, stored.results
    findings: list[Finding] = []
    if plan.listing_error:
        findings.append(listing_failed_finding(plan.listing_error))
    if stored.items is None:
        findings.append(plan_unreadable_finding(plan, stored.items_problem))
    if stored.master_problem:
        findings.append(master_unreadable_finding(stored.master_problem))
    items = stored.items or []
    done = [r for r in (results.get(item.shard) for item in items) if r is not None]
    failed = [item for item in items if results.get(item.shard) is None]
    findings += [
        failed_shard_finding(
            item, plan.run_id, stored.unaudited.get(item.shard, ()), stored.malformed.get(item.shard, "")
        )
        for item in failed
    ]
    master_keys, master_problems, master_passed = _without_held_twins(master, done)
    for result in done:
        findings += result.problems
    findings = _unique([*findings, *master_problems])
    keys = sorted([*(key for result in done for key in result.keys), *master_keys], key=detail_sort_key)
    findings = [f for f in findings if f.check_id != BUDGET_CHECK] + _budget_findings(master, keys, plan)
    passed = sum(r.passed for r in done) + master_passed
    unaudited_keys = sum(item.keys for item in failed) if stored.items is not None else plan.keys
    # Every key with a finding needs attention, and a key a failed shard did not audit has one (audit.shard).
    needing = sum(1 for key in keys if key.get("problems")) + unaudited_keys
    steps = [*done, *([master] if master else [])]
    retried = sum(int(r.fleet.get("rate_limited_retried", 0)) for r in steps)
    unretried = sum(int(r.fleet.get("rate_limited_unretried", 0)) for r in steps)
    shield_requests = sum(r.shield_requests for r in steps)
    planned_shards = len(items) if stored.items is not None else plan.shards
    audited = (
        f"Audited {len(keys)} key(s) in {len(done)} of {len(items)} shard(s) (at most {plan.keys_per_shard} keys "
        f"each, every OKX user's keys in one shard); {needing} need attention."
        + (
            f" {len(failed)} shard(s) failed: {unaudited_keys} key(s) not audited, counted among those needing "
            "attention."
            if failed
            else ""
        )
        if stored.items is not None
        else f"The run's planned items could not be read: {unaudited_keys} key(s) in {plan.shards} shard(s) not "
        "audited."
    )
    summary = [
        audited,
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
        *(master.notes if master else []),
    ]
    return Report(
        report_type="audit",
        environment=request.environment,
        title=audit_title(len(keys) + unaudited_keys, needing, unaudited=unaudited_keys, shards=planned_shards),
        findings=findings,
        summary=summary,
        tables={"Keys": key_table_of_details(keys, where=report_uri), **(master.tables if master else {})},
        details={
            "keys": keys,
            "fleet": {
                "shards": planned_shards,
                "shards_failed": [item.shard for item in failed],
                "keys_not_audited": unaudited_keys,
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
