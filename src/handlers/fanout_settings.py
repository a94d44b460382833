"""The fan-out's environment (template.yaml), validated once; unset means the audit never fans out."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from okxcore.audit.shards import DEFAULT_KEYS_PER_SHARD, MAX_KEYS_PER_SHARD
from okxcore.environment import EnvironmentSettings


class FanoutSettings(EnvironmentSettings):
    HINT: ClassVar[str] = "Set it in template.yaml (AuditFunction / AuditFanoutFunction environment)."

    state_machine_arn: str = Field(default="", alias="AUDIT_STATE_MACHINE_ARN")
    run_bucket: str = Field(default="", alias="AUDIT_RUN_BUCKET")
    keys_per_shard: int = Field(
        default=DEFAULT_KEYS_PER_SHARD, ge=1, le=MAX_KEYS_PER_SHARD, alias="AUDIT_KEYS_PER_SHARD"
    )
    # What one OKX call through Shield is planned to take: Shield's real latency is 100-300 ms.
    call_latency_s: float = Field(default=0.3, gt=0, le=10, alias="AUDIT_CALL_LATENCY_S")
