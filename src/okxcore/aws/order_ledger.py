"""The order ledger's items in the state table (rules: okxcore/trading/ledger.py).

One item per order, `order#<clOrdId>`: the record as JSON, plus the attributes the sparse index OPEN_INDEX keys
on while the order is open (`open_orders`, `expires_ms`). Closing the order removes them, so the sweep's Query
reads only open orders, oldest expiry first, and a table of ended orders costs it nothing. A closed item
expires (TTL `expiration`) after ENDED_KEPT_S, long enough for `okx-shield orders` to show how it ended.

Writing is conditional on the plan version (its fingerprint): a clOrdId names one slot's leg, and once one version
of the plan has recorded an order under it, another version (the slot delivered again after the plan was edited,
with the leg now on another instrument) cannot, so it never sends a second order for that slot and leg. Closing is
conditional on the record still being the one that was read (its `sent_by_ms`): a send recorded in between (a
retry of the slot) keeps the order open.
"""

from __future__ import annotations

from typing import Any

from okxcore.aws.clients import aws_client
from okxcore.aws.items import from_item, to_item
from okxcore.trading.ledger import OrderLedgerError, OrderRecord

ORDER_PREFIX = "order#"
OPEN_INDEX = "OpenOrders"  # template.yaml StateTable GlobalSecondaryIndexes
OPEN_PARTITION = "open"
ENDED_KEPT_S = 30 * 86_400


class DynamoOrderLedger:
    def __init__(self, table_name: str, *, client: Any = None) -> None:
        if client is None:
            client = aws_client("dynamodb")
        self._client = client
        self.table_name = table_name

    def record(self, record: OrderRecord) -> None:
        item: dict[str, Any] = {
            "id": ORDER_PREFIX + record.cl_ord_id,
            "record": record.model_dump_json(),
            "plan_id": record.plan_id,  # for the index Query's filter
            "fingerprint": record.fingerprint,
            "sent_by_ms": record.sent_by_ms,
            "open_orders": OPEN_PARTITION,
            "expires_ms": record.expires_ms,
        }
        try:
            self._client.put_item(
                TableName=self.table_name,
                Item=to_item(item),
                ConditionExpression="attribute_not_exists(id) OR fingerprint = :fp",
                ExpressionAttributeValues=to_item({":fp": record.fingerprint}),
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            raise OrderLedgerError(
                f"order {record.cl_ord_id} (this slot's leg {record.leg_index}) is already recorded for another "
                "version of the plan: one slot places one order per leg",
                hint="The slot ran (in part) with the plan as it was; the changed plan takes effect at its next slot.",
            ) from None
        except Exception as exc:  # botocore names the error code and table, never item content
            raise OrderLedgerError(f"recording order {record.cl_ord_id} failed: {str(exc)[:300]}") from None

    def close(self, record: OrderRecord, ended: str, at_ms: int) -> bool:
        closed = record.model_copy(update={"state": "ended", "ended": ended, "ended_ms": at_ms})
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key=to_item({"id": ORDER_PREFIX + record.cl_ord_id}),
                UpdateExpression="SET #r = :r, expiration = :exp REMOVE open_orders, expires_ms",
                ConditionExpression="sent_by_ms = :seen",
                ExpressionAttributeNames={"#r": "record"},
                ExpressionAttributeValues=to_item(
                    {":r": closed.model_dump_json(), ":exp": at_ms // 1000 + ENDED_KEPT_S, ":seen": record.sent_by_ms}
                ),
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        except Exception as exc:
            raise OrderLedgerError(f"closing the record of order {record.cl_ord_id} failed: {str(exc)[:300]}") from None
        return True

    def open_records(self, plan_id: str | None = None, *, expired_by_ms: int | None = None) -> list[OrderRecord]:
        condition = "open_orders = :open" + (" AND expires_ms <= :now" if expired_by_ms is not None else "")
        values: dict[str, Any] = {":open": OPEN_PARTITION}
        if expired_by_ms is not None:
            values[":now"] = expired_by_ms
        request: dict[str, Any] = {"IndexName": OPEN_INDEX, "KeyConditionExpression": condition}
        if plan_id is not None:
            request["FilterExpression"] = "plan_id = :plan"
            values[":plan"] = plan_id
        try:
            pages = self._client.get_paginator("query").paginate(
                TableName=self.table_name, ExpressionAttributeValues=to_item(values), **request
            )
            items = (from_item(item) for page in pages for item in page["Items"])
            records = [OrderRecord.model_validate_json(item["record"]) for item in items]
        except Exception as exc:
            raise OrderLedgerError(f"reading the open orders failed: {str(exc)[:300]}") from None
        return [r for r in records if plan_id is None or r.plan_id == plan_id]
