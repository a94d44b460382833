"""The secret's lease in the state table (moto, the table from template.yaml): one holder at a time, renewable
by its holder, free again after it expires or is released, never released by another run."""

from __future__ import annotations

import boto3
import pytest

from okxcore.aws.rotation_state import DynamoRotationLedger
from okxcore.keys.rotation.record import PendingDeletion, RotationRecord
from okxlocal.template import state_table_definition

TABLE = "state"
T0 = 1_800_000_000_000
TTL = 300_000


@pytest.fixture
def ledger(aws: None) -> DynamoRotationLedger:
    client = boto3.client("dynamodb")
    client.create_table(**state_table_definition(TABLE))
    return DynamoRotationLedger(TABLE, client=client)


def test_one_holder_at_a_time_until_release_or_expiry(ledger):
    assert ledger.acquire_lease("s", "cleanup a", now_ms=T0, ttl_ms=TTL) is None
    assert ledger.acquire_lease("s", "createSecret b", now_ms=T0 + 1, ttl_ms=TTL) == "cleanup a"
    assert ledger.acquire_lease("other", "createSecret b", now_ms=T0 + 1, ttl_ms=TTL) is None  # per secret
    assert ledger.acquire_lease("s", "cleanup a", now_ms=T0 + 2, ttl_ms=TTL) is None  # its holder renews it

    ledger.release_lease("s", "createSecret b")  # not the holder: nothing happens
    assert ledger.acquire_lease("s", "createSecret b", now_ms=T0 + 3, ttl_ms=TTL) == "cleanup a"
    ledger.release_lease("s", "cleanup a")
    assert ledger.acquire_lease("s", "createSecret b", now_ms=T0 + 4, ttl_ms=TTL) is None

    # a holder that died: its lease is free once expired
    assert ledger.acquire_lease("s", "finishSecret c", now_ms=T0 + 4 + TTL - 1, ttl_ms=TTL) == "createSecret b"
    assert ledger.acquire_lease("s", "finishSecret c", now_ms=T0 + 5 + TTL, ttl_ms=TTL) is None


def test_the_cleanup_looks_now_at_a_stage_move_not_read_back_and_at_a_key_not_yet_seen_retired(ledger):
    finished = RotationRecord(secret="s", status="succeeded", sub_acct="sub1")
    assert finished.cleanup_after_ms() is None
    moving = finished.model_copy(update={"promoting_fingerprint": "f" * 64})
    assert moving.cleanup_after_ms() == 0
    unseen = PendingDeletion(fingerprint="e" * 64, sub_acct="sub1", label="old")
    assert finished.model_copy(update={"pending_deletions": [unseen]}).cleanup_after_ms() == 0
    due = unseen.model_copy(update={"due_ms": T0})
    assert finished.model_copy(update={"pending_deletions": [due]}).cleanup_after_ms() == T0
    gone_failed = RotationRecord(secret="s", status="failed", sub_acct="sub1", secret_gone_ms=T0)
    assert gone_failed.cleanup_after_ms() is None  # its orphans went when it was found gone
