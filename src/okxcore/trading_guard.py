"""The trading guard: the pause the probe sets when egress is wrong, which the trade function and the bots' clients
obey. Kept in the state table by okxcore.aws.state."""

from __future__ import annotations

from pydantic import BaseModel


class TradingGuard(BaseModel):
    paused: bool = False
    reason: str = ""
    since: str = ""
    set_by: str = ""
