"""The only way okx-shield reaches the network: a requests session whose every connection is a Shield tunnel.

Layering follows requests/urllib3 (policy above, mechanics below): `ShieldHTTPSConnection` is a urllib3
connection whose socket is a tunnel through the proxy, with TLS to OKX on top of it (TLS in TLS when the
proxy itself is reached over TLS). A pool manager builds only such pools; the requests adapter mounts
it for https:// and refuses http:// and any requests-level proxy. `trust_env` is off, so HTTP(S)_PROXY,
ALL_PROXY and NO_PROXY cannot redirect or bypass the tunnel. There is no direct code path.
"""

from __future__ import annotations

import contextvars
import json
import socket
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import certifi
import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPSConnection, _ssl_wrap_socket_and_match_hostname
from urllib3.connectionpool import HTTPSConnectionPool
from urllib3.exceptions import LocationValueError

from okxcore.errors import OkxTransportError
from okxcore.shield import ShieldEndpoint
from okxcore.trust import ca_bundle_path
from okxcore.tunnel import TunnelOpener
from okxcore.wire import WIRE_ACCEPT_ENCODING, WireError, exchange, request_bytes

OKX_CA_SETTING = "OKX_CA_BUNDLE / --ca-bundle"
DEFAULT_POOL_SIZE = 10  # connections kept per host; the fleet audit asks for more


class DirectConnectionRefusedError(OkxTransportError):
    hint = "okx-shield only talks https through the Shield proxy; this request tried another path."


class ShieldHTTPSConnection(HTTPSConnection):
    """An HTTPS connection whose socket is a tunnel through Shield."""

    # http.client prints every request's headers (the passphrase among them) when HTTPConnection.debuglevel is
    # raised, the usual recipe for debugging requests; this class attribute keeps ours silent whatever is set.
    debuglevel = 0

    def __init__(self, *args: Any, tunnel: TunnelOpener, **kwargs: Any) -> None:
        self._shield_tunnel = tunnel
        super().__init__(*args, **kwargs)

    def _new_conn(self) -> socket.socket:
        return self._shield_tunnel.open(self.host, self.port)

    def connect(self) -> None:
        self.sock = sock = self._new_conn()
        # The TLS handshake with OKX gets the proxy handshake's budget, not the (longer) read timeout.
        sock.settimeout(self._shield_tunnel.handshake_timeout)
        try:
            wrapped = _ssl_wrap_socket_and_match_hostname(
                sock=sock,
                cert_reqs=self.cert_reqs,
                ssl_version=self.ssl_version,
                ssl_minimum_version=self.ssl_minimum_version,
                ssl_maximum_version=self.ssl_maximum_version,
                ca_certs=self.ca_certs,
                ca_cert_dir=self.ca_cert_dir,
                ca_cert_data=self.ca_cert_data,
                cert_file=self.cert_file,
                key_file=self.key_file,
                key_password=self.key_password,
                server_hostname=self.host.rstrip("."),
                ssl_context=self.ssl_context,
                # TLS inside the proxy's TLS session: urllib3's SSLTransport does the inner layer.
                tls_in_tls=isinstance(sock, ssl.SSLSocket),
                assert_hostname=self.assert_hostname,
                assert_fingerprint=self.assert_fingerprint,
            )
        except BaseException:
            sock.close()
            raise
        self.sock = wrapped.socket
        self.is_verified = wrapped.is_verified
        self._has_connected_to_proxy = True
        self.proxy_is_verified = True


class ShieldHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = ShieldHTTPSConnection


class ShieldPoolManager(urllib3.PoolManager):
    """Builds only Shield pools; a plain-http or unknown scheme is refused, never connected directly."""

    def __init__(self, tunnel: TunnelOpener, **kwargs: Any) -> None:
        self._tunnel = tunnel
        super().__init__(**kwargs)

    def _new_pool(
        self, scheme: str, host: str, port: int, request_context: dict[str, Any] | None = None
    ) -> HTTPSConnectionPool:
        if scheme != "https":
            raise DirectConnectionRefusedError(f"refusing a {scheme}:// connection to {host}")
        if not host:
            raise LocationValueError("No host specified.")
        context = dict(request_context if request_context is not None else self.connection_pool_kw)
        for key in ("scheme", "host", "port"):
            context.pop(key, None)
        return ShieldHTTPSConnectionPool(host, port, tunnel=self._tunnel, **context)


class ShieldAdapter(HTTPAdapter):
    def __init__(self, tunnel: TunnelOpener, *, pool_maxsize: int = DEFAULT_POOL_SIZE) -> None:
        self._tunnel = tunnel
        # (origin, CA bundle) -> urllib3's pool key parts as requests builds them per request (ShieldSession.fetch)
        self._pool_keys: dict[tuple[str, str], tuple[Any, Any]] = {}
        # urllib3 must not retry on its own: the OKX client decides what is safe to retry.
        super().__init__(pool_connections=4, pool_maxsize=pool_maxsize, max_retries=0)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        self._pool_connections = connections
        self._pool_maxsize = maxsize
        self._pool_block = block
        self.poolmanager = ShieldPoolManager(
            self._tunnel, num_pools=connections, maxsize=maxsize, block=block, **pool_kwargs
        )

    def pool_for(self, origin: str, verify: str) -> HTTPSConnectionPool:
        """The pool requests would use for `origin` ("https://host:port") and this CA bundle: the same tunnels."""
        key = (origin, verify)
        found = self._pool_keys.get(key)
        if found is None:
            stub = requests.PreparedRequest()
            stub.url = origin + "/"
            found = self._pool_keys[key] = self.build_connection_pool_key_attributes(stub, verify, None)
        host_params, pool_kwargs = found
        pool: HTTPSConnectionPool = self.poolmanager.connection_from_host(**host_params, pool_kwargs=pool_kwargs)
        return pool

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> urllib3.PoolManager:
        raise DirectConnectionRefusedError("a requests-level proxy was configured; only the Shield tunnel is used")

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        if verify is False:
            raise DirectConnectionRefusedError("TLS verification to OKX cannot be turned off")
        if proxies and any(proxies.values()):
            raise DirectConnectionRefusedError("a requests-level proxy was configured; only the Shield tunnel is used")
        return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=None)


class _RefusingAdapter(HTTPAdapter):
    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        raise DirectConnectionRefusedError("refusing a plain-http request")


def build_session(
    endpoint: ShieldEndpoint,
    *,
    ca_bundle: str | None = None,
    proxy_ca_bundle: str | None = None,
    connect_timeout: float = 5.0,
    handshake_timeout: float = 10.0,
    pool_maxsize: int = DEFAULT_POOL_SIZE,
) -> ShieldSession:
    tunnel = TunnelOpener(
        endpoint=endpoint,
        connect_timeout=connect_timeout,
        handshake_timeout=handshake_timeout,
        proxy_ca_bundle=proxy_ca_bundle,
    )
    tunnel.proxy_tls_context()  # a bad proxy CA bundle is named now, not as a failed call later
    return ShieldSession(tunnel, ca_bundle=ca_bundle_path(ca_bundle, setting=OKX_CA_SETTING), pool_maxsize=pool_maxsize)


class RequestTally:
    """Requests sent through Shield by one run (Shield plans are sized by traffic: every report states it).

    Counted per run, not per session: warm invocations and, locally, concurrent shards share one session.
    A run starts its tally in its own context; threads working for it run in a copy of that context.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0

    def add(self) -> None:
        with self._lock:
            self._count += 1

    @property
    def count(self) -> int:
        return self._count


_TALLY: contextvars.ContextVar[RequestTally | None] = contextvars.ContextVar("shield_request_tally", default=None)


def start_tally() -> RequestTally:
    """Count this context's requests through Shield from now on (and those of threads given a copy of it)."""
    tally = RequestTally()
    _TALLY.set(tally)
    return tally


class ShieldSession(requests.Session):
    """A requests session that can only reach https hosts through the Shield tunnel."""

    def __init__(
        self, tunnel: TunnelOpener, *, ca_bundle: str | None = None, pool_maxsize: int = DEFAULT_POOL_SIZE
    ) -> None:
        super().__init__()
        self.tunnel = tunnel
        self.trust_env = False  # HTTP(S)_PROXY / ALL_PROXY / NO_PROXY / REQUESTS_CA_BUNDLE have no say
        self.proxies = {}
        self.max_redirects = 0
        # An explicit file (certifi's unless configured): with trust_env off, requests reads no variable for it.
        self.verify = ca_bundle if ca_bundle else certifi.where()
        self.adapters.clear()
        self.mount("https://", ShieldAdapter(tunnel, pool_maxsize=pool_maxsize))
        self.mount("http://", _RefusingAdapter())

    @property
    def endpoint(self) -> ShieldEndpoint:
        return self.tunnel.endpoint

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs["allow_redirects"] = False  # a redirect could point anywhere; OKX does not redirect the API
        verify = kwargs.get("verify")
        if verify is False:
            raise DirectConnectionRefusedError("TLS verification to OKX cannot be turned off")
        if verify not in (None, True, self.verify):
            raise DirectConnectionRefusedError("the CA bundle for OKX is okx-shield's setting, not a request's")
        # requests lets a request's verify=True replace the session's bundle with its own default; pin ours.
        kwargs["verify"] = self.verify
        tally = _TALLY.get()
        if tally is not None:
            tally.add()
        return super().request(method, url, *args, **kwargs)

    def fetch(
        self,
        method: str,
        url: str,
        *,
        body: bytes = b"",
        headers: Mapping[str, str],
        timeout: tuple[float, float],
    ) -> ShieldAnswer:
        """One request on a connection of the same pool request() uses (the same tunnels, TLS and certificate
        checks), exchanged by okxcore.wire and read whole: the OKX client's path. requests' and http.client's
        per-request machinery (merging settings, hooks, preparing and re-parsing the URL, a stat() of the CA bundle,
        an e-mail parser for the answer's headers) cost more CPU than TLS, signing and JSON together.

        Sends what request() sends (Host, the session's headers, then `headers`, Content-Length), and fails as it
        fails: the requests exception HTTPAdapter.send or Response.content raises for the same fault, so that the
        client's rules (what is retried, what makes an order's outcome unknown) are unchanged. `timeout`: (connect,
        read); connecting is bounded by the tunnel's own timeouts, as for request()."""
        scheme, _, rest = url.partition("://")
        if scheme != "https":
            raise DirectConnectionRefusedError(f"refusing a {scheme}:// request")
        authority, slash, path = rest.partition("/")
        adapter = self.adapters["https://"]
        if not isinstance(adapter, ShieldAdapter):
            raise DirectConnectionRefusedError("the https adapter is not the Shield adapter")
        verify = self.verify
        if not isinstance(verify, str):  # always a file (certifi's unless configured): see __init__
            raise DirectConnectionRefusedError("TLS verification to OKX needs a CA bundle")
        send_headers = {name: v if isinstance(v, str) else v.decode() for name, v in self.headers.items()}
        send_headers["Accept-Encoding"] = WIRE_ACCEPT_ENCODING  # what okxcore.wire can undo
        send_headers.update(headers)
        try:
            pool = adapter.pool_for(f"https://{authority}", verify)
            request = request_bytes(method, authority.removesuffix(":443"), slash + path, send_headers, body)
        except LocationValueError as exc:
            raise requests.exceptions.InvalidURL(exc) from None
        except WireError:
            raise requests.exceptions.InvalidHeader("a request header holds an illegal character") from None
        tally = _TALLY.get()
        if tally is not None:
            tally.add()
        conn = pool._get_conn()
        if not isinstance(conn, ShieldHTTPSConnection):  # the Shield pool makes nothing else; never send otherwise
            pool._put_conn(conn)
            raise DirectConnectionRefusedError("the pool gave a connection that is not a Shield tunnel")
        reusable = False
        try:
            if conn.is_closed:
                conn.connect()
            sock = conn.sock
            assert sock is not None
            sock.settimeout(timeout[1])
            answer = exchange(sock, method, request)
            reusable = answer.reusable
        except WireError as exc:
            raise _WIRE_FAILURES[exc.kind](str(exc)) from None
        except (ssl.SSLError, ssl.CertificateError) as exc:
            raise requests.exceptions.SSLError(exc) from exc
        except TimeoutError as exc:  # the TLS handshake with OKX (reading an answer is WireError's)
            raise requests.exceptions.ReadTimeout(exc) from exc
        except OSError as exc:
            raise requests.exceptions.ConnectionError(exc) from exc
        finally:
            if not reusable:
                conn.close()
            pool._put_conn(conn)
        return ShieldAnswer(status_code=answer.status, headers=answer.headers, content=answer.content)


@dataclass(frozen=True)
class ShieldAnswer:
    """An answer read whole by ShieldSession.fetch: what a reader of requests.Response uses of one."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)


# Where okxcore.wire says an exchange failed -> what requests raises for that fault.
_WIRE_FAILURES: dict[str, type[requests.exceptions.RequestException]] = {
    "send": requests.exceptions.ConnectionError,
    "headers_timeout": requests.exceptions.ReadTimeout,
    "body": requests.exceptions.ChunkedEncodingError,
    "body_timeout": requests.exceptions.ConnectionError,
    "decode": requests.exceptions.ContentDecodingError,
    "request": requests.exceptions.InvalidHeader,
}


_SESSIONS: dict[tuple[ShieldEndpoint, str | None, str | None, int, float, float], ShieldSession] = {}
_SESSIONS_LOCK = threading.Lock()


def shared_session(
    endpoint: ShieldEndpoint,
    *,
    ca_bundle: str | None = None,
    proxy_ca_bundle: str | None = None,
    pool_maxsize: int = DEFAULT_POOL_SIZE,
    connect_timeout: float = 5.0,
    handshake_timeout: float = 10.0,
) -> ShieldSession:
    """One session per endpoint and settings per process: warm invocations reuse its pooled tunnels."""
    key = (endpoint, ca_bundle, proxy_ca_bundle, pool_maxsize, connect_timeout, handshake_timeout)
    with _SESSIONS_LOCK:
        session = _SESSIONS.get(key)
        if session is None:
            session = build_session(
                endpoint,
                ca_bundle=ca_bundle,
                proxy_ca_bundle=proxy_ca_bundle,
                pool_maxsize=pool_maxsize,
                connect_timeout=connect_timeout,
                handshake_timeout=handshake_timeout,
            )
            _SESSIONS[key] = session
        return session


def close_shared_sessions() -> None:
    with _SESSIONS_LOCK:
        for session in _SESSIONS.values():
            session.close()
        _SESSIONS.clear()
