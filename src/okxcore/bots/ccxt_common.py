"""What ccxt's sync and async okx clients share under okx-shield: the settings that would bypass the tunnel, and
okx-shield's errors in ccxt's own classes (one table). Imports ccxt: loaded only by the ccxt factories."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import ccxt

from okxcore.bots.binding import BotBinding
from okxcore.bots.redaction import RedactingLogger
from okxcore.errors import OkxShieldError, ProxyError, ProxyTimeoutError, TargetNotAllowedError, TradingPausedError
from okxcore.transport import DirectConnectionRefusedError

# Every ccxt setting that routes requests elsewhere: each must stay unset (okx-shield's tunnel is the route).
PROXY_SETTINGS = (
    "proxy",
    "proxyUrl",
    "proxy_url",
    "proxyUrlCallback",
    "proxy_url_callback",
    "httpProxy",
    "http_proxy",
    "httpProxyCallback",
    "http_proxy_callback",
    "httpsProxy",
    "https_proxy",
    "httpsProxyCallback",
    "https_proxy_callback",
    "socksProxy",
    "socks_proxy",
    "socksProxyCallback",
    "socks_proxy_callback",
    "proxies",
)
# Settings okx-shield owns: given in the config, they are refused rather than silently replaced.
OWNED_SETTINGS = (
    "session",
    "aiohttp_proxy",
    "ssl_context",
    "cafile",
    "hostname",
    "requests_trust_env",
    "aiohttp_trust_env",
    "trust_env",
    "apiKey",
    "secret",
    "password",
)
_FIX = "Fix: remove the setting; okx-shield's tunnel is the only route (docs/your-own-bot.md)."


def refused(exchange_id: str, problem: str) -> Exception:
    """ccxt's own class for a setting that would weaken the route, with okx-shield's message and fix."""
    error: Exception = ccxt.InvalidProxySettings(f"{exchange_id} okx-shield: {problem}. {_FIX}")
    return error

# okx-shield error -> the ccxt class its users already catch (most specific first).
_CCXT_CLASSES: tuple[tuple[type[OkxShieldError], type[Exception]], ...] = (
    (ProxyTimeoutError, ccxt.RequestTimeout),
    (ProxyError, ccxt.ExchangeNotAvailable),
    (TargetNotAllowedError, ccxt.InvalidProxySettings),
    (DirectConnectionRefusedError, ccxt.InvalidProxySettings),
    (TradingPausedError, ccxt.OperationRejected),
)


def ccxt_error(exchange_id: str, method: str, url: str, error: OkxShieldError) -> Exception:
    cls = next((c for ours, c in _CCXT_CLASSES if isinstance(error, ours)), ccxt.ExchangeError)
    mapped: Exception = cls(f"{exchange_id} {method} {url.split('?', 1)[0]} okx-shield: {error.describe()}")
    return mapped


def refuse_config(config: Mapping[str, Any]) -> None:
    """Refuse, at construction, any setting that okx-shield owns or that would bypass its tunnel."""
    for name in (*PROXY_SETTINGS, *OWNED_SETTINGS):
        if config.get(name) not in (None, "", False) or (name in ("session",) and name in config):
            raise refused("okx", f"'{name}' cannot be set on an okx-shield client")
    for name in ("verify", "validateServerSsl"):
        if config.get(name, True) is not True:
            raise refused("okx", f"'{name}' cannot be turned off: TLS to OKX is always verified")


def refuse_bypass(exchange: Any, *, expected_aiohttp_proxy: str | None = None) -> None:
    """Refuse a request when a setting changed after construction would route it around the tunnel."""
    for name in PROXY_SETTINGS:
        if getattr(exchange, name, None):
            raise refused(exchange.id, f"'{name}' is set on an okx-shield client")
    if getattr(exchange, "aiohttp_proxy", None) != expected_aiohttp_proxy:
        raise refused(exchange.id, "'aiohttp_proxy' was changed on an okx-shield client")
    if not (exchange.verify and exchange.validateServerSsl):
        raise refused(exchange.id, "TLS verification to OKX cannot be turned off")


def configure(exchange: Any, binding: BotBinding) -> None:
    """What both clients set after ccxt's constructor: demo mode, the redacting logger."""
    if binding.demo:
        exchange.set_sandbox_mode(True)  # ccxt's okx: the x-simulated-trading header, same host
    exchange.logger = RedactingLogger(logging.getLogger("ccxt.base.exchange"), binding.redact)


def credentials(binding: BotBinding) -> dict[str, Any]:
    api_key, secret, passphrase = binding.key.signing_values()
    netloc = binding.base_url.split("://", 1)[1]
    return {
        "apiKey": api_key,
        "secret": secret,
        "password": passphrase,
        "hostname": netloc,  # ccxt's okx builds https://{hostname}: the key's region (the simulator locally)
    }


def is_signed(request_headers: Mapping[str, Any] | None) -> bool:
    return bool(request_headers) and "OK-ACCESS-KEY" in request_headers  # type: ignore[operator]


class ShieldHooks:
    """What the sync and the async client share on top of ccxt's Exchange (first in their bases, so that `super()`
    is ccxt's): each request is signed with the key's secret as it is now (a rotation reaches a warm client), every
    answer counts as the key's use, and ccxt's verbose log goes out redacted."""

    okx_shield: BotBinding
    apiKey: str
    secret: str
    password: str

    def sign(self, *args: Any, **kwargs: Any) -> Any:
        # ccxt's okx reads apiKey, secret and password in sign(), the one step every request takes before it leaves
        self.apiKey, self.secret, self.password = self.okx_shield.keys.signing_key().signing_values()
        return super().sign(*args, **kwargs)  # type: ignore[misc]  # ccxt's Exchange, next in the subclass's MRO

    def on_rest_response(
        self,
        code: Any,
        reason: Any,
        url: Any,
        method: Any,
        response_headers: Any,
        response_body: Any,
        request_headers: Any,
        request_body: Any,
    ) -> Any:
        self.okx_shield.answered(int(code) if code is not None else None, signed=is_signed(request_headers))
        return super().on_rest_response(  # type: ignore[misc]  # ccxt's Exchange, next in the subclass's MRO
            code, reason, url, method, response_headers, response_body, request_headers, request_body
        )

    def log(self, *args: Any) -> None:
        print(self.okx_shield.redact(" ".join(str(arg) for arg in args)))
