"""Helpers shared by the trade tests (a plain module: tests/ directories are not packages)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"
KEY_SECRET = "okx-shield/keys/bot-main"
UID = "1001"  # the uid of the root conftest's trade_key


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def load_event(name: str, **changes: Any) -> dict[str, Any]:
    """An example event from events/, as Scheduler would deliver it now (scheduled_time = the current time)."""
    event = json.loads((EVENTS_DIR / name).read_text())
    event["scheduled_time"] = now_iso()
    event["key_secret"] = KEY_SECRET
    event.update(changes)
    return event


def orders_with(sim, cl_ord_ids: set[str] | None = None) -> list[dict[str, Any]]:
    """The simulator's own record of orders (the exactly-once assertions never count on our code)."""
    return [o for o in sim.orders(UID) if cl_ord_ids is None or o["clOrdId"] in cl_ord_ids]
