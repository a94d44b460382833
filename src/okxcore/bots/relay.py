"""A loopback CONNECT relay: how an asyncio (aiohttp) or httpx client reaches OKX through okx-shield's tunnel.

The library is given `http://127.0.0.1:<port>` as its proxy. It sends `CONNECT www.okx.com:443` with this
process's random token as proxy credentials, the relay opens the Shield tunnel with the product's own TunnelOpener
(every Shield form, its deadlines, its OKX-host allowlist) and then copies bytes both ways. The library's own TLS
runs end to end to OKX inside the tunnel: the relay sees only ciphertext, as Shield does.

Why a relay and not a connector class per library: it needs only the libraries' public `proxy=` option, so the
bot's own aiohttp/httpx version cannot break it, and SOCKS5, SOCKS5-inside-TLS and the HTTPS proxy are the one
tested implementation in okxcore.tunnel. Measured cost: bench/RESULTS.md §8.

A failed tunnel is answered in the library's terms (a non-2xx CONNECT answer, which aiohttp and httpx raise as
their proxy errors) with okx-shield's message and fix as the reason phrase; the status tells the kind:
504 the proxy timed out, 403 a host that is not the bot's OKX host, 502 any other proxy failure.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import logging
import secrets
import select
import socket
import ssl
import threading

from okxcore.errors import OkxShieldError, ProxyError, ProxyTimeoutError, TargetNotAllowedError
from okxcore.tunnel import TunnelOpener

RELAY_USER = "okx-shield"
REASON_PREFIX = "okx-shield: "  # every refusal's reason phrase starts so: the clients tell the relay's answers apart
STATUS_TIMEOUT = 504
STATUS_REFUSED = 403
STATUS_PROXY_FAILED = 502
_MAX_HEAD = 8 * 1024
_HEAD_TIMEOUT_S = 10.0
_CHUNK = 64 * 1024
_log = logging.getLogger("okxcore.bots")


class LoopbackRelay:
    def __init__(self, tunnel: TunnelOpener) -> None:
        self.tunnel = tunnel
        self.token = secrets.token_urlsafe(24)
        self._expected_auth = "Basic " + base64.b64encode(f"{RELAY_USER}:{self.token}".encode()).decode()
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(128)
        self.port: int = int(self._server.getsockname()[1])
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, name=f"okx-shield-relay-{self.port}", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """The proxy URL without credentials (pass `auth` apart, or use url_with_auth)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def url_with_auth(self) -> str:
        return f"http://{RELAY_USER}:{self.token}@127.0.0.1:{self.port}"

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._server.close()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _peer = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), name="okx-shield-relay-conn", daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        try:
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            target, early = self._read_connect(client)
            if target is None:
                return
            try:
                upstream = self.tunnel.open(*target)
            except OkxShieldError as exc:
                client.sendall(_answer(_status_for(exc), exc.describe()))
                return
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            if early:
                upstream.sendall(early)
            _pump(client, upstream)
        except OSError:
            pass  # either side went away: closing both is all there is to do
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.close()

    def _read_connect(self, client: socket.socket) -> tuple[tuple[str, int] | None, bytes]:
        """The CONNECT target and any bytes sent after the head; None (answered already) for anything else."""
        client.settimeout(_HEAD_TIMEOUT_S)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            if not chunk or len(head) + len(chunk) > _MAX_HEAD:
                return None, b""
            head += chunk
        client.settimeout(None)
        block, _, early = head.partition(b"\r\n\r\n")
        lines = block.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if not hmac.compare_digest(headers.get("proxy-authorization", ""), self._expected_auth):
            client.sendall(_answer(407, "the loopback relay refused a wrong or missing relay token", authenticate=True))
            return None, b""
        if len(parts) != 3 or parts[0] != "CONNECT":
            # A plain-http request through a proxy would go out unencrypted: only tunnels are relayed.
            client.sendall(_answer(405, "the loopback relay only carries CONNECT tunnels to OKX's https host"))
            return None, b""
        host, _, port_text = parts[1].rpartition(":")
        if not host or not port_text.isdigit():
            client.sendall(_answer(400, "the loopback relay needs CONNECT host:port"))
            return None, b""
        return (host.strip("[]"), int(port_text)), early


def _status_for(exc: OkxShieldError) -> int:
    if isinstance(exc, ProxyTimeoutError):
        return STATUS_TIMEOUT
    if isinstance(exc, TargetNotAllowedError):
        return STATUS_REFUSED
    if isinstance(exc, ProxyError):
        return STATUS_PROXY_FAILED
    return STATUS_PROXY_FAILED


def _answer(status: int, reason: str, *, authenticate: bool = False) -> bytes:
    # The reason phrase carries the message to the library's exception: one line of printable ASCII.
    phrase = REASON_PREFIX + "".join(ch if " " <= ch <= "~" else "?" for ch in reason)[:900]
    extra = f'Proxy-Authenticate: Basic realm="{RELAY_USER}"\r\n' if authenticate else ""
    return f"HTTP/1.1 {status} {phrase}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n".encode()


def _pump(client: socket.socket, upstream: socket.socket) -> None:
    """Copy bytes both ways until either side closes. One thread per tunnel: an SSLSocket (the TLS hop to the
    proxy) must not be read and written from two threads at once. Its decrypted-but-unread bytes (pending())
    are drained before waiting on select, which sees only the raw socket."""
    tls = isinstance(upstream, ssl.SSLSocket)
    peers = {client: upstream, upstream: client}
    while True:
        if tls and upstream.pending():  # type: ignore[attr-defined]
            ready: list[socket.socket] = [upstream]
        else:
            ready, _, _ = select.select([client, upstream], [], [])
        for source in ready:
            data = source.recv(_CHUNK)
            if not data:
                return
            peers[source].sendall(data)
