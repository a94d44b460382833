"""The fan-out's environment (template.yaml), validated once; unset means the audit never fans out."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from okxcore.audit.shards import DEFAULT_KEYS_PER_SHARD, MAX_KEYS_PER_SHARD
from okxcore.inputs import input_error


class FanoutSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    state_machine_arn: str = Field(default="", alias="AUDIT_STATE_MACHINE_ARN")
    run_bucket: str = Field(default="", alias="AUDIT_RUN_BUCKET")
    keys_per_shard: int = Field(
        default=DEFAULT_KEYS_PER_SHARD, ge=1, le=MAX_KEYS_PER_SHARD, alias="AUDIT_KEYS_PER_SHARD"
    )
    # What one OKX call through Shield is planned to take: Shield's real latency is 100-300 ms.
    call_latency_s: float = Field(default=0.3, gt=0, le=10, alias="AUDIT_CALL_LATENCY_S")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> FanoutSettings:
        values = {k: v for k, v in (os.environ if environ is None else environ).items() if v != ""}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise input_error(
                exc,
                source="function environment",
                hint="Set it in template.yaml (AuditFunction / AuditFanoutFunction environment).",
            ) from None
