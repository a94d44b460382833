"""Environment variables, validated once at start-up. Logic never reads os.environ."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from okxcore.endpoints import OKX_HOSTS, check_local_overrides, is_deployed
from okxcore.inputs import input_error

SETTINGS_HINT = "Set it in template.yaml (or --env-vars for sam local invoke)."


class RuntimeSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    environment: str = Field(default="dev", alias="ENVIRONMENT")
    shield_secret_name: str = Field(alias="SHIELD_SECRET_NAME", min_length=1)
    report_topic_arn: str = Field(alias="REPORT_TOPIC_ARN", min_length=1)
    state_table_name: str = Field(alias="STATE_TABLE_NAME", min_length=1)
    # OKX_BASE_URL may name one of OKX's hosts; another host (the simulator) and OKX_CA_BUNDLE need the local
    # setting, which a deployed function refuses (okxcore.endpoints). SHIELD_CA_BUNDLE is the proxy's CA.
    okx_base_url: str | None = Field(default=None, alias="OKX_BASE_URL")
    okx_ca_bundle: str | None = Field(default=None, alias="OKX_CA_BUNDLE")
    shield_ca_bundle: str | None = Field(default=None, alias="SHIELD_CA_BUNDLE")
    local_overrides: bool = Field(default=False, alias="OKX_SHIELD_LOCAL")  # endpoints.LOCAL_SETTING
    # Set by Lambda, and by `sam local` too (which also sets AWS_SAM_LOCAL=true): together they tell deployed.
    lambda_function_name: str = Field(default="", alias="AWS_LAMBDA_FUNCTION_NAME")
    sam_local: str = Field(default="", alias="AWS_SAM_LOCAL")
    # Where the probe and audit find keys when the event does not list them.
    key_secret_names: str = Field(default="", alias="KEY_SECRET_NAMES")
    key_secret_prefix: str = Field(default="", alias="KEY_SECRET_PREFIX")
    key_secret_tag: str = Field(default="", alias="KEY_SECRET_TAG")  # "key=value"
    # The audit's master key (its sub-accounts' keys are audited too) when the event names none.
    master_key_secret_name: str = Field(default="", alias="MASTER_KEY_SECRET_NAME")
    echo_urls: str = Field(default="", alias="ECHO_URLS")
    # Deployment-wide defaults for what a key's secret does not say itself.
    okx_default_region: Literal["www", "eea", "us"] = Field(default="www", alias="OKX_REGION")
    okx_default_demo: bool = Field(default=False, alias="OKX_DEMO")
    # Bounds on reaching Shield: TCP connect, then TLS to the proxy plus its SOCKS5/CONNECT handshake.
    shield_connect_timeout_s: float = Field(default=5.0, gt=0, le=60, alias="SHIELD_CONNECT_TIMEOUT_S")
    shield_handshake_timeout_s: float = Field(default=10.0, gt=0, le=60, alias="SHIELD_HANDSHAKE_TIMEOUT_S")
    # IP-binding repair of sub-account keys by the audit and probe (an event's repair_mode overrides it).
    key_repair_mode: Literal["off", "plan", "apply"] = Field(default="off", alias="KEY_REPAIR_MODE")
    # The trade function's ceiling on a limit order's lifetime (okxcore/trading/lifetimes.py).
    limit_order_max_lifetime_s: int = Field(default=604_800, ge=60, le=2_592_000, alias="LIMIT_ORDER_MAX_LIFETIME_S")
    # Shield's static IPs when the Shield secret does not list them.
    shield_expected_ips: str = Field(default="", alias="SHIELD_EXPECTED_IPS")
    # Rotation: how long a retired OKX key stays valid (warm functions cache the secret up to 300 s).
    rotation_grace_period_s: int = Field(default=3600, ge=0, le=30 * 86400, alias="ROTATION_GRACE_PERIOD_S")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> RuntimeSettings:
        values = {k: v for k, v in (os.environ if environ is None else environ).items() if v != ""}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise input_error(exc, source="function environment", hint=SETTINGS_HINT) from None

    @property
    def deployed(self) -> bool:
        return is_deployed(lambda_function_name=self.lambda_function_name, sam_local=self.sam_local)

    def okx_target(self) -> str | None:
        """The checked OKX base URL (None: the key's region host); NotAnOkxHostError names the setting."""
        return check_local_overrides(
            local=self.local_overrides,
            deployed=self.deployed,
            base_url=self.okx_base_url,
            okx_ca_bundle=self.okx_ca_bundle,
        )

    def simulator_host(self) -> str | None:
        """The host standing in for OKX (the local simulator: no real funds), or None when calls go to OKX.
        Words for a report only: whether the target may be used at all is okx_target()'s to say."""
        if not self.local_overrides or not self.okx_base_url:
            return None
        parts = urlsplit(self.okx_base_url.strip())
        return None if parts.hostname in OKX_HOSTS.values() else parts.netloc

    @staticmethod
    def split(text: str) -> list[str]:
        return [part.strip() for part in text.split(",") if part.strip()]
