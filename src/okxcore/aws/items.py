"""DynamoDB items as plain Python values, through boto3's TypeSerializer and TypeDeserializer: the state table's
adapters never spell an attribute type ({"S": ...}) themselves.

Numbers come back as int (the table holds whole numbers only: milliseconds and revisions), never as Decimal.
boto3 is imported on first use, as in okxcore.aws.clients.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    """`{"id": "guard#trading", "paused": True}` as DynamoDB's `{"id": {"S": ...}, "paused": {"BOOL": ...}}`."""
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    return {name: serializer.serialize(value) for name, value in values.items()}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item DynamoDB returned, as plain values (numbers as int)."""
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {name: _plain(deserializer.deserialize(value)) for name, value in item.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


BATCH_GET_LIMIT = 100  # keys per BatchGetItem
BATCH_GET_ATTEMPTS = 5


class UnprocessedKeysError(RuntimeError):
    """DynamoDB still left keys unprocessed after BATCH_GET_ATTEMPTS calls (throttling)."""


def batch_get(client: Any, table_name: str, ids: list[str], *, consistent_read: bool = False) -> list[dict[str, Any]]:
    """The items whose `id` is one of `ids` (those that exist, as plain values), 100 per BatchGetItem; the keys
    DynamoDB leaves unprocessed under throttling are asked for again."""
    found: list[dict[str, Any]] = []
    for start in range(0, len(ids), BATCH_GET_LIMIT):
        wanted: dict[str, Any] = {"Keys": [to_item({"id": i}) for i in ids[start : start + BATCH_GET_LIMIT]]}
        if consistent_read:
            wanted["ConsistentRead"] = True
        request: dict[str, Any] = {table_name: wanted}
        for _attempt in range(BATCH_GET_ATTEMPTS):
            answer = client.batch_get_item(RequestItems=request)
            found.extend(from_item(item) for item in answer.get("Responses", {}).get(table_name, []))
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                break
        else:
            raise UnprocessedKeysError(f"DynamoDB left keys unprocessed after {BATCH_GET_ATTEMPTS} attempts")
    return found
