"""Opening a tunnel through the Shield proxy to OKX: TCP, optional TLS to the proxy, then SOCKS5 or CONNECT.

The result is a byte pipe to OKX's host and port. TLS to OKX is layered on top by the transport, so the
proxy only ever relays ciphertext. OKX's host name is always sent to the proxy as a name (SOCKS5 ATYP
DOMAINNAME / CONNECT host), never resolved here: no local DNS lookup of OKX in any mode.

Every step runs under a deadline: connect_timeout for TCP, handshake_timeout for everything after it
(TLS to the proxy and the proxy protocol). A stalled proxy cannot hang a Lambda.
"""

from __future__ import annotations

import base64
import ipaddress
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property

from okxcore.errors import (
    ProxyAuthError,
    ProxyError,
    ProxyTimeoutError,
    ProxyTlsError,
    ProxyTunnelError,
    ProxyUnreachableError,
    TargetNotAllowedError,
)
from okxcore.shield import ProxyScheme, ShieldEndpoint
from okxcore.trust import client_context

PROXY_CA_SETTING = "SHIELD_CA_BUNDLE / --proxy-ca-bundle"

_SOCKS_REPLIES = {
    1: "general SOCKS server failure",
    2: "connection not allowed by ruleset",
    3: "network unreachable",
    4: "host unreachable",
    5: "connection refused by OKX's host",
    6: "TTL expired",
    7: "command not supported",
    8: "address type not supported",
}
_MAX_CONNECT_RESPONSE = 16 * 1024


@dataclass
class TunnelStats:
    """Counts of what crossed the proxy, for tests, benchmarks and the probe report."""

    tunnels_opened: int = 0
    failures: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, *, ok: bool) -> None:
        with self._lock:
            if ok:
                self.tunnels_opened += 1
            else:
                self.failures += 1


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def arm(self, sock: socket.socket) -> None:
        remaining = self._end - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        sock.settimeout(remaining)


@dataclass(frozen=True)
class TunnelOpener:
    """Opens tunnels through one Shield endpoint. Shared by every connection of a session."""

    endpoint: ShieldEndpoint
    connect_timeout: float = 5.0
    handshake_timeout: float = 10.0
    proxy_ca_bundle: str | None = None  # None: certifi's bundle (Shield's certificate is public)
    stats: TunnelStats = field(default_factory=TunnelStats)
    # (host, port) pairs this opener may tunnel to; None: any. A bot's opener allows only its OKX API host, so
    # no setting of the bot's library (a CORS proxy URL, a redirect, another base URL) can send its signed
    # headers elsewhere.
    allowed_targets: frozenset[tuple[str, int]] | None = None

    @cached_property
    def _proxy_tls_context(self) -> ssl.SSLContext:
        return client_context(self.proxy_ca_bundle, setting=PROXY_CA_SETTING)

    def proxy_tls_context(self) -> ssl.SSLContext:
        """Built once per opener; a configured bundle that cannot be used raises TrustStoreError naming it."""
        return self._proxy_tls_context

    def open(self, target_host: str, target_port: int) -> socket.socket:
        """A connected pipe to target_host:target_port through the proxy, or a typed ProxyError."""
        allowed = self.allowed_targets
        if allowed is not None and (target_host.rstrip(".").lower(), target_port) not in allowed:
            raise TargetNotAllowedError(f"refusing a tunnel to {target_host}:{target_port}: not this bot's OKX host")
        try:
            sock = self._open(target_host, target_port)
        except ProxyError:
            self.stats.record(ok=False)
            raise
        self.stats.record(ok=True)
        return sock

    def _open(self, target_host: str, target_port: int) -> socket.socket:
        endpoint = self.endpoint
        try:
            raw = socket.create_connection((endpoint.host, endpoint.port), timeout=self.connect_timeout)
        except TimeoutError:
            raise ProxyTimeoutError(
                f"no TCP connection within {self.connect_timeout:g} s", proxy=endpoint.address
            ) from None
        except socket.gaierror as exc:
            raise ProxyUnreachableError(
                f"cannot resolve the proxy host ({exc.strerror})", proxy=endpoint.address
            ) from None
        except OSError as exc:
            raise ProxyUnreachableError(
                f"cannot connect ({exc.strerror or exc.__class__.__name__})", proxy=endpoint.address
            ) from None
        sock: socket.socket = raw
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            deadline = _Deadline(self.handshake_timeout)
            if endpoint.scheme.tls_to_proxy:
                sock = self._tls_to_proxy(raw, deadline)
            if endpoint.scheme.uses_socks:
                self._socks5(sock, target_host, target_port, deadline)
            else:
                self._http_connect(sock, target_host, target_port, deadline)
            sock.settimeout(None)
            return sock
        except TimeoutError:
            sock.close()
            raise ProxyTimeoutError(
                f"the proxy did not complete its handshake within {self.handshake_timeout:g} s",
                proxy=endpoint.address,
            ) from None
        except ProxyError:
            sock.close()
            raise
        except OSError as exc:
            sock.close()
            raise ProxyTunnelError(
                f"the connection broke during the proxy handshake ({exc.__class__.__name__})",
                proxy=endpoint.address,
            ) from None

    def _tls_to_proxy(self, raw: socket.socket, deadline: _Deadline) -> ssl.SSLSocket:
        deadline.arm(raw)
        try:
            return self.proxy_tls_context().wrap_socket(raw, server_hostname=self.endpoint.host)
        except ssl.SSLCertVerificationError as exc:
            raise ProxyTlsError(
                f"the proxy's TLS certificate was not trusted ({exc.verify_message})", proxy=self.endpoint.address
            ) from None
        except ssl.SSLError as exc:
            raise ProxyTlsError(
                f"TLS handshake with the proxy failed ({exc.reason or exc.__class__.__name__})",
                proxy=self.endpoint.address,
            ) from None

    def _socks5(self, sock: socket.socket, host: str, port: int, deadline: _Deadline) -> None:
        proxy = self.endpoint.address
        deadline.arm(sock)
        # Offer username/password only: Shield always has credentials, and "no auth" must not be chosen.
        sock.sendall(b"\x05\x01\x02")
        version, method = self._recv_exact(sock, 2, deadline)
        if version != 5:
            raise ProxyTunnelError("the proxy does not speak SOCKS5 (check the scheme and port)", proxy=proxy)
        if method != 2:
            raise ProxyAuthError("the proxy refused username/password authentication", proxy=proxy)
        user = self.endpoint.username.encode()
        password = self.endpoint.password.encode()
        deadline.arm(sock)
        sock.sendall(bytes([1, len(user)]) + user + bytes([len(password)]) + password)
        _auth_version, status = self._recv_exact(sock, 2, deadline)
        if status != 0:
            raise ProxyAuthError("wrong proxy username or password", proxy=proxy)
        deadline.arm(sock)
        sock.sendall(b"\x05\x01\x00" + _socks_address(host) + struct.pack("!H", port))
        version, reply, _reserved, address_type = self._recv_exact(sock, 4, deadline)
        if version != 5:
            raise ProxyTunnelError("malformed SOCKS5 reply", proxy=proxy)
        if reply != 0:
            reason = _SOCKS_REPLIES.get(reply, f"reply code {reply}")
            raise ProxyTunnelError(f"the proxy could not reach {host}:{port}: {reason}", proxy=proxy)
        if address_type == 1:
            self._recv_exact(sock, 4 + 2, deadline)
        elif address_type == 4:
            self._recv_exact(sock, 16 + 2, deadline)
        elif address_type == 3:
            (length,) = self._recv_exact(sock, 1, deadline)
            self._recv_exact(sock, length + 2, deadline)
        else:
            raise ProxyTunnelError("malformed SOCKS5 reply address", proxy=proxy)

    def _http_connect(self, sock: socket.socket, host: str, port: int, deadline: _Deadline) -> None:
        proxy = self.endpoint.address
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        token = base64.b64encode(f"{self.endpoint.username}:{self.endpoint.password}".encode()).decode()
        request = (
            f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n"
            f"Proxy-Authorization: Basic {token}\r\nProxy-Connection: keep-alive\r\n\r\n"
        )
        deadline.arm(sock)
        sock.sendall(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            deadline.arm(sock)
            chunk = sock.recv(4096)
            if not chunk:
                raise ProxyTunnelError("the proxy closed the connection during CONNECT", proxy=proxy)
            head += chunk
            if len(head) > _MAX_CONNECT_RESPONSE:
                raise ProxyTunnelError("the proxy's CONNECT answer is too long", proxy=proxy)
        header_block, _, extra = head.partition(b"\r\n\r\n")
        status_line = header_block.split(b"\r\n", 1)[0].decode("latin-1")
        parts = status_line.split(" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        if status in (401, 407):  # 407 is the standard; some proxies (tinyproxy 1.11) answer 401
            raise ProxyAuthError(f"wrong proxy username or password (HTTP {status})", proxy=proxy)
        if not 200 <= status < 300:
            raise ProxyTunnelError(f"CONNECT to {authority} refused: {status_line[:120]}", proxy=proxy)
        if extra:
            # Nothing may arrive before our TLS ClientHello; bytes here mean a confused proxy.
            raise ProxyTunnelError("the proxy sent data before the tunnel was used", proxy=proxy)

    def _recv_exact(self, sock: socket.socket, size: int, deadline: _Deadline) -> bytes:
        data = b""
        while len(data) < size:
            deadline.arm(sock)
            chunk = sock.recv(size - len(data))
            if not chunk:
                raise ProxyTunnelError(
                    "the proxy closed the connection during the handshake", proxy=self.endpoint.address
                )
            data += chunk
        return data


def _socks_address(host: str) -> bytes:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        name = host.encode("idna")
        if len(name) > 255:
            raise ValueError("host name too long for SOCKS5") from None
        return b"\x03" + bytes([len(name)]) + name
    return (b"\x01" if ip.version == 4 else b"\x04") + ip.packed


__all__ = ["ProxyScheme", "TunnelOpener", "TunnelStats"]
