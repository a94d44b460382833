"""What a bot's own Lambda function tells okx-shield through its environment, validated once.

The names are the product functions' own (template.yaml), so one SAM snippet and one managed policy serve both:
SHIELD_SECRET_NAME and STATE_TABLE_NAME come from the okx-shield stack's outputs, OKX_KEY_SECRET_NAME names the
bot's key. OKX_BASE_URL / OKX_CA_BUNDLE / OKX_SHIELD_LOCAL are the local-run overrides, refused in a deployed
function exactly as in the product (okxcore.endpoints).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from okxcore.endpoints import check_local_overrides, is_deployed
from okxcore.inputs import input_error

SOURCE = "function environment"
HINT = "Set it in the bot function's Environment (see README 'Your own bot')."


class BotSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    shield_secret_name: str = Field(default="", alias="SHIELD_SECRET_NAME")
    key_secret_name: str = Field(default="", alias="OKX_KEY_SECRET_NAME")
    state_table_name: str = Field(default="", alias="STATE_TABLE_NAME")
    okx_base_url: str | None = Field(default=None, alias="OKX_BASE_URL")
    okx_ca_bundle: str | None = Field(default=None, alias="OKX_CA_BUNDLE")
    shield_ca_bundle: str | None = Field(default=None, alias="SHIELD_CA_BUNDLE")
    local_overrides: bool = Field(default=False, alias="OKX_SHIELD_LOCAL")
    lambda_function_name: str = Field(default="", alias="AWS_LAMBDA_FUNCTION_NAME")
    sam_local: str = Field(default="", alias="AWS_SAM_LOCAL")
    okx_default_region: Literal["www", "eea", "us"] = Field(default="www", alias="OKX_REGION")
    okx_default_demo: bool = Field(default=False, alias="OKX_DEMO")
    shield_connect_timeout_s: float = Field(default=5.0, gt=0, le=60, alias="SHIELD_CONNECT_TIMEOUT_S")
    shield_handshake_timeout_s: float = Field(default=10.0, gt=0, le=60, alias="SHIELD_HANDSHAKE_TIMEOUT_S")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> BotSettings:
        values = {k: v for k, v in (os.environ if environ is None else environ).items() if v != ""}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise input_error(exc, source=SOURCE, hint=HINT) from None

    def okx_target(self) -> str | None:
        """The checked OKX base URL (None: the key's region host); NotAnOkxHostError names the setting."""
        return check_local_overrides(
            local=self.local_overrides,
            deployed=is_deployed(lambda_function_name=self.lambda_function_name, sam_local=self.sam_local),
            base_url=self.okx_base_url,
            okx_ca_bundle=self.okx_ca_bundle,
        )
