"""The shared state store (one DynamoDB table): the trading guard and each key's last authenticated use.

The same table holds Powertools idempotency records; our items use their own `id` prefixes.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from okxcore.aws.clients import aws_client
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
        item = self._client.get_item(TableName=self.table_name, Key={"id": {"S": GUARD_ID}}, ConsistentRead=True)
        found = item.get("Item")
        if not found:
            return TradingGuard()
        return TradingGuard(
            paused=found.get("paused", {}).get("BOOL", False),
            reason=found.get("reason", {}).get("S", ""),
            since=found.get("since", {}).get("S", ""),
            set_by=found.get("set_by", {}).get("S", ""),
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
        self._client.put_item(
            TableName=self.table_name,
            Item={
                "id": {"S": GUARD_ID},
                "paused": {"BOOL": guard.paused},
                "reason": {"S": guard.reason},
                "since": {"S": guard.since},
                "set_by": {"S": guard.set_by},
            },
        )

    # --- key use -------------------------------------------------------------------------------

    def record_key_use(self, key_name: str, at_ms: int) -> None:
        """Remember the latest authenticated call made with a key (never moves backwards)."""
        with contextlib.suppress(self._client.exceptions.ConditionalCheckFailedException):
            self._client.update_item(
                TableName=self.table_name,
                Key={"id": {"S": KEY_USE_PREFIX + key_name}},
                UpdateExpression="SET last_used_ms = :t",
                ConditionExpression="attribute_not_exists(last_used_ms) OR last_used_ms < :t",
                ExpressionAttributeValues={":t": {"N": str(at_ms)}},
            )

    def last_key_uses(self, key_names: list[str]) -> dict[str, int | None]:
        """Many keys' last use, 100 per BatchGetItem call (a fleet's audit reads each key once per run)."""
        out: dict[str, int | None] = dict.fromkeys(key_names)
        names = list(dict.fromkeys(key_names))
        for start in range(0, len(names), 100):
            request: dict[str, Any] = {
                self.table_name: {"Keys": [{"id": {"S": KEY_USE_PREFIX + n}} for n in names[start : start + 100]]}
            }
            for _attempt in range(5):  # unprocessed keys come back under throttling: ask again for those
                answer = self._client.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self.table_name, []):
                    value = item.get("last_used_ms", {}).get("N")
                    out[item["id"]["S"].removeprefix(KEY_USE_PREFIX)] = int(value) if value is not None else None
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
            else:
                raise RuntimeError("DynamoDB left keys unprocessed after 5 attempts")
        return out

    def last_key_use(self, key_name: str) -> int | None:
        item = self._client.get_item(TableName=self.table_name, Key={"id": {"S": KEY_USE_PREFIX + key_name}})
        value = item.get("Item", {}).get("last_used_ms", {}).get("N")
        return int(value) if value is not None else None

    # --- key repairs ---------------------------------------------------------------------------

    def record_key_repair(self, record: RepairRecord) -> None:
        """One item per applied IP-binding change (labels and IP lists only: the record holds no key or secret)."""
        self._client.put_item(
            TableName=self.table_name,
            Item={
                "id": {"S": f"{KEY_REPAIR_PREFIX}{record.resource}#{record.at}"},
                "at": {"S": record.at},
                "by": {"S": record.by},
                "resource": {"S": record.resource},
                "key_label": {"S": record.key_label},
                "sub_acct": {"S": record.sub_acct},
                "old_ips": {"L": [{"S": ip} for ip in record.old_ips]},
                "new_ips": {"L": [{"S": ip} for ip in record.new_ips]},
                "confirmed": {"BOOL": record.confirmed},
            },
        )
