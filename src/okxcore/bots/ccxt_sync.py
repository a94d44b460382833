"""ccxt's okx (sync) on okx-shield's own transport: the requests session whose every connection is a tunnel.

The client is ccxt's class, subclassed only at `fetch` (every REST call passes it), `on_rest_response` (key use),
`log` (verbose output, redacted) and `close` (the tunnel pool is shared by the process's clients).
"""

from __future__ import annotations

from typing import Any

import ccxt

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
from okxcore.errors import OkxShieldError


class ShieldedOkx(ShieldHooks, ccxt.okx):
    """ccxt.okx whose every request goes through okx-shield (docs/your-own-bot.md)."""

    okx_shield: BotBinding

    def fetch(self, url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        refuse_bypass(self)
        if self.session is not self.okx_shield.transport.session():
            raise refused(self.id, "'session' was replaced on an okx-shield client")
        path = url.split("://", 1)[-1].partition("/")[2]
        try:
            self.okx_shield.guard.check(method, "/" + path)
            return super().fetch(url, method, headers, body)
        except OkxShieldError as exc:
            raise ccxt_error(self.id, method, url, exc) from exc

    def close(self, clean_instance_data: bool = False) -> None:
        # ccxt closes its session here (and in __del__): the shared tunnel pool stays open for the other clients.
        if clean_instance_data:
            self.clean_rest_data()


def build(binding: BotBinding, config: dict[str, Any] | None) -> ShieldedOkx:
    config = dict(config or {})
    refuse_config(config)
    exchange = ShieldedOkx({**config, **credentials(binding), "session": binding.transport.session()})
    exchange.okx_shield = binding
    configure(exchange, binding)
    return exchange
