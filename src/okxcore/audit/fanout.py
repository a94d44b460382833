"""The three steps of the fanned-out audit: plan (list and shard), audit one shard, merge into one report.

Step Functions runs them (template.yaml, AuditFanoutStateMachine: a Distributed Map over the plan's items);
`okxlocal.fanout` runs the very same functions in-process. Everything between the steps goes through a
`RunStore` (S3 in AWS, moto's S3 locally) rather than through the state machine's payloads, which are capped
at 256 KiB: the plan writes each shard's entries to an object and the Map's items only name them; each shard
writes its full result to an object; the merge reads them all back and notices every shard that left none.

The master key (`master_secret`) is the plan's: it audits the master, lists its sub-accounts' keys and repairs
them (so that the shards, which run after it, see the keys as they are now) before any shard runs, and stores
the listing by fingerprint. Each shard matches its secrets against that listing exactly as one run matches its
own (OKX's creation time, the sub-account's 50-key budget) and records which listed keys it held; the merge
drops those from the keys known from the listing alone. So every key is reported once, as one run reports it.
Only fingerprints of the public key ids cross a step: no key id, secret or passphrase is stored.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from okxcore.audit.fleet_rules import master_error_finding
from okxcore.audit.master_listing import SharedListing
from okxcore.audit.models import AuditRequest
from okxcore.audit.shards import ShardEntry, ShardPlan, plan_shards, should_fan_out
from okxcore.inputs import problems_of
from okxcore.key_secrets import SecretMetadata, TagSelector
from okxcore.models import SubAccountApiKey
from okxcore.report import Finding, Report
from okxcore.slot import Slot

RUN_PREFIX = "audit-runs"


class RunStore(Protocol):
    def put_json(self, key: str, value: Any) -> str:
        """Store a JSON value; returns where a person finds it (an s3:// URI)."""
        ...

    def get_json(self, key: str) -> Any | None:
        """The stored value, or None when nothing was stored under the key."""
        ...


class ShardItem(BaseModel):
    """One item of the Distributed Map: which shard, and the object holding its entries."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shard: int = Field(ge=0)
    of: int = Field(ge=1)
    keys: int = Field(ge=0)
    entries_key: str


class PlanOutput(BaseModel):
    """What the plan step hands to the Map and, unchanged, to the merge."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    request: AuditRequest
    items_key: str
    shards: int
    keys: int
    keys_per_shard: int
    users: int
    without_user: int
    listing_error: str = ""  # the listing failed: no shard runs, the merge reports it


class ShardResult(BaseModel):
    """What one shard's audit found, as the merge needs it: problems, per-key details, counters."""

    model_config = ConfigDict(extra="forbid")

    shard: int
    keys: list[dict[str, Any]] = Field(default_factory=list)
    problems: list[Finding] = Field(default_factory=list)
    passed: int = 0
    fleet: dict[str, Any] = Field(default_factory=dict)
    shield_requests: int = 0
    # The master's listed keys that this shard's secrets hold: fingerprint -> secret name (the merge drops their
    # listed twin and names the plan's repair of the key by its secret, as one run does).
    matched: dict[str, str] = Field(default_factory=dict)


class MasterResult(ShardResult):
    """The plan's audit of the master key and of the keys its listing shows, as if no secret held any of them.

    The merge keeps a listed key's verdict only when no shard held the key (`listed_only`: fingerprint to the
    subject's resource); `listed_passes` lets it take the dropped keys' passed checks out of the count.
    """

    listed: dict[str, SubAccountApiKey] = Field(default_factory=dict)  # fingerprint -> listed key, id left out
    listed_only: dict[str, str] = Field(default_factory=dict)
    listed_passes: dict[str, int] = Field(default_factory=dict)
    tables: dict[str, list[list[str]]] = Field(default_factory=dict)  # the IP-binding repair's table
    notes: list[str] = Field(default_factory=list)  # the IP-binding repair's summary line


def run_id_for(slot: Slot | None, fallback: str) -> str:
    """A stable id per scheduled slot (a retried start finds the same run); also a valid execution name.

    From the slot's canonical instant, never from the event's text: `06:00:00Z` and `07:00:00+01:00` are one
    slot, one run id, so a second delivery in another spelling finds the execution the first one started.
    `fallback` (the request id) names a run without a slot."""
    raw = f"audit-{slot.iso}" if slot is not None else f"audit-{fallback}"
    return re.sub(r"[^A-Za-z0-9_-]", "-", raw)[:80]


def _run_key(run_id: str, *parts: str) -> str:
    return "/".join((RUN_PREFIX, run_id, *parts))


def plan_run(
    request: AuditRequest,
    list_secrets: Callable[[TagSelector | None, str], list[SecretMetadata]],
    store: RunStore,
    *,
    run_id: str,
    keys_per_shard: int,
) -> PlanOutput:
    """List the selected secrets, shard them by OKX user, and store each shard's entries and the Map's items."""
    listing_error = ""
    metas: list[SecretMetadata] = []
    try:
        metas = list_secrets(request.tag, request.key_secret_prefix)
    except Exception as exc:  # the merge turns this into the report's finding
        listing_error = str(getattr(exc, "message", "")) or type(exc).__name__
    # The master is audited by the plan itself (audit_master), never again by the shard its name falls in.
    metas = [meta for meta in metas if meta.name != request.master_secret]
    plan: ShardPlan = plan_shards(metas, keys_per_shard)
    items: list[ShardItem] = []
    for shard in plan.shards:
        entries_key = _run_key(run_id, "shards", f"{shard.index:05d}.json")
        store.put_json(entries_key, [entry.model_dump() for entry in shard.entries])
        items.append(
            ShardItem(shard=shard.index, of=len(plan.shards), keys=len(shard.entries), entries_key=entries_key)
        )
    items_key = _run_key(run_id, "items.json")
    store.put_json(items_key, [item.model_dump() for item in items])
    return PlanOutput(
        run_id=run_id,
        request=request,
        items_key=items_key,
        shards=len(items),
        keys=plan.keys,
        keys_per_shard=keys_per_shard,
        users=plan.users,
        without_user=plan.without_user,
        listing_error=listing_error,
    )


def shard_entries(store: RunStore, item: ShardItem) -> list[SecretMetadata]:
    raw = store.get_json(item.entries_key)
    if raw is None:
        raise LookupError(f"shard {item.shard}: its entries object {item.entries_key} is missing")
    return [ShardEntry.model_validate(entry).metadata() for entry in raw]


REPAIR_CHECK = "keys.repair.ip_binding"


def is_repair(finding: Finding) -> bool:
    """The plan's repair of a key, which stands when the key's verdict is a shard's (its other findings do not)."""
    return finding.check_id == REPAIR_CHECK


def master_request(request: AuditRequest) -> AuditRequest:
    """The plan's part of the run: the master key and its listing only (the shards audit the secrets)."""
    return request.model_copy(update={"key_secret_tag": "", "key_secret_prefix": ""})


def shard_request(request: AuditRequest) -> AuditRequest:
    """A shard audits its secrets against the plan's listing: it neither lists nor repairs (the plan did both)."""
    return request.model_copy(update={"master_secret": "", "repair_mode": "off"})


def audit_master(
    request: AuditRequest,
    run: Callable[[AuditRequest, SharedListing], Report],
    store: RunStore,
    *,
    run_id: str,
    shield_requests: Callable[[], int],
) -> MasterResult | None:
    """Audit the master key and its listing (`run` is the audit run), and store both for the shards and the merge."""
    if not request.master_secret:
        return None
    shared = SharedListing()
    try:
        report = run(master_request(request), shared)
    except Exception as exc:  # the merge still reports the run; the shards audit their secrets without a listing
        report = Report(
            report_type="audit",
            title="the master key",
            findings=[master_error_finding(request.master_secret, "the plan could not audit the master key", exc)],
        )
        shared = SharedListing()
    problems = [f for f in report.findings if f.is_problem]
    passes = [f for f in report.findings if not f.is_problem]
    listed_resources = set(shared.listed_only.values())
    repair = {name: rows for name, rows in report.tables.items() if name.startswith("IP-binding repair")}
    result = MasterResult(
        shard=-1,
        keys=list(report.details.get("keys", [])),
        problems=problems,
        passed=len(passes),
        fleet=dict(report.details.get("fleet", {})),
        shield_requests=shield_requests(),
        listed=shared.listed,
        listed_only=shared.listed_only,
        listed_passes=dict(Counter(f.resource for f in passes if f.resource in listed_resources and not is_repair(f))),
        tables=repair,
        # The run appends the repair's summary line last, with its table.
        notes=report.summary[-1:] if repair else [],
    )
    # The listed keys' ids are blanked by the run already; they are left out here as well, by name.
    dumped = result.model_dump(mode="json", by_alias=True, exclude={"listed": {"__all__": {"api_key"}}})
    store.put_json(master_result_key(run_id), dumped)
    return result


def load_master(store: RunStore, run_id: str) -> MasterResult | None:
    raw = store.get_json(master_result_key(run_id))
    return MasterResult.model_validate(raw) if raw is not None else None


def shared_listing_for(store: RunStore, run_id: str) -> SharedListing:
    """What a shard matches its secrets against: the plan's listing, or none when the run has no master."""
    master = load_master(store, run_id)
    return SharedListing(given=dict(master.listed) if master is not None else None)


def record_shard(
    store: RunStore,
    plan_run_id: str,
    item: ShardItem,
    report: Report,
    shield_requests: int,
    shared: SharedListing | None = None,
) -> ShardResult:
    """Store one shard's result for the merge; returns it (its size is the shard's, not the fleet's)."""
    problems = [f for f in report.findings if f.is_problem]
    result = ShardResult(
        shard=item.shard,
        keys=list(report.details.get("keys", [])),
        problems=problems,
        passed=len(report.findings) - len(problems),
        fleet=dict(report.details.get("fleet", {})),
        shield_requests=shield_requests,
        matched=dict(shared.matched) if shared is not None else {},
    )
    store.put_json(result_key(plan_run_id, item.shard), result.model_dump(mode="json"))
    return result


def result_key(run_id: str, shard: int) -> str:
    return _run_key(run_id, "results", f"{shard:05d}.json")


def master_result_key(run_id: str) -> str:
    return _run_key(run_id, "master.json")


def published_key(run_id: str) -> str:
    return _run_key(run_id, "published.json")


def report_key(run_id: str) -> str:
    return _run_key(run_id, "report.json")


@dataclass
class StoredRun:
    """What the merge reads back from the store. An object that is missing or not what its step writes is never
    a reason to publish nothing, nor an empty run passing as OK: it is named here, and the merge reports it.

    - `items` None: the planned items could not be read (`items_problem` says why): nothing can be merged.
    - `results[shard]` None: that shard left no usable result; `malformed[shard]` says why when it left one.
    """

    items: list[ShardItem] | None
    items_problem: str = ""
    results: dict[int, ShardResult | None] = dataclass_field(default_factory=dict)
    malformed: dict[int, str] = dataclass_field(default_factory=dict)
    unaudited: dict[int, list[str]] = dataclass_field(default_factory=dict)  # secrets of the shards left out
    master: MasterResult | None = None
    master_problem: str = ""


def _unusable(error: ValidationError) -> str:
    """A stored object's problems, by field (never its values)."""
    return "; ".join(f"{where} {problem}" for where, problem in problems_of(error, whole="(whole object)")[:5])


def read_run(store: RunStore, plan: PlanOutput) -> StoredRun:
    """Everything the merge needs: the planned items, every shard's result, the master's, and what was unusable."""
    raw_items = store.get_json(plan.items_key)
    try:
        if raw_items is None:
            raise LookupError(f"{plan.items_key} is missing")
        items = [ShardItem.model_validate(raw) for raw in raw_items]
    except (LookupError, ValidationError, TypeError) as exc:
        why = _unusable(exc) if isinstance(exc, ValidationError) else str(exc) or "not a list of shard items"
        return StoredRun(items=None, items_problem=why)
    run = StoredRun(items=items)
    for item in items:
        key = result_key(plan.run_id, item.shard)
        raw = store.get_json(key)
        try:
            run.results[item.shard] = ShardResult.model_validate(raw) if raw is not None else None
        except ValidationError as exc:
            run.results[item.shard] = None
            run.malformed[item.shard] = f"{key}: {_unusable(exc)}"
        if run.results[item.shard] is None:
            run.unaudited[item.shard] = _entry_names(store, item)
    raw_master = store.get_json(master_result_key(plan.run_id))
    try:
        run.master = MasterResult.model_validate(raw_master) if raw_master is not None else None
    except ValidationError as exc:
        run.master_problem = f"{master_result_key(plan.run_id)}: {_unusable(exc)}"
    return run


def _entry_names(store: RunStore, item: ShardItem) -> list[str]:
    """The secrets of a shard that left no result, so that the report names what was not audited."""
    raw = store.get_json(item.entries_key)
    try:
        return [ShardEntry.model_validate(entry).name for entry in raw or []]
    except (ValidationError, TypeError):
        return []  # the finding still counts the shard's keys (item.keys) and names its entries object


def summary_of(result: ShardResult | None) -> Mapping[str, Any]:
    """The small value a shard hands back to the Map (its full result is in the store)."""
    if result is None:
        return {}
    worst = max((f.severity.rank for f in result.problems), default=-1)
    return {"shard": result.shard, "keys": len(result.keys), "problems": len(result.problems), "worst_rank": worst}


class FanoutStart(BaseModel):
    """The scheduled audit's decision: audit here, or start the state machine for a fleet too large for one run."""

    fanned_out: bool
    reason: str
    keys: int = 0
    run_id: str = ""
    execution_arn: str = ""


def start_if_large(
    request: AuditRequest,
    list_secrets: Callable[[TagSelector | None, str], list[SecretMetadata]],
    start_execution: Callable[[str, dict[str, Any]], str],
    *,
    run_id: str,
    keys_per_shard: int,
    call_latency_s: float,
    timeout_s: float,
) -> FanoutStart:
    """Start the fan-out when the fleet exceeds keys_per_shard or one run would not finish in time."""
    if not (request.key_secret_tag or request.key_secret_prefix):
        return FanoutStart(fanned_out=False, reason="no tag or prefix selection: nothing to shard")
    try:
        keys = len(list_secrets(request.tag, request.key_secret_prefix))
    except Exception:  # the single run lists again and reports the failure in full
        return FanoutStart(fanned_out=False, reason="listing failed: auditing here, which reports it")
    large, reason = should_fan_out(
        keys,
        keys_per_shard=keys_per_shard,
        workers=request.max_workers,
        call_latency_s=call_latency_s,
        timeout_s=timeout_s,
    )
    if not large:
        return FanoutStart(fanned_out=False, reason=reason, keys=keys)
    payload = {"run_id": run_id, "request": request.model_dump(mode="json"), "keys_per_shard": keys_per_shard}
    arn = start_execution(run_id, payload)
    return FanoutStart(fanned_out=True, reason=reason, keys=keys, run_id=run_id, execution_arn=arn)
