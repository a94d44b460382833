"""The shared state store (one DynamoDB table): the trading guard and each key's last authenticated use.

The same table holds Powertools idempotency records; our items use their own `id` prefixes.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from okxcore.aws.clients import aws_client
from okxcore.aws.items import batch_get, from_item, to_item
from okxcore.trading_guard import TradingGuard

if TYPE_CHECKING:
    from okxcore.keys.repair.binding import RepairRecord

GUARD_ID = "guard#trading"
KEY_USE_PREFIX = "keyuse#"
KEY_REPAIR_PREFIX = "keyrepair#"


class DynamoStateStore:
    def __init__(self, table_name: str, *, client: Any = None) -> None:
        if client is None:
            client = aws_client("dynamodb")
        self._client = client
        self.table_name = table_name

    # --- trading guard -------------------------------------------------------------------------

    def trading_guard(self) -> TradingGuard:
        item = self._client.get_item(TableName=self.table_name, Key=to_item({"id": GUARD_ID}), ConsistentRead=True)
        found = item.get("Item")
        if not found:
            return TradingGuard()
        values = from_item(found)
        return TradingGuard(
            paused=values.get("paused", False),
            reason=values.get("reason", ""),
            since=values.get("since", ""),
            set_by=values.get("set_by", ""),
        )

    def pause_trading(self, reason: str, *, set_by: str) -> None:
        current = self.trading_guard()
        since = current.since if current.paused else datetime.now(UTC).isoformat(timespec="seconds")
        self._put_guard(TradingGuard(paused=True, reason=reason, since=since, set_by=set_by))

    def resume_trading(self, *, set_by: str) -> bool:
        """Clears the guard; True when trading had been paused."""
        was_paused = self.trading_guard().paused
        if was_paused:
            self._put_guard(
                TradingGuard(paused=False, since=datetime.now(UTC).isoformat(timespec="seconds"), set_by=set_by)
            )
        return was_paused

    def _put_guard(self, guard: TradingGuard) -> None:
        self._client.put_item(TableName=self.table_name, Item=to_item({"id": GUARD_ID, **guard.model_dump()}))

    # --- key use -------------------------------------------------------------------------------

    def record_key_use(self, key_name: str, at_ms: int) -> None:
        """Remember the latest authenticated call made with a key (never moves backwards)."""
        with contextlib.suppress(self._client.exceptions.ConditionalCheckFailedException):
            self._client.update_item(
                TableName=self.table_name,
                Key=to_item({"id": KEY_USE_PREFIX + key_name}),
                UpdateExpression="SET last_used_ms = :t",
                ConditionExpression="attribute_not_exists(last_used_ms) OR last_used_ms < :t",
                ExpressionAttributeValues=to_item({":t": at_ms}),
            )

    def last_key_uses(self, key_names: list[str]) -> dict[str, int | None]:
        """Many keys' last use, 100 per BatchGetItem call (a fleet's audit reads each key once per run)."""
        out: dict[str, int | None] = dict.fromkeys(key_names)
        ids = [KEY_USE_PREFIX + name for name in dict.fromkeys(key_names)]
        for item in batch_get(self._client, self.table_name, ids):
            out[item["id"].removeprefix(KEY_USE_PREFIX)] = item.get("last_used_ms")
        return out

    def last_key_use(self, key_name: str) -> int | None:
        item = self._client.get_item(TableName=self.table_name, Key=to_item({"id": KEY_USE_PREFIX + key_name}))
        used: int | None = from_item(item.get("Item", {})).get("last_used_ms")
        return used

    # --- key repairs ---------------------------------------------------------------------------

    def record_key_repair(self, record: RepairRecord) -> None:
        """One item per applied IP-binding change (labels and IP lists only: the record holds no key or secret)."""
        item = {"id": f"{KEY_REPAIR_PREFIX}{record.resource}#{record.at}", **record.model_dump()}
        self._client.put_item(TableName=self.table_name, Item=to_item(item))
