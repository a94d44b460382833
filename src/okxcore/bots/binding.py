"""One bot key bound to okx-shield: where its calls may go, through which tunnel, and what watches them.

Every client the public API returns holds a BotBinding. Its transport is shared per process (per Shield endpoint,
OKX host and trust settings), so all the bot's clients of a warm container reuse one pool of tunnels.
"""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from okxcore.bots.guard import GuardCache, guard_for_table
from okxcore.bots.key_use import KeyUseRecorder, recorder_for_table
from okxcore.bots.live_key import KeyLoader, LiveKey
from okxcore.bots.redaction import Redactor
from okxcore.bots.settings import HINT, SOURCE, BotSettings, tell_about_proxy_variables
from okxcore.credentials import OkxKeySecret
from okxcore.endpoints import REGION_BASE_URLS
from okxcore.errors import InvalidInputError
from okxcore.shield import ShieldEndpoint
from okxcore.transport import OKX_CA_SETTING, ShieldSession
from okxcore.trust import ca_bundle_path, client_context
from okxcore.tunnel import TunnelOpener

if TYPE_CHECKING:
    from okxcore.bots.relay import LoopbackRelay

KeyArg = str | OkxKeySecret | None
ShieldArg = str | ShieldEndpoint | None


@dataclass(frozen=True)
class _TransportKey:
    endpoint: ShieldEndpoint
    okx_host: str
    okx_port: int
    okx_ca_bundle: str
    proxy_ca_bundle: str | None
    connect_timeout_s: float
    handshake_timeout_s: float


@dataclass
class BotTransport:
    """The tunnel to one OKX host through one Shield endpoint, and the ways each library reaches it."""

    tunnel: TunnelOpener
    okx_ca_bundle: str
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _session: ShieldSession | None = field(default=None, repr=False)
    _relay: LoopbackRelay | None = field(default=None, repr=False)
    _tls: ssl.SSLContext | None = field(default=None, repr=False)

    def session(self) -> ShieldSession:
        """The requests session (ccxt's sync client): okx-shield's own transport, connection by connection."""
        with self._lock:
            if self._session is None:
                self._session = ShieldSession(self.tunnel, ca_bundle=self.okx_ca_bundle)
            return self._session

    def relay(self) -> LoopbackRelay:
        """The loopback CONNECT relay (aiohttp, httpx): started on first use, one per process."""
        with self._lock:
            if self._relay is None:
                from okxcore.bots.relay import LoopbackRelay

                self._relay = LoopbackRelay(self.tunnel)
            return self._relay

    def okx_tls(self) -> ssl.SSLContext:
        """The TLS context for OKX's certificate: one bundle, never the environment's (SSL_CERT_FILE)."""
        with self._lock:
            if self._tls is None:
                self._tls = client_context(self.okx_ca_bundle, setting=OKX_CA_SETTING)
            return self._tls

    def close(self) -> None:
        with self._lock:
            if self._session is not None:
                self._session.close()
            if self._relay is not None:
                self._relay.close()
            self._session = self._relay = None


_TRANSPORTS: dict[_TransportKey, BotTransport] = {}
_TRANSPORTS_LOCK = threading.Lock()


def _transport(key: _TransportKey) -> BotTransport:
    with _TRANSPORTS_LOCK:
        found = _TRANSPORTS.get(key)
        if found is None:
            tunnel = TunnelOpener(
                endpoint=key.endpoint,
                connect_timeout=key.connect_timeout_s,
                handshake_timeout=key.handshake_timeout_s,
                proxy_ca_bundle=key.proxy_ca_bundle,
                allowed_targets=frozenset({(key.okx_host, key.okx_port)}),
            )
            tunnel.proxy_tls_context()  # a bad proxy CA bundle is named now, not on the first call
            found = _TRANSPORTS[key] = BotTransport(tunnel=tunnel, okx_ca_bundle=key.okx_ca_bundle)
        return found


def close_transports() -> None:
    """Close every shared tunnel pool and relay of this process (tests; a process that ends needs none of it)."""
    with _TRANSPORTS_LOCK:
        transports = list(_TRANSPORTS.values())
        _TRANSPORTS.clear()
    for transport in transports:
        transport.close()


@dataclass(frozen=True)
class BotBinding:
    keys: LiveKey  # the key to sign with, read again from its secret after a rotation
    key_name: str  # the key's secret name, as the audit knows it ("" when the caller gave a key object alone)
    endpoint: ShieldEndpoint
    base_url: str  # https://www.okx.com (or the region's host; the simulator in a local run)
    transport: BotTransport
    guard: GuardCache
    key_use: KeyUseRecorder
    redact: Redactor

    @property
    def key(self) -> OkxKeySecret:
        """The key as last read (its region and demo mode never change for a client)."""
        return self.keys.current

    @property
    def demo(self) -> bool:
        return self.key.demo

    @property
    def okx_host(self) -> str:
        return urlsplit(self.base_url).hostname or ""

    def answered(self, status: int | None, *, signed: bool) -> None:
        """A response came back. OKX counted a signed call as use unless it refused the key (HTTP 401)."""
        if signed and self.key_name and status is not None and status != 401:
            self.key_use.used(self.key_name)


def bind(
    key: KeyArg = None, *, shield: ShieldArg = None, key_name: str = "", settings: BotSettings | None = None
) -> BotBinding:
    """Resolve the key, the Shield endpoint and the OKX host; raise an error naming the setting if one is wrong."""
    from okxcore.aws.secretstore import load_okx_key, load_shield

    settings = settings or BotSettings.from_environ()
    tell_about_proxy_variables(settings)
    target = settings.okx_target()  # a non-OKX host or a local override in Lambda stops here, before any secret
    if not settings.state_table_name:
        raise InvalidInputError(
            SOURCE,
            "STATE_TABLE_NAME",
            "is not set: okx-shield cannot apply the probe's trading pause nor record this key's use",
            hint="Set it to the okx-shield stack's StateTableName output. " + HINT,
        )
    load: KeyLoader | None = None
    if isinstance(key, OkxKeySecret):
        okx_key = key
    else:
        key_name = key or settings.key_secret_name
        if not key_name:
            raise InvalidInputError(
                SOURCE, "OKX_KEY_SECRET_NAME", "is not set and no key was given", hint="Name the key's secret. " + HINT
            )
        defaults = {"region": settings.okx_default_region, "demo": settings.okx_default_demo}
        okx_key = load_okx_key(key_name, defaults=defaults)
        load = partial(load_okx_key, fresh=True, defaults=defaults)  # on the client's own interval, past the cache
    if isinstance(shield, ShieldEndpoint):
        endpoint = shield
    else:
        shield_name = shield or settings.shield_secret_name
        if not shield_name:
            raise InvalidInputError(
                SOURCE,
                "SHIELD_SECRET_NAME",
                "is not set and no Shield endpoint was given",
                hint="Set it to the okx-shield stack's ShieldSecretName output. " + HINT,
            )
        endpoint = load_shield(shield_name)
    base_url = target or REGION_BASE_URLS[okx_key.region]
    parts = urlsplit(base_url)
    transport = _transport(
        _TransportKey(
            endpoint=endpoint,
            okx_host=(parts.hostname or "").lower(),
            okx_port=parts.port or 443,
            okx_ca_bundle=ca_bundle_path(settings.okx_ca_bundle, setting=OKX_CA_SETTING),
            proxy_ca_bundle=settings.shield_ca_bundle,
            connect_timeout_s=settings.shield_connect_timeout_s,
            handshake_timeout_s=settings.shield_handshake_timeout_s,
        )
    )
    redact = Redactor((*okx_key.signing_values(), endpoint.password))
    return BotBinding(
        keys=LiveKey(okx_key, secret_name=key_name, load=load, refresh_s=settings.key_refresh_s, redact=redact),
        key_name=key_name,
        endpoint=endpoint,
        base_url=base_url,
        transport=transport,
        guard=guard_for_table(settings.state_table_name),
        key_use=recorder_for_table(settings.state_table_name),
        redact=redact,
    )
