"""What a bot's own Lambda function tells okx-shield through its environment, validated once.

The names are the product functions' own (template.yaml), so one SAM snippet and one managed policy serve both:
SHIELD_SECRET_NAME and STATE_TABLE_NAME come from the okx-shield stack's outputs, OKX_KEY_SECRET_NAME names the
bot's key, OKX_KEY_REFRESH_S says how often a warm client reads that key's secret again. OKX_BASE_URL /
OKX_CA_BUNDLE / OKX_SHIELD_LOCAL are the local-run overrides, refused in a deployed function exactly as in the
product (okxcore.endpoints).
"""

from __future__ import annotations

import logging
from typing import ClassVar

from pydantic import Field

from okxcore.bots.live_key import DEFAULT_REFRESH_S
from okxcore.environment import SOURCE, ShieldClientSettings

__all__ = ["HINT", "SOURCE", "BotSettings", "forget_proxy_variables_told", "tell_about_proxy_variables"]

HINT = "Set it in the bot function's Environment (see docs/your-own-bot.md)."


class BotSettings(ShieldClientSettings):
    HINT: ClassVar[str] = HINT

    shield_secret_name: str = Field(default="", alias="SHIELD_SECRET_NAME")
    key_secret_name: str = Field(default="", alias="OKX_KEY_SECRET_NAME")
    state_table_name: str = Field(default="", alias="STATE_TABLE_NAME")
    # How often a warm client reads its key's secret again (okxcore.bots.live_key): well inside a rotation's grace
    # period (RotationGracePeriodSeconds, at least 600 s), so that no client signs with a deleted key.
    key_refresh_s: float = Field(default=DEFAULT_REFRESH_S, ge=1, le=600, alias="OKX_KEY_REFRESH_S")
    # Proxy variables: okx-shield's clients ignore them, but boto3 sends the bot's AWS calls through them.
    https_proxy: str = Field(default="", alias="HTTPS_PROXY")
    https_proxy_lower: str = Field(default="", alias="https_proxy")
    all_proxy: str = Field(default="", alias="ALL_PROXY")
    all_proxy_lower: str = Field(default="", alias="all_proxy")

    def proxy_variables(self) -> list[str]:
        """The proxy variables set in the environment, by name (their values may hold a proxy password)."""
        values = {
            "HTTPS_PROXY": self.https_proxy,
            "https_proxy": self.https_proxy_lower,
            "ALL_PROXY": self.all_proxy,
            "all_proxy": self.all_proxy_lower,
        }
        return [name for name, value in values.items() if value]


_log = logging.getLogger("okxcore.bots")
_PROXY_VARIABLES_TOLD: set[str] = set()


def tell_about_proxy_variables(settings: BotSettings) -> None:
    """Once per process: proxy variables do not route okx-shield's OKX requests, and they do route boto3's."""
    names = [name for name in settings.proxy_variables() if name not in _PROXY_VARIABLES_TOLD]
    if not names:
        return
    _PROXY_VARIABLES_TOLD.update(names)
    _log.warning(
        "okx-shield: %s set in the function's environment. okx-shield's OKX requests ignore it (they go through the "
        "Shield endpoint of SHIELD_SECRET_NAME), but boto3 sends the bot's AWS calls (Secrets Manager, DynamoDB) "
        "through it. Fix: if it is the Shield URL, remove it; okx-shield needs no proxy variable.",
        ", ".join(names) + (" is" if len(names) == 1 else " are"),
    )


def forget_proxy_variables_told() -> None:
    _PROXY_VARIABLES_TOLD.clear()
