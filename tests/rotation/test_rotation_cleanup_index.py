"""The hourly cleanup's work list comes from the state table's sparse index, not a scan of the table.

Against moto, with the state table created from template.yaml's own definition (its index included).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import boto3
import pytest

from okxcore.aws.rotation_state import BACKFILL_MARKER, ROTATION_PREFIX, DynamoRotationLedger
from okxcore.keys.rotation.record import PendingDeletion, RotationRecord
from okxlocal.template import state_table_definition

TABLE = "state"
NOW_MS = 1_800_000_000_000


@pytest.fixture
def client(aws: None) -> Any:
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(**state_table_definition(TABLE))
    return dynamodb


def calls_of(client: Any) -> Counter[str]:
    """Every DynamoDB operation the client makes from here on, by name."""
    seen: Counter[str] = Counter()
    client.meta.events.register("before-call.dynamodb", lambda model, **_: seen.update([model.name]))
    return seen


def pending(due_ms: int) -> PendingDeletion:
    return PendingDeletion(fingerprint="f" * 64, sub_acct="sub1", label="old", due_ms=due_ms)


def seed_fleet(ledger: DynamoRotationLedger) -> None:
    def to(record: RotationRecord) -> Any:
        def change(stored: RotationRecord) -> None:
            for field in RotationRecord.model_fields:
                setattr(stored, field, getattr(record, field))

        return change

    ledger.update("healthy", to(RotationRecord(secret="healthy", status="succeeded", sub_acct="sub1")))
    ledger.update(
        "retired-later",
        to(
            RotationRecord(
                secret="retired-later",
                status="succeeded",
                sub_acct="sub1",
                pending_deletions=[pending(NOW_MS + 60_000)],
            )
        ),
    )
    ledger.update(
        "retired-due",
        to(
            RotationRecord(
                secret="retired-due", status="succeeded", sub_acct="sub1", pending_deletions=[pending(NOW_MS - 1)]
            )
        ),
    )
    ledger.update("failed", to(RotationRecord(secret="failed", status="failed", sub_acct="sub1")))
    ledger.update("refused-master", to(RotationRecord(secret="refused-master", status="refused")))


def test_the_cleanup_lists_only_records_with_work_due_and_never_scans_once_indexed(client):
    ledger = DynamoRotationLedger(TABLE, client=client)
    seed_fleet(ledger)
    ledger.secrets_to_clean(0)  # the one-time backfill of an empty index happens here
    calls = calls_of(client)

    # Now: the failed rotation (an orphan may exist at any time) and the key whose grace period ended
    assert ledger.secrets_to_clean(NOW_MS) == ["failed", "retired-due"]
    # A minute later the other retired key is due as well; a healthy or refused record never is
    assert ledger.secrets_to_clean(NOW_MS + 60_000) == ["failed", "retired-due", "retired-later"]
    assert calls["Scan"] == 0 and calls["Query"] == 2


def test_a_record_leaves_the_work_list_once_its_old_keys_are_deleted(client):
    ledger = DynamoRotationLedger(TABLE, client=client)
    seed_fleet(ledger)
    assert "retired-due" in ledger.secrets_to_clean(NOW_MS)

    ledger.update("retired-due", lambda r: r.pending_deletions.clear())

    assert "retired-due" not in ledger.secrets_to_clean(NOW_MS + 10**9)


def test_records_written_before_the_index_existed_are_indexed_by_one_scan_then_never_again(client):
    # Given records as the previous version wrote them: no index attributes
    legacy = {
        "old-due": RotationRecord(secret="old-due", status="succeeded", sub_acct="s", pending_deletions=[pending(1)]),
        "old-healthy": RotationRecord(secret="old-healthy", status="succeeded", sub_acct="s"),
    }
    for name, record in legacy.items():
        client.put_item(
            TableName=TABLE,
            Item={"id": {"S": ROTATION_PREFIX + name}, "rev": {"N": "3"}, "record": {"S": record.model_dump_json()}},
        )
    ledger = DynamoRotationLedger(TABLE, client=client)
    calls = calls_of(client)

    # When the cleanup runs twice
    first = ledger.secrets_to_clean(NOW_MS)
    scans_after_first = calls["Scan"]
    second = ledger.secrets_to_clean(NOW_MS)

    # Then the legacy record with work is found both times, by one scan in all
    assert first == second == ["old-due"]
    assert scans_after_first == 1 and calls["Scan"] == 1
    assert client.get_item(TableName=TABLE, Key={"id": {"S": BACKFILL_MARKER}}).get("Item")
    # and the backfill kept each record as it was (a write bumps only the revision)
    assert ledger.load("old-due") == legacy["old-due"]
