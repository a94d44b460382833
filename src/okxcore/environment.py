"""A function's environment, read once at start-up into a pydantic model: what pydantic-settings' BaseSettings does,
in plain pydantic (pydantic-settings is not a dependency). Logic never reads os.environ.

- `EnvironmentSettings`: the base of every settings model. Each field names its variable by alias; an empty variable
  counts as unset (SAM passes a parameter left empty as ""); an invalid value is an InvalidInputError naming the
  variable (never its value) with the model's HINT.
- `ShieldClientSettings`: what every client that reaches OKX through Shield reads, the product's functions
  (handlers.settings.RuntimeSettings) and a bot's own (okxcore.bots.settings.BotSettings) alike.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from okxcore.endpoints import Region, check_local_overrides, is_deployed, region_base_urls
from okxcore.inputs import input_error

SOURCE = "function environment"


class EnvironmentSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    HINT: ClassVar[str] = "Set it in template.yaml (or --env-vars for sam local invoke)."

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Self:
        values = {k: v for k, v in (os.environ if environ is None else environ).items() if v != ""}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise input_error(exc, source=SOURCE, hint=cls.HINT) from None


class ShieldClientSettings(EnvironmentSettings):
    # OKX_BASE_URL may name one of OKX's hosts; another host (the simulator) and OKX_CA_BUNDLE need the local
    # setting, which a deployed function refuses (okxcore.endpoints). SHIELD_CA_BUNDLE is the proxy's CA.
    okx_base_url: str | None = Field(default=None, alias="OKX_BASE_URL")
    # Local only: each region's host of the simulator ("www=URL,eea=URL,us=URL"), so that a key's region picks its
    # host as deployed; it takes precedence over OKX_BASE_URL (okxcore.endpoints.region_base_urls).
    okx_region_base_urls: str | None = Field(default=None, alias="OKX_REGION_BASE_URLS")
    okx_ca_bundle: str | None = Field(default=None, alias="OKX_CA_BUNDLE")
    shield_ca_bundle: str | None = Field(default=None, alias="SHIELD_CA_BUNDLE")
    local_overrides: bool = Field(default=False, alias="OKX_SHIELD_LOCAL")  # endpoints.LOCAL_SETTING
    # Set by Lambda, and by `sam local` too (which also sets AWS_SAM_LOCAL=true): together they tell deployed.
    lambda_function_name: str = Field(default="", alias="AWS_LAMBDA_FUNCTION_NAME")
    sam_local: str = Field(default="", alias="AWS_SAM_LOCAL")
    # Deployment-wide defaults for what a key's secret does not say itself.
    okx_default_region: Literal["www", "eea", "us"] = Field(default="www", alias="OKX_REGION")
    okx_default_demo: bool = Field(default=False, alias="OKX_DEMO")
    # Bounds on reaching Shield: TCP connect, then TLS to the proxy plus its SOCKS5/CONNECT handshake.
    shield_connect_timeout_s: float = Field(default=5.0, gt=0, le=60, alias="SHIELD_CONNECT_TIMEOUT_S")
    shield_handshake_timeout_s: float = Field(default=10.0, gt=0, le=60, alias="SHIELD_HANDSHAKE_TIMEOUT_S")

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

    def region_urls(self) -> dict[Region, str]:
        """Each region's base URL (OKX's hosts, or locally the simulator's); NotAnOkxHostError names the setting."""
        return region_base_urls(self.okx_region_base_urls, local=self.local_overrides, deployed=self.deployed)

    def base_url_for(self, region: Region) -> str | None:
        """Where a key of `region` is called: the region's simulator host (OKX_REGION_BASE_URLS), else
        OKX_BASE_URL for every key, else None (the client takes OKX's host of the key's region)."""
        if self.okx_region_base_urls:
            return self.region_urls()[region]
        return self.okx_target()

    def other_regions_reachable(self) -> bool:
        """Whether a key can be tried at the other regions' hosts: not when OKX_BASE_URL sends every key to one."""
        return bool(self.okx_region_base_urls) or not self.okx_base_url
