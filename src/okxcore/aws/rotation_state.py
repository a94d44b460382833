"""The rotation's memory in the state table: one item per key secret, `rotation#<secret name>`, holding its
RotationRecord (okxcore.keys.rotation.record).

Writes are optimistic (a revision number): the cleanup and a rotation may touch one item at the same time.

A second item per secret, `rotationlease#<secret name>`, is its lease: a rotation step and the cleanup of one
secret take it (a conditional write) before they read what to keep and act on it, so that neither can move
AWSCURRENT or delete a key while the other is deciding (okxcore.keys.rotation.lease). It expires by itself
(`expires_ms`), so a process that died holding it blocks the secret only until then; DynamoDB's TTL
(`expiration`) removes the item later.

The hourly cleanup reads only the records that have work for it: an item that needs the cleanup carries
`cleanup` and `cleanup_after` (the earliest instant it has work), which the sparse index CLEANUP_INDEX keys
on; a finished rotation with nothing left to delete carries neither, so a fleet of healthy keys costs the
cleanup one empty Query instead of a scan of the whole table. Items written before the index existed are
given the attributes once, by a one-time backfill marked with BACKFILL_MARKER.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from okxcore.aws.clients import aws_client
from okxcore.aws.items import BATCH_GET_ATTEMPTS, UnprocessedKeysError, batch_get, from_item, to_item
from okxcore.errors import OkxShieldError
from okxcore.keys.rotation.record import RotationRecord

ROTATION_PREFIX = "rotation#"
LEASE_PREFIX = "rotationlease#"
CLEANUP_INDEX = "RotationCleanup"  # template.yaml StateTable GlobalSecondaryIndexes
CLEANUP_PARTITION = "rotation"
BACKFILL_MARKER = "rotation-cleanup-index#v1"


class RotationStateError(OkxShieldError):
    hint = "Check that the function may read and write its state table (DynamoDBCrudPolicy)."


class DynamoRotationLedger:
    def __init__(self, table_name: str, *, client: Any = None) -> None:
        if client is None:
            client = aws_client("dynamodb")
        self._client = client
        self.table_name = table_name

    def load(self, secret: str) -> RotationRecord:
        return self._read(secret)[0]

    def load_many(self, secrets: list[str]) -> dict[str, RotationRecord]:
        """Many secrets' records, 100 per BatchGetItem (the audit reads each key's once per run)."""
        out = {name: RotationRecord(secret=name) for name in secrets}
        try:
            items = batch_get(self._client, self.table_name, [ROTATION_PREFIX + n for n in out], consistent_read=True)
            for item in items:
                out[item["id"].removeprefix(ROTATION_PREFIX)] = RotationRecord.model_validate_json(item["record"])
        except UnprocessedKeysError:
            raise RotationStateError(
                f"DynamoDB left rotation records unprocessed after {BATCH_GET_ATTEMPTS} attempts"
            ) from None
        except Exception as exc:  # botocore names the error code and table, never item content
            raise RotationStateError(f"reading rotation records failed: {str(exc)[:300]}") from None
        return out

    def update(self, secret: str, change: Callable[[RotationRecord], None], *, attempts: int = 5) -> RotationRecord:
        """Read, change, write back if nobody wrote in between; else read again and reapply."""
        for _ in range(attempts):
            record, revision = self._read(secret)
            change(record)
            if self._write(record, revision):
                return record
        raise RotationStateError(f"the rotation record of {secret} kept changing under concurrent writes")

    def acquire_lease(self, secret: str, holder: str, *, now_ms: int, ttl_ms: int) -> str | None:
        """Takes the secret's lease for `holder` until now + ttl (or renews it). None when taken; otherwise who
        holds it, as that holder named itself."""
        expires = now_ms + ttl_ms
        item = {"id": LEASE_PREFIX + secret, "holder": holder, "expires_ms": expires}
        try:
            self._client.put_item(
                TableName=self.table_name,
                Item=to_item({**item, "expiration": expires // 1000 + 86_400}),  # DynamoDB's TTL, a day later
                ConditionExpression="attribute_not_exists(id) OR expires_ms < :now OR holder = :me",
                ExpressionAttributeValues=to_item({":now": now_ms, ":me": holder}),
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return self._lease_holder(secret) or "another run"
        except Exception as exc:
            raise RotationStateError(f"taking the rotation lease of {secret} failed: {str(exc)[:300]}") from None
        return None

    def release_lease(self, secret: str, holder: str) -> None:
        """Gives the lease back if `holder` still holds it (an expired lease may belong to another run by now)."""
        try:
            self._client.delete_item(
                TableName=self.table_name,
                Key=to_item({"id": LEASE_PREFIX + secret}),
                ConditionExpression="holder = :me",
                ExpressionAttributeValues=to_item({":me": holder}),
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return
        except Exception as exc:
            raise RotationStateError(f"releasing the rotation lease of {secret} failed: {str(exc)[:300]}") from None

    def _lease_holder(self, secret: str) -> str:
        try:
            item = self._client.get_item(
                TableName=self.table_name, Key=to_item({"id": LEASE_PREFIX + secret}), ConsistentRead=True
            ).get("Item")
        except Exception:  # who holds it only words the message; the lease itself was refused either way
            return ""
        return str(from_item(item)["holder"]) if item else ""

    def secrets_to_clean(self, now_ms: int) -> list[str]:
        """The secrets whose records have work for the cleanup at `now_ms` (its work list), from the index."""
        self._backfill_once()
        try:
            return sorted(
                self._record_names(
                    "query",
                    IndexName=CLEANUP_INDEX,
                    KeyConditionExpression="#c = :c AND cleanup_after <= :now",
                    ExpressionAttributeNames={"#c": "cleanup"},
                    ExpressionAttributeValues=to_item({":c": CLEANUP_PARTITION, ":now": now_ms}),
                )
            )
        except Exception as exc:  # botocore names the error code and table, never item content
            raise RotationStateError(f"listing rotation records due for cleanup failed: {str(exc)[:300]}") from None

    def _backfill_once(self) -> None:
        """Give records written before the cleanup index existed its attributes (one scan, once per table)."""
        try:
            marker = to_item({"id": BACKFILL_MARKER})
            if self._client.get_item(TableName=self.table_name, Key=marker, ConsistentRead=True).get("Item"):
                return
            legacy = self._record_names(
                "scan",
                FilterExpression="begins_with(id, :p)",
                ExpressionAttributeValues=to_item({":p": ROTATION_PREFIX}),
                ProjectionExpression="id",
            )
            for name in legacy:
                self.update(name, lambda _record: None)  # a write recomputes the index attributes
            self._client.put_item(TableName=self.table_name, Item=marker)
        except RotationStateError:
            raise
        except Exception as exc:
            raise RotationStateError(f"indexing rotation records for the cleanup failed: {str(exc)[:300]}") from None

    def _record_names(self, operation: str, **request: Any) -> list[str]:
        """The secret names of every rotation record a Query or Scan of the table yields, over all its pages."""
        pages = self._client.get_paginator(operation).paginate(TableName=self.table_name, **request)
        items = (from_item(item) for page in pages for item in page.get("Items", []))
        return [item["id"].removeprefix(ROTATION_PREFIX) for item in items]

    def _read(self, secret: str) -> tuple[RotationRecord, int]:
        try:
            item = self._client.get_item(
                TableName=self.table_name, Key=to_item({"id": ROTATION_PREFIX + secret}), ConsistentRead=True
            ).get("Item")
        except Exception as exc:
            raise RotationStateError(f"reading the rotation record of {secret} failed: {str(exc)[:300]}") from None
        if not item:
            return RotationRecord(secret=secret), 0
        values = from_item(item)
        return RotationRecord.model_validate_json(values["record"]), values["rev"]

    def _write(self, record: RotationRecord, revision: int) -> bool:
        item: dict[str, Any] = {
            "id": ROTATION_PREFIX + record.secret,
            "rev": revision + 1,
            "record": record.model_dump_json(),
        }
        cleanup_after = record.cleanup_after_ms()
        if cleanup_after is not None:  # sparse: absent attributes keep a finished record out of the index
            item["cleanup"] = CLEANUP_PARTITION
            item["cleanup_after"] = cleanup_after
        try:
            self._client.put_item(
                TableName=self.table_name,
                Item=to_item(item),
                ConditionExpression="attribute_not_exists(id) OR rev = :rev",
                ExpressionAttributeValues=to_item({":rev": revision}),
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        except Exception as exc:
            message = f"writing the rotation record of {record.secret} failed: {str(exc)[:300]}"
            raise RotationStateError(message) from None
        return True
