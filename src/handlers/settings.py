"""The product functions' environment variables, validated once at start-up (okxcore.environment's way).
Logic never reads os.environ."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field

from okxcore.endpoints import OKX_HOSTS
from okxcore.environment import ShieldClientSettings


class RuntimeSettings(ShieldClientSettings):
    environment: str = Field(default="dev", alias="ENVIRONMENT")
    shield_secret_name: str = Field(alias="SHIELD_SECRET_NAME", min_length=1)
    report_topic_arn: str = Field(alias="REPORT_TOPIC_ARN", min_length=1)
    state_table_name: str = Field(alias="STATE_TABLE_NAME", min_length=1)
    # Where the probe and audit find keys when the event does not list them.
    key_secret_names: str = Field(default="", alias="KEY_SECRET_NAMES")
    key_secret_prefix: str = Field(default="", alias="KEY_SECRET_PREFIX")
    key_secret_tag: str = Field(default="", alias="KEY_SECRET_TAG")  # "key=value"
    # The audit's master key (its sub-accounts' keys are audited too) when the event names none.
    master_key_secret_name: str = Field(default="", alias="MASTER_KEY_SECRET_NAME")
    echo_urls: str = Field(default="", alias="ECHO_URLS")
    # IP-binding repair of sub-account keys by the audit and probe (an event's repair_mode overrides it).
    key_repair_mode: Literal["off", "plan", "apply"] = Field(default="off", alias="KEY_REPAIR_MODE")
    # The trade function's ceiling on a limit order's lifetime (okxcore/trading/lifetimes.py).
    limit_order_max_lifetime_s: int = Field(default=604_800, ge=60, le=2_592_000, alias="LIMIT_ORDER_MAX_LIFETIME_S")
    # Shield's static IPs when the Shield secret does not list them.
    shield_expected_ips: str = Field(default="", alias="SHIELD_EXPECTED_IPS")
    # Rotation: how long a retired OKX key stays valid (warm functions cache the secret up to 300 s).
    rotation_grace_period_s: int = Field(default=3600, ge=0, le=30 * 86400, alias="ROTATION_GRACE_PERIOD_S")

    def simulator_host(self) -> str | None:
        """The host standing in for OKX (the local simulator: no real funds), or None when calls go to OKX.
        Words for a report only: whether the target may be used at all is okx_target()'s to say."""
        if not self.local_overrides:
            return None
        regional = [pair.partition("=")[2] for pair in (self.okx_region_base_urls or "").split(",")]
        for url in (self.okx_base_url or "", *regional):
            parts = urlsplit(url.strip())
            if parts.hostname and parts.hostname not in OKX_HOSTS.values():
                return parts.netloc
        return None

    @staticmethod
    def split(text: str) -> list[str]:
        return [part.strip() for part in text.split(",") if part.strip()]
