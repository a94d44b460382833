"""python-okx's API classes on okx-shield's transport: httpx through the loopback relay (okxcore.bots.relay).

Each python-okx API class is an httpx.Client (okx.okxclient.OkxClient). okx-shield subclasses it once per class
with a client placed between OkxClient and httpx.Client in the MRO, so python-okx's own constructor hands its
`httpx.Client.__init__` call to okx-shield: no proxy of its own, trust_env off (HTTPS_PROXY, SSL_CERT_FILE have no
say), HTTP/1.1, and one shared transport for every API class of the process (one pool of tunnels, not one per
class). python-okx's `debug` logs the passphrase in its headers: it stays off; okx-shield logs a redacted line.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, TypeVar

import httpx
from okx.exceptions import OkxParamsException, OkxRequestException

from okxcore.bots.binding import BotBinding, BotTransport
from okxcore.bots.relay import REASON_PREFIX, RELAY_USER, STATUS_TIMEOUT
from okxcore.errors import TradingPausedError

ApiT = TypeVar("ApiT")
_log = logging.getLogger("okxcore.bots")
_KEEPALIVE_S = 55.0  # below the usual 60 s idle timeout of servers and proxies


class ShieldRequestError(OkxRequestException, httpx.ProxyError):
    """The tunnel could not carry the request: python-okx's and httpx's proxy error at once."""

    def __init__(self, message: str) -> None:
        httpx.ProxyError.__init__(self, message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ShieldTimeoutError(ShieldRequestError, httpx.ConnectTimeout):
    """The proxy did not complete the tunnel in time."""


class ShieldTradingPausedError(OkxRequestException):
    """The probe's trading pause stopped this request before it left."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        Exception.__init__(self, message)

    def __str__(self) -> str:
        return str(self.message)


class _NeverClosed(httpx.BaseTransport):
    """The process's shared transport: an API object's close() must not close the other objects' tunnels."""

    def __init__(self, inner: httpx.HTTPTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._inner.handle_request(request)

    def close(self) -> None:
        pass


_SHARED: dict[int, tuple[BotTransport, _NeverClosed]] = {}
_SHARED_LOCK = threading.Lock()


def _shared_transport(transport: BotTransport) -> _NeverClosed:
    with _SHARED_LOCK:
        found = _SHARED.get(id(transport))
        if found is None or found[0] is not transport:
            relay = transport.relay()
            inner = httpx.HTTPTransport(
                verify=transport.okx_tls(),
                http2=False,
                trust_env=False,
                proxy=httpx.Proxy(relay.url, auth=(RELAY_USER, relay.token)),
                limits=httpx.Limits(max_connections=20, max_keepalive_connections=10, keepalive_expiry=_KEEPALIVE_S),
            )
            found = _SHARED[id(transport)] = (transport, _NeverClosed(inner))
        return found[1]


class _ShieldClient(httpx.Client):
    """Sits between python-okx's OkxClient and httpx.Client: receives OkxClient's super().__init__ call."""

    okx_shield: BotBinding

    def __init__(self, *args: Any, proxy: Any = None, proxies: Any = None, http2: bool = False, **kwargs: Any) -> None:
        del http2  # HTTP/1.1: the path the tests run (and h2's hpack logs header values at DEBUG)
        if proxy or proxies:
            raise OkxParamsException("okx-shield: proxy cannot be set on an okx-shield client; its tunnel is the route")
        binding = self.okx_shield
        tunnel_s = binding.transport.tunnel.connect_timeout + binding.transport.tunnel.handshake_timeout
        # The relay answers CONNECT once the tunnel is open: reading that answer may take the tunnel's whole budget.
        timeout = httpx.Timeout(10.0, connect=5.0, read=max(10.0, tunnel_s + 1.0))
        kwargs.pop("transport", None)
        kwargs.pop("trust_env", None)
        kwargs.pop("verify", None)
        super().__init__(
            *args, transport=_shared_transport(binding.transport), trust_env=False, timeout=timeout, **kwargs
        )

    @property
    def debug(self) -> bool:
        return False  # python-okx's debug output prints the passphrase; okx-shield logs its own redacted line

    @debug.setter
    def debug(self, value: bool) -> None:
        self._okx_shield_debug = bool(value)

    def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        binding = self.okx_shield
        path = request.url.raw_path.decode("ascii", "replace")
        try:
            binding.guard.check(request.method, path)
        except TradingPausedError as exc:
            raise ShieldTradingPausedError(f"okx-shield: {exc.describe()}") from exc
        try:
            response: httpx.Response = super().send(request, **kwargs)
        except httpx.ProxyError as exc:
            raise _from_relay(str(exc)) from exc
        binding.answered(response.status_code, signed="OK-ACCESS-KEY" in request.headers)
        if getattr(self, "_okx_shield_debug", False):
            _log.debug(binding.redact(f"python-okx {request.method} {path} -> HTTP {response.status_code}"))
        return response


class _CurrentKey:
    """First in the generated class's bases: python-okx signs in OkxClient._request with the key it keeps in
    API_KEY, API_SECRET_KEY and PASSPHRASE, which this sets to the key's secret as it is now (after a rotation)."""

    okx_shield: BotBinding
    API_KEY: str
    API_SECRET_KEY: str
    PASSPHRASE: str

    def _request(self, method: str, request_path: str, params: Any) -> Any:
        self.API_KEY, self.API_SECRET_KEY, self.PASSPHRASE = self.okx_shield.keys.signing_key().signing_values()
        return super()._request(method, request_path, params)  # type: ignore[misc]  # python-okx's OkxClient


def _from_relay(text: str) -> ShieldRequestError:
    """httpx's ProxyError reads '<status> <reason>': the relay's status and okx-shield's message."""
    status_text, _, reason = text.partition(" ")
    message = REASON_PREFIX + reason.removeprefix(REASON_PREFIX)
    if status_text.isdigit() and int(status_text) == STATUS_TIMEOUT:
        return ShieldTimeoutError(message)
    return ShieldRequestError(message)


_CLASSES: dict[type[Any], type[Any]] = {}
_CLASSES_LOCK = threading.Lock()


def _shielded(api: type[Any]) -> type[Any]:
    with _CLASSES_LOCK:
        cls = _CLASSES.get(api)
        if cls is None:
            cls = _CLASSES[api] = type(api.__name__, (_CurrentKey, api, _ShieldClient), {"__module__": api.__module__})
        return cls


def build(api: type[ApiT], binding: BotBinding, *, debug: bool = False) -> ApiT:
    from okx.okxclient import OkxClient

    if not (isinstance(api, type) and issubclass(api, OkxClient)):
        raise OkxParamsException(f"okx-shield: {api!r} is not one of python-okx's API classes (TradeAPI, ...)")
    api_key, secret, passphrase = binding.key.signing_values()
    cls = _shielded(api)
    client: Any = object.__new__(cls)  # httpx.Client defines no __new__: the instance, not yet initialised
    client.okx_shield = binding  # before __init__: _ShieldClient.__init__ reads it
    client.__init__(
        api_key=api_key,
        api_secret_key=secret,
        passphrase=passphrase,
        flag="1" if binding.demo else "0",  # python-okx's flag: "1" demo trading (its default!), "0" live
        domain=binding.base_url,
        debug=debug,
    )
    result: ApiT = client
    return result
