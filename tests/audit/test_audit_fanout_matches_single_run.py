"""The fanned-out audit of a fleet with a master key reports every key once, exactly as one run does.

The fleet: a master key listing three sub-accounts whose keys are partly held in secrets (which the plan packs
into different shards, by their okx-uid tag) and partly known from the listing only, plus main-account keys.
The same fleet is audited by one run (the scheduled handler) and by template.yaml's state machine in-process
(okxlocal.fanout, moto and the simulator through the real proxy); the two reports must agree key for key.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from decimal import Decimal
from typing import Any

import boto3
import pytest

from handlers.audit import handler
from okxcore.audit.fanout import audit_master, load_master, plan_run, shared_listing_for
from okxcore.audit.models import AuditRequest
from okxcore.audit.shards import plan_shards
from okxcore.aws.fleet_secrets import list_secrets
from okxcore.errors import ProxyUnreachableError
from okxcore.key_secrets import SecretMetadata
from okxlocal.fanout import execution_input_for, run_fanout
from okxlocal.seeds import new_key, seed_with
from okxlocal.sim import SimAccount
from okxlocal.stack import KEY_SECRET_PREFIX, RUN_BUCKET

P = KEY_SECRET_PREFIX
BOTH = ["127.0.0.2", "127.0.0.3"]
MASTER_SECRET = "okx-shield/master"
EVENT = {"scheduled_time": "2026-01-15T06:00:00Z"}
MODIFY = "/api/v5/users/subaccount/modify-apikey"
CONFIG = "/api/v5/account/config"
SUBACCOUNTS = {"9001": "desk1", "9002": "desk2", "9003": "desk3"}
# Held in secrets without created_at: only the master's listing (OKX's ts) knows how old these keys are.
HELD = ["desk1-bot", "desk2-k01", "desk2-k02", "desk3-a", "desk3-b", "desk3-c"]


@pytest.fixture
def fleet(local_stack):
    keys = [new_key("9000", "master", ips=BOTH)]  # trade permission: OKX's condition for modify-apikey
    keys += [
        new_key(f"100{u}", f"main-u{u}-k{k}", ips=BOTH)
        for u, n in ((1, 2), (2, 2), (3, 1), (4, 1))
        for k in range(1, n + 1)
    ]
    # desk1: a held key OKX says is 13 days old and unbound (CRITICAL by OKX's ts), a listed-only one 12 days old.
    keys += [new_key("9001", "desk1-bot", created_days_ago=13), new_key("9001", "desk1-listed", created_days_ago=12)]
    # desk2: 46 keys (OKX's 50-key budget warns at 45), two of them held.
    keys += [new_key("9002", f"desk2-k{n:02d}", ips=BOTH, created_days_ago=3) for n in range(1, 47)]
    # desk3: three held keys, 100 days old by OKX's ts: rotation due.
    keys += [new_key("9003", f"desk3-{c}", ips=BOTH, created_days_ago=100) for c in "abc"]
    funds = {"USDT": Decimal("100")}
    accounts = [SimAccount(uid=uid, label=f"account {uid}", balances=dict(funds)) for uid in ("9000", "1001", "1002")]
    accounts += [SimAccount(uid=uid, label=f"account {uid}", balances=dict(funds)) for uid in ("1003", "1004")]
    accounts += [
        SimAccount(uid=uid, label=name, main_uid="9000", sub_acct=name, balances=dict(funds))
        for uid, name in SUBACCOUNTS.items()
    ]
    listed_only = {k.label for k in keys if k.uid in SUBACCOUNTS and k.label not in HELD}
    stack = local_stack(
        seed_with(keys, accounts=accounts),
        master_key=("master", MASTER_SECRET),
        key_secret_extras={label: {"created_at": None} for label in HELD},
        skip_key_secrets=frozenset(listed_only),
    )
    return stack, keys


def s3_json(key: str) -> Any:
    return json.loads(boto3.client("s3").get_object(Bucket=RUN_BUCKET, Key=key)["Body"].read())


def per_key(result: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    """Each key's judgement as the report states it (ages to 0.1 day: the runs are seconds apart)."""
    out: dict[str, tuple[Any, ...]] = {}
    for key in result["details"]["keys"]:
        assert key["resource"] not in out, f"{key['resource']} is reported twice"
        days = key["days_until_deletion"]
        out[key["resource"]] = (
            key["origin"],
            key["account"],
            key["worst"],
            key["problems"],
            tuple(key["perm"] or ()),
            tuple(key["ips"] or ()),
            key["age_source"],
            round(key["age_days"], 1) if key["age_days"] is not None else None,
            round(days, 1) if days is not None else None,
            key["deletion_basis"],
        )
    return out


def problems(result: dict[str, Any]) -> Counter[tuple[str, str, str, str]]:
    return Counter(
        (f["resource"], f["check_id"], f["severity"], f["status"]) for f in result["findings"] if f["status"] != "PASS"
    )


def passed_checks(single: dict[str, Any], merged: dict[str, Any]) -> tuple[int, int]:
    (line,) = [s for s in merged["summary"] if s.endswith("check(s) passed.")]
    match = re.match(r"(\d+) check", line)
    assert match is not None
    return sum(1 for f in single["findings"] if f["status"] == "PASS"), int(match.group(1))


def shards_of(outcome) -> dict[str, int]:
    items = s3_json(outcome.output["plan"]["items_key"])
    return {entry["name"]: item["shard"] for item in items for entry in s3_json(item["entries_key"])}


def test_a_fanned_out_audit_with_a_master_reports_every_key_once_as_the_single_run_does(fleet, lambda_context):
    stack, keys = fleet
    # Given the single run's report of the fleet (one invocation: the fleet is below AuditKeysPerShard)
    single = handler(dict(EVENT), lambda_context)
    assert "fanned_out" not in single
    stack.reports()

    # When the same fleet is audited by the state machine in about 3 shards
    outcome = run_fanout(execution_input_for(EVENT, shards=3))

    # Then the held sub-account keys' secrets were spread over several shards, not only the first one
    shard_of = shards_of(outcome)
    held_shards = {shard_of[P + label] for label in HELD}
    assert len(held_shards) >= 2 and held_shards != {0}
    assert MASTER_SECRET not in shard_of  # the master is not one of the shards' secrets
    merged = outcome.merged

    # And the merged report judges every key once, exactly as the single run did
    assert per_key(merged) == per_key(single)
    assert P + "desk1-bot" in per_key(merged) and "subaccount:desk1/desk1-bot" not in per_key(merged)
    assert per_key(merged)[P + "desk3-a"][6] == "OKX's creation time from the master's listing"
    # with the same problems, severities and counts (the 50-key budget of desk2 included, once)
    assert problems(merged) == problems(single)
    assert problems(merged)[("subaccount:desk2", "audit.limits.keys", "MEDIUM", "WARN")] == 1
    assert merged["counts"] == single["counts"] and merged["severity"] == single["severity"]
    single_passed, merged_passed = passed_checks(single, merged)
    assert merged_passed == single_passed

    # And one SNS report, whose subject counts the keys as the single run's does
    [message] = stack.reports()
    assert f"{len(per_key(single))} key(s)" in message.subject
    # And nothing held in a secret reached S3: no api key, no secret, no passphrase
    run_objects = boto3.client("s3").list_objects_v2(Bucket=RUN_BUCKET)["Contents"]
    stored = "".join(s3_json(o["Key"]).__repr__() for o in run_objects)
    for key in keys:
        assert key.api_key not in stored and key.secret not in stored and key.passphrase not in stored


def test_a_failed_shard_names_the_keys_it_did_not_audit_and_its_listed_keys_are_judged_from_the_listing(fleet):
    stack, _keys = fleet
    # Given the plan's shards, and the shard holding desk1's key crashing on every attempt
    execution_input = execution_input_for(EVENT, shards=3)
    plan = plan_shards(list_secrets(tag=None, prefix=P), execution_input["keys_per_shard"])
    [failing] = [s.index for s in plan.shards if P + "desk1-bot" in {e.name for e in s.entries}]
    assert failing != 0

    # When the state machine runs
    outcome = run_fanout(execution_input, fail_shards=frozenset({failing}))

    # Then the merged report names the secrets that shard held, as not audited
    merged = outcome.merged
    lost = sorted(name for name, shard in shards_of(outcome).items() if shard == failing)
    [failed] = [f for f in merged["findings"] if f["check_id"] == "audit.shard"]
    assert f"{len(lost)} key(s) not audited" in failed["message"]
    for name in lost:
        assert name in failed["observed"]
    # And no key is reported twice; desk1's key, held in the lost shard, is judged from the master's listing
    keys = per_key(merged)
    assert P + "desk1-bot" not in keys
    assert keys["subaccount:desk1/desk1-bot"][2] == "CRITICAL"
    [message] = stack.reports()
    assert message.attributes["severity"] == "CRITICAL"


def test_with_repair_on_the_plan_binds_the_listed_keys_before_the_shards_audit_them(fleet):
    stack, keys = fleet
    by_label = {k.label: k for k in keys}
    # When the state machine runs with IP-binding repair applied
    outcome = run_fanout(execution_input_for({**EVENT, "repair_mode": "apply"}, shards=3))

    # Then OKX bound both unbound desk1 keys (one held in a later shard's secret, one known from the listing only)
    requests = stack.sim.stats.requests
    modifies = [n for n, r in enumerate(requests) if r.path == MODIFY]
    assert len(modifies) == 2
    for label in ("desk1-bot", "desk1-listed"):
        assert set(stack.sim.key(by_label[label].api_key).ips) == set(BOTH)
    # before the shard holding desk1-bot's secret made its signed call with it
    [audited] = [
        n for n, r in enumerate(requests) if r.path.startswith(CONFIG) and r.api_key == by_label["desk1-bot"].api_key
    ]
    assert max(modifies) < audited

    # And the merged report judges desk1-bot once, by its secret, as bound; the repair table shows both changes
    merged = outcome.merged
    keys_now = per_key(merged)
    assert "subaccount:desk1/desk1-bot" not in keys_now
    assert set(keys_now[P + "desk1-bot"][5]) == set(BOTH)
    assert not [
        f for f in merged["findings"] if f["resource"] == P + "desk1-bot" and f["check_id"] == "audit.ip_binding"
    ]
    rows = {row[0]: row[1] for row in merged["tables"]["IP-binding repair (apply)"][1:]}
    assert rows == {"desk1-bot": "applied", "desk1-listed": "applied"}


class MemoryStore:
    """The RunStore protocol over a dict, JSON round-tripped as S3 would."""

    def __init__(self) -> None:
        self.objects: dict[str, Any] = {}

    def put_json(self, key: str, value: Any) -> str:
        self.objects[key] = json.loads(json.dumps(value, default=str))
        return f"memory://{key}"

    def get_json(self, key: str) -> Any | None:
        return self.objects.get(key)


def test_a_master_secret_under_the_prefix_is_the_plans_and_never_a_shards_secret_too():
    # Given a master whose secret is one of the selected secrets
    metas = [SecretMetadata(name=name) for name in ("k/a", "k/master", "k/b")]
    store = MemoryStore()
    request = AuditRequest(key_secret_prefix="k/", master_secret="k/master")

    # When the plan packs them into shards of one key
    plan = plan_run(request, lambda _tag, _prefix: metas, store, run_id="r1", keys_per_shard=1)

    # Then no shard holds the master (the plan audits it), so it is audited once, as the master
    entries = [e["name"] for item in store.get_json(plan.items_key) for e in store.get_json(item["entries_key"])]
    assert sorted(entries) == ["k/a", "k/b"] and plan.keys == 2 and plan.shards == 2


def test_a_plan_that_cannot_audit_the_master_stores_a_finding_for_the_merge_and_an_empty_listing():
    store = MemoryStore()
    request = AuditRequest(key_secret_prefix="k/", master_secret="k/master")

    def unreachable(_request, _shared):
        raise ProxyUnreachableError("unreachable", proxy="proxy.example:1080")

    # When the plan's audit of the master fails outright (Shield down, say)
    audit_master(request, unreachable, store, run_id="r1", shield_requests=lambda: 0)

    # Then the merge finds the master's failure as a finding, and the shards match against an empty listing
    master = load_master(store, "r1")
    assert master is not None
    [problem] = master.problems
    assert problem.resource == "k/master" and problem.observed == "Shield proxy proxy.example:1080: unreachable"
    assert shared_listing_for(store, "r1").given == {}
