"""Your own bot through okx-shield: ccxt and python-okx clients whose every request goes through Shield.

    from okxcore import bots

    exchange = bots.ccxt_okx()                       # was: ccxt.okx({"apiKey": ..., "secret": ..., ...})
    exchange = bots.ccxt_okx_async()                 # was: ccxt.async_support.okx({...})
    trade = bots.python_okx(okx.Trade.TradeAPI)      # was: TradeAPI(key, secret, passphrase, False, flag)
    bots.record_use("okx-shield/keys/my-bot")        # a bot that keeps its own transport: its calls count too

The clients are the libraries' own classes (subclassed, so isinstance holds and their API is unchanged), built
from the key's secret (OKX_KEY_SECRET_NAME, or `key=`: a secret name or an OkxKeySecret) and the Shield secret
(SHIELD_SECRET_NAME, or `shield=`). What holds for every request they send:
- it goes through okx-shield's tunnel, in any of Shield's three URL forms, or not at all: there is no direct path,
  environment proxies and SSL_CERT_FILE are ignored, and only the key's OKX host can be reached; the libraries'
  proxy, verify and trust-env settings are refused, never silently bypassed;
- a failing proxy arrives as the library's own exception class, with okx-shield's message and fix;
- while the probe's trading pause is set, every POST but a cancel is refused before it leaves;
- signed calls are recorded as the key's use (at most once per key per 5 minutes, off the request path);
- secrets never reach a log line, the libraries' verbose/debug output included.

ccxt and python-okx are NOT dependencies of okx-shield: the bot brings its own, and they are imported only when
a factory for them is called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from okxcore.bots.binding import BotBinding, KeyArg, ShieldArg, bind, close_transports
from okxcore.bots.guard import forget_guards
from okxcore.bots.key_use import flush_all, forget_recorders, recorder_for_table
from okxcore.bots.settings import BotSettings, forget_proxy_variables_told

if TYPE_CHECKING:
    from okxcore.bots.ccxt_async import ShieldedOkxAsync
    from okxcore.bots.ccxt_sync import ShieldedOkx

__all__ = [
    "BotBinding",
    "BotSettings",
    "ccxt_okx",
    "ccxt_okx_async",
    "flush",
    "python_okx",
    "record_use",
    "reset",
]

ApiT = TypeVar("ApiT")


def ccxt_okx(
    key: KeyArg = None,
    *,
    shield: ShieldArg = None,
    config: dict[str, Any] | None = None,
    key_name: str = "",
    settings: BotSettings | None = None,
) -> ShieldedOkx:
    """ccxt's `okx` (sync) for the key, on okx-shield's transport. `config` is ccxt's own (rateLimit, options,
    verbose, ...); proxy, session, TLS and credential settings in it are refused."""
    from okxcore.bots import ccxt_sync

    return ccxt_sync.build(bind(key, shield=shield, key_name=key_name, settings=settings), config)


def ccxt_okx_async(
    key: KeyArg = None,
    *,
    shield: ShieldArg = None,
    config: dict[str, Any] | None = None,
    key_name: str = "",
    settings: BotSettings | None = None,
) -> ShieldedOkxAsync:
    """ccxt's `async_support.okx` for the key, on okx-shield's transport (aiohttp through the loopback relay)."""
    from okxcore.bots import ccxt_async

    return ccxt_async.build(bind(key, shield=shield, key_name=key_name, settings=settings), config)


def python_okx(
    api: type[ApiT],
    key: KeyArg = None,
    *,
    shield: ShieldArg = None,
    key_name: str = "",
    settings: BotSettings | None = None,
    debug: bool = False,
) -> ApiT:
    """An instance of one of python-okx's API classes (TradeAPI, AccountAPI, MarketAPI, FundingAPI, ...) for the
    key: its `flag` from the key's demo/live mode, its domain the key's regional host, its requests on okx-shield's
    transport."""
    from okxcore.bots import pyokx

    return pyokx.build(api, bind(key, shield=shield, key_name=key_name, settings=settings), debug=debug)


def record_use(key_secret_name: str, *, settings: BotSettings | None = None) -> bool:
    """Record that the bot used this key now, for a bot that keeps its own transport (its calls still count).
    One line after the bot's signed calls; at most one write per key per 5 minutes, so it is cheap to call often.
    Returns True when it wrote."""
    settings = settings or BotSettings.from_environ()
    if not settings.state_table_name:
        from okxcore.bots.settings import HINT, SOURCE
        from okxcore.errors import InvalidInputError

        raise InvalidInputError(SOURCE, "STATE_TABLE_NAME", "is not set", hint=HINT)
    return recorder_for_table(settings.state_table_name).record_now(key_secret_name)


def flush(timeout_s: float = 5.0) -> bool:
    """Wait for the key-use writes queued by this process's clients (call it last in a handler to be sure)."""
    return flush_all(timeout_s)


def reset() -> None:
    """Forget every shared tunnel pool, relay, guard read, key-use interval and warning given of this process
    (tests)."""
    close_transports()
    forget_proxy_variables_told()
    forget_guards()
    forget_recorders()
