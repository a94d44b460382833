"""ccxt's okx (async_support, aiohttp) on okx-shield's transport, through the loopback relay (okxcore.bots.relay).

ccxt gives aiohttp its `aiohttp_proxy` and its own TLS context: okx-shield sets the first to the relay and the
second to its OKX trust (never SSL_CERT_FILE), with aiohttp's trust_env off. The class is ccxt's, subclassed at
`fetch`, `on_rest_response` and `log`, as the sync one.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import ccxt
import ccxt.async_support

from okxcore.bots.binding import BotBinding
from okxcore.bots.ccxt_common import (
    ShieldHooks,
    ccxt_error,
    configure,
    credentials,
    refuse_bypass,
    refuse_config,
    refused,
)
from okxcore.bots.guard import pause_applies
from okxcore.bots.relay import REASON_PREFIX, STATUS_REFUSED, STATUS_TIMEOUT
from okxcore.errors import OkxShieldError


class ShieldedOkxAsync(ShieldHooks, ccxt.async_support.okx):
    """ccxt.async_support.okx whose every request goes through okx-shield (docs/your-own-bot.md)."""

    okx_shield: BotBinding

    async def fetch(self, url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        refuse_bypass(self, expected_aiohttp_proxy=self.okx_shield.transport.relay().url_with_auth)
        if self.aiohttp_trust_env or (self.session is not None and self.session.trust_env):
            raise refused(self.id, "aiohttp's trust_env cannot be turned on (it reads proxy variables)")
        if self.ssl_context is not self.okx_shield.transport.okx_tls():
            raise refused(self.id, "'ssl_context' was replaced on an okx-shield client")
        path = "/" + url.split("://", 1)[-1].partition("/")[2]
        guard = self.okx_shield.guard
        try:
            if pause_applies(method, path) and not guard.fresh():
                # The first order after the cache expires reads DynamoDB: in a thread, not on the event loop.
                await asyncio.get_running_loop().run_in_executor(None, guard.check, method, path)
            else:
                guard.check(method, path)
            return await super().fetch(url, method, headers, body)
        except OkxShieldError as exc:
            raise ccxt_error(self.id, method, url, exc) from exc
        except ccxt.BaseError as exc:
            relay_answer = _relay_refusal(exc)
            if relay_answer is None:
                raise
            status, reason = relay_answer
            cls = {STATUS_TIMEOUT: ccxt.RequestTimeout, STATUS_REFUSED: ccxt.InvalidProxySettings}.get(
                status, ccxt.ExchangeNotAvailable
            )
            raise cls(f"{self.id} {method} {url.split('?', 1)[0]} okx-shield: {reason}") from exc


def _relay_refusal(exc: BaseException) -> tuple[int, str] | None:
    """The relay's answer (status, okx-shield's message) behind a ccxt error, if a refused CONNECT caused it."""
    cause = exc.__cause__
    while cause is not None:
        if isinstance(cause, aiohttp.ClientHttpProxyError) and (cause.message or "").startswith(REASON_PREFIX):
            return cause.status, cause.message.removeprefix(REASON_PREFIX)
        cause = cause.__cause__
    return None


def build(binding: BotBinding, config: dict[str, Any] | None) -> ShieldedOkxAsync:
    config = dict(config or {})
    refuse_config(config)
    exchange = ShieldedOkxAsync({**config, **credentials(binding)})
    exchange.okx_shield = binding
    exchange.aiohttp_proxy = binding.transport.relay().url_with_auth
    exchange.aiohttp_trust_env = False
    exchange.ssl_context = binding.transport.okx_tls()  # ccxt's open() builds its connector with this context
    configure(exchange, binding)
    return exchange
