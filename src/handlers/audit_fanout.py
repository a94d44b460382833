"""Lambda: the steps of the fanned-out audit, each a task of the AuditFanout state machine (template.yaml).

- {"step": "plan", "run_id", "request", "keys_per_shard"}: list the selected secrets and shard them by OKX user;
  audit the master key, its listing of sub-account keys and their repair, before any shard runs;
- {"step": "shard", "run_id", "request", "item"}: audit one shard (a Distributed Map item) against the plan's
  listing and store its result;
- {"step": "merge", "plan"}: merge every stored shard result into one report, store it in S3, publish it once
  (see _merge: everything that can fail comes before the publish, so a retried merge never publishes twice).

Thin: parse, call okxcore.audit.fanout / merge, publish. `okxlocal.fanout` runs this same handler in-process.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError

from handlers.fanout_settings import FanoutSettings
from handlers.observability import add_metrics, logger, metrics
from handlers.wiring import Wiring
from okxcore.audit import AuditRequest, metric_points, run_audit
from okxcore.audit.fanout import (
    PlanOutput,
    ShardItem,
    audit_master,
    plan_run,
    published_key,
    read_run,
    record_shard,
    report_key,
    shard_entries,
    shard_request,
    shared_listing_for,
    summary_of,
)
from okxcore.audit.master_listing import SharedListing
from okxcore.audit.merge import master_metric_points, merge_shards
from okxcore.audit.reporting import compact_result
from okxcore.audit.shards import MAX_KEYS_PER_SHARD
from okxcore.aws.audit_sources import audit_sources
from okxcore.aws.clients import aws_client
from okxcore.aws.fleet_secrets import list_secrets
from okxcore.aws.run_store import S3RunStore
from okxcore.errors import InvalidInputError
from okxcore.inputs import WholeNumber, input_error
from okxcore.report import Report


class PlanStep(BaseModel):
    model_config = ConfigDict(extra="forbid")
    step: Literal["plan"]
    run_id: str = Field(min_length=1, max_length=80)
    request: AuditRequest
    keys_per_shard: WholeNumber = Field(ge=1, le=MAX_KEYS_PER_SHARD)


class ShardStep(BaseModel):
    model_config = ConfigDict(extra="forbid")
    step: Literal["shard"]
    run_id: str = Field(min_length=1, max_length=80)
    request: AuditRequest
    item: ShardItem


class MergeStep(BaseModel):
    model_config = ConfigDict(extra="forbid")
    step: Literal["merge"]
    plan: PlanOutput


class FanoutEvent(RootModel[Annotated[PlanStep | ShardStep | MergeStep, Field(discriminator="step")]]):
    """What the state machine passes to each task."""


EVENT_MODEL = FanoutEvent
FANOUT_STEPS = frozenset({"plan", "shard", "merge"})


def _store() -> S3RunStore:
    bucket = FanoutSettings.from_environ().run_bucket
    if not bucket:
        raise InvalidInputError(
            "function environment", "AUDIT_RUN_BUCKET", "is missing", hint="Set it in template.yaml."
        )
    return S3RunStore(bucket)


def _parse(event: Any) -> PlanStep | ShardStep | MergeStep:
    try:
        return FanoutEvent.model_validate(event).root
    except ValidationError as exc:
        raise input_error(
            exc, source="audit fan-out event", hint="The state machine builds this input.", union_tags=FANOUT_STEPS
        ) from None


def _plan(step: PlanStep, wiring: Wiring, store: S3RunStore) -> dict[str, Any]:
    logger.set_correlation_id(f"{step.run_id}:plan")
    client = aws_client("secretsmanager")
    plan = plan_run(
        step.request,
        lambda tag, prefix: list_secrets(tag=tag, prefix=prefix, client=client),
        store,
        run_id=step.run_id,
        keys_per_shard=step.keys_per_shard,
    )

    def run_master(request: AuditRequest, shared: SharedListing) -> Report:
        wiring.shield()
        with audit_sources(wiring, request.max_workers) as sources:
            return run_audit(request, sources, shared)

    audit_master(step.request, run_master, store, run_id=step.run_id, shield_requests=wiring.shield_requests)
    logger.info("planned", extra={"shards": plan.shards, "keys": plan.keys, "users": plan.users})
    return plan.model_dump(mode="json")


def _shard(step: ShardStep, wiring: Wiring, store: S3RunStore) -> dict[str, Any]:
    logger.set_correlation_id(f"{step.run_id}:shard-{step.item.shard}")
    request = shard_request(step.request)
    metas = shard_entries(store, step.item)
    shared = shared_listing_for(store, step.run_id)
    wiring.shield()
    with audit_sources(wiring, request.max_workers, selection=metas) as sources:
        report = run_audit(request, sources, shared)
    add_metrics(metric_points(report))
    # ShieldRequests is emitted once per run, by the merge, with every shard's count in it.
    result = record_shard(store, step.run_id, step.item, report, wiring.shield_requests(), shared)
    return dict(summary_of(result))


def _merge(step: MergeStep, wiring: Wiring, store: S3RunStore) -> dict[str, Any]:
    """Merge, store, then publish once. The rule that makes a retried merge publish exactly once: every step that
    can fail (reading, merging, storing the full report) comes before the publish, and nothing after it can fail
    the task. A retry (Step Functions' Retry after a failed attempt) finds the marker when the report went out
    and publishes nothing; it publishes only when an earlier attempt failed before publishing. The one window
    left is the function dying between SNS accepting the report and the marker's PUT."""
    logger.set_correlation_id(f"{step.plan.run_id}:merge")
    run_id = step.plan.run_id
    stored = read_run(store, step.plan)
    key = report_key(run_id)
    uri = f"s3://{store.bucket}/{key}"
    report = merge_shards(step.plan, stored, report_uri=uri)
    add_metrics(master_metric_points(stored.master, stored.results))
    wiring.count_requests(report)  # the requests every step sent through Shield, in the stored report too
    store.put_json(key, report.as_result())
    if store.get_json(published_key(run_id)) is not None:
        logger.info("the run's report was published by an earlier attempt; not published again")
        return compact_result(report, where=uri)
    wiring.send(report)  # the run's one SNS report
    try:
        store.put_json(published_key(run_id), {"subject": report.subject()})
    except Exception:  # the report is out: failing now would only make a retry publish it again
        logger.exception("the report was published, but its marker could not be stored")
    return compact_result(report, where=uri)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics()
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    step = _parse(event)
    wiring = Wiring.from_environ()
    store = _store()
    if isinstance(step, PlanStep):
        return _plan(step, wiring, store)
    if isinstance(step, ShardStep):
        return _shard(step, wiring, store)
    return _merge(step, wiring, store)
