"""The Shield stand-ins are real programs (microsocks, stunnel, tinyproxy): check them end to end.

Every check talks to a local origin through the proxy and asserts the origin saw the "static IP"
127.0.0.2, never the client's 127.0.0.1.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from okxlocal.pki import LocalPKI, ServerCert
from okxlocal.proxies import (
    ProxyKind,
    ProxyStack,
    RunningProxy,
    StalledListener,
    children,
    start_proxy,
)

EGRESS_IP = "127.0.0.2"
TIMEOUT_S = 5.0
T = TypeVar("T")

pytestmark = [
    pytest.mark.integration,  # starts proxies of its own
    pytest.mark.skipif(
        any(shutil.which(p) is None for p in ("microsocks", "stunnel", "tinyproxy", "curl")),
        reason="needs microsocks, stunnel4, tinyproxy and curl (apt)",
    ),
]


# --------------------------------------------------------------------------------------------------
# origins: tiny servers on 127.0.0.1 that answer with the peer address they saw


class _PeerEcho(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = self.client_address[0].encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class Origin:
    def __init__(self, tls_context: ssl.SSLContext | None) -> None:
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PeerEcho)
        self.server.daemon_threads = True
        if tls_context is not None:
            self.server.socket = tls_context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05})
        self.thread.daemon = True
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=2)


def ipv4_only_name() -> str:
    """A host name for SOCKS CONNECT that the proxy resolves to IPv4 only.

    microsocks applies its -b egress address only to IPv4 targets; where /etc/hosts also lists
    "::1 localhost" it would dial ::1 from ::1. Send "localhost" only where that cannot happen.
    """
    families = {info[0] for info in socket.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)}
    return "localhost" if families == {socket.AF_INET} else "127.0.0.1"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> LocalPKI:
    return LocalPKI(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def client_ctx(pki: LocalPKI) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(pki.ca_path))


@pytest.fixture(scope="module")
def https_origin(pki: LocalPKI) -> Iterator[Origin]:
    cert = pki.server_cert("origin")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert.cert_chain_path, cert.key_path)
    origin = Origin(ctx)
    yield origin
    origin.close()


@pytest.fixture(scope="module")
def http_origin() -> Iterator[Origin]:
    origin = Origin(None)
    yield origin
    origin.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, pki: LocalPKI) -> Iterator[ProxyStack]:
    with ProxyStack(tmp_path_factory.mktemp("proxies"), pki, egress_ip=EGRESS_IP) as running:
        yield running


# --------------------------------------------------------------------------------------------------
# client helpers


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    return subprocess.run(
        ["curl", "-q", "-sS", "--max-time", str(TIMEOUT_S), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S + 5,
        env=env,
        check=False,
    )


def recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError(f"proxy closed after {data!r}")
        data += chunk
    return data


def socks5_connect(sock: socket.socket, user: str, password: str, host: str, port: int) -> int:
    """SOCKS5 with user/pass (RFC 1928/1929) and CONNECT by domain name. Returns the RFC 1929 status
    when auth fails, else the CONNECT reply code (0 = succeeded)."""
    sock.sendall(b"\x05\x01\x02")  # version 5, one method: username/password
    assert recv_exact(sock, 2) == b"\x05\x02"
    sock.sendall(b"\x01" + bytes([len(user)]) + user.encode() + bytes([len(password)]) + password.encode())
    _version, status = recv_exact(sock, 2)
    if status != 0:
        return status
    name = host.encode()
    sock.sendall(b"\x05\x01\x00\x03" + bytes([len(name)]) + name + struct.pack(">H", port))
    reply = recv_exact(sock, 4)
    addr_len = {1: 4, 4: 16}.get(reply[3]) or recv_exact(sock, 1)[0]
    recv_exact(sock, addr_len + 2)
    return reply[1]


def open_proxy_socket(proxy: RunningProxy, client_ctx: ssl.SSLContext) -> socket.socket:
    raw = socket.create_connection((proxy.host, proxy.port), timeout=TIMEOUT_S)
    if proxy.kind is ProxyKind.SOCKS5:
        return raw
    return client_ctx.wrap_socket(raw, server_hostname="localhost")  # TLS to the proxy itself


def https_get_inside(outer: socket.socket, ctx: ssl.SSLContext, server_hostname: str) -> bytes:
    """TLS in TLS: run a second TLS session over `outer` with memory BIOs, GET / and return the body."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    inner = ctx.wrap_bio(incoming, outgoing, server_hostname=server_hostname)

    def pump(op: Callable[[], T]) -> T:
        while True:
            try:
                result = op()
            except ssl.SSLWantReadError:
                if outgoing.pending:
                    outer.sendall(outgoing.read())
                data = outer.recv(65536)
                if data:
                    incoming.write(data)
                else:
                    incoming.write_eof()
                continue
            if outgoing.pending:
                outer.sendall(outgoing.read())
            return result

    pump(inner.do_handshake)
    pump(lambda: inner.write(b"GET / HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n"))
    response = b""
    while True:
        try:
            chunk = pump(lambda: inner.read(65536))
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            break
        assert isinstance(chunk, bytes)
        if not chunk:
            break
        response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.") and b" 200 " in head.split(b"\r\n")[0], head
    return body


# --------------------------------------------------------------------------------------------------
# egress through each kind


def test_socks5_egress_with_curl(stack: ProxyStack, https_origin: Origin, pki: LocalPKI) -> None:
    proxy = stack.get(ProxyKind.SOCKS5)
    # An IP literal: microsocks dials an IPv6 answer for "localhost" from ::1 (see ipv4_only_name).
    result = curl("--proxy", proxy.url(), "--cacert", str(pki.ca_path), f"https://127.0.0.1:{https_origin.port}/")
    assert result.returncode == 0, result.stderr
    assert result.stdout == EGRESS_IP


@pytest.mark.parametrize("kind", [ProxyKind.SOCKS5, ProxyKind.SOCKS5_TLS])
def test_socks5_raw_tls_in_tls(
    stack: ProxyStack, https_origin: Origin, client_ctx: ssl.SSLContext, kind: ProxyKind
) -> None:
    proxy = stack.get(kind)
    name = ipv4_only_name()
    with open_proxy_socket(proxy, client_ctx) as sock:
        assert socks5_connect(sock, proxy.username, proxy.password, name, https_origin.port) == 0
        assert https_get_inside(sock, client_ctx, name) == EGRESS_IP.encode()


def test_socks5_tls_plain_http_inside(stack: ProxyStack, http_origin: Origin, client_ctx: ssl.SSLContext) -> None:
    proxy = stack.get(ProxyKind.SOCKS5_TLS)
    with open_proxy_socket(proxy, client_ctx) as sock:
        assert socks5_connect(sock, proxy.username, proxy.password, ipv4_only_name(), http_origin.port) == 0
        sock.sendall(b"GET / HTTP/1.0\r\nHost: origin\r\n\r\n")
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    assert response.startswith(b"HTTP/1.0 200")
    assert response.endswith(b"\r\n\r\n" + EGRESS_IP.encode())


def test_https_proxy_egress_with_curl(stack: ProxyStack, https_origin: Origin, pki: LocalPKI) -> None:
    proxy = stack.get(ProxyKind.HTTPS)
    assert proxy.ca_path == pki.ca_path
    result = curl(
        "--proxy",
        proxy.url(),
        "--proxy-cacert",
        str(pki.ca_path),
        "--cacert",
        str(pki.ca_path),
        f"https://localhost:{https_origin.port}/",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == EGRESS_IP


def test_https_proxy_raw_connect_tls_in_tls(
    stack: ProxyStack, https_origin: Origin, client_ctx: ssl.SSLContext
) -> None:
    proxy = stack.get(ProxyKind.HTTPS)
    token = base64.b64encode(f"{proxy.username}:{proxy.password}".encode()).decode()
    target = f"127.0.0.1:{https_origin.port}"
    with open_proxy_socket(proxy, client_ctx) as sock:
        sock.sendall(
            f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nProxy-Authorization: Basic {token}\r\n\r\n".encode()
        )
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += recv_exact(sock, 1)
        assert head.split(b" ")[1] == b"200", head
        assert https_get_inside(sock, client_ctx, "127.0.0.1") == EGRESS_IP.encode()


def test_https_proxy_allows_connect_to_any_port(stack: ProxyStack, http_origin: Origin, pki: LocalPKI) -> None:
    # tinyproxy without ConnectPort lines: CONNECT to a non-443 port (plain HTTP inside the tunnel).
    proxy = stack.get(ProxyKind.HTTPS)
    result = curl(
        "--proxy", proxy.url(), "--proxy-cacert", str(pki.ca_path), "--proxytunnel",
        f"http://127.0.0.1:{http_origin.port}/",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == EGRESS_IP


# --------------------------------------------------------------------------------------------------
# refusals


@pytest.mark.parametrize("kind", [ProxyKind.SOCKS5, ProxyKind.SOCKS5_TLS])
def test_socks5_wrong_password_refused(
    stack: ProxyStack, https_origin: Origin, client_ctx: ssl.SSLContext, kind: ProxyKind
) -> None:
    proxy = stack.get(kind)
    with open_proxy_socket(proxy, client_ctx) as sock:
        status = socks5_connect(sock, proxy.username, "wrong-password", "127.0.0.1", https_origin.port)
    assert status != 0  # microsocks answers RFC 1929 status 0x02 and closes


def test_socks5_wrong_password_refused_by_curl(stack: ProxyStack, https_origin: Origin, pki: LocalPKI) -> None:
    proxy = stack.get(ProxyKind.SOCKS5)
    result = curl(
        "--proxy", proxy.url(password="wrong-password"), "--cacert", str(pki.ca_path),
        f"https://127.0.0.1:{https_origin.port}/",
    )  # fmt: skip
    assert result.returncode == 97, result.stderr  # CURLE_PROXY: SOCKS handshake refused
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        # tinyproxy 1.11.1 says 401 (not 407) to wrong credentials: upstream bug tinyproxy#532.
        ("wrong-password", {401, 407}),
        (None, {407}),
    ],
)
def test_https_proxy_bad_credentials_refused(
    stack: ProxyStack, https_origin: Origin, pki: LocalPKI, password: str | None, expected: set[int]
) -> None:
    proxy = stack.get(ProxyKind.HTTPS)
    url = proxy.url(password=password) if password else f"https://127.0.0.1:{proxy.port}"
    result = curl(
        "--proxy", url, "--proxy-cacert", str(pki.ca_path), "--cacert", str(pki.ca_path),
        "-o", "/dev/null", "-w", "%{http_connect}", f"https://localhost:{https_origin.port}/",
    )  # fmt: skip
    assert result.returncode != 0
    assert int(result.stdout) in expected, result.stderr


def test_plain_tcp_to_tls_proxy_gets_nothing_useful(stack: ProxyStack) -> None:
    # A SOCKS greeting sent without TLS to the TLS form must not be answered as SOCKS.
    proxy = stack.get(ProxyKind.SOCKS5_TLS)
    with socket.create_connection((proxy.host, proxy.port), timeout=TIMEOUT_S) as sock:
        sock.sendall(b"\x05\x01\x02")
        sock.shutdown(socket.SHUT_WR)  # stunnel would otherwise wait for the rest of a TLS record
        try:
            answer = sock.recv(16)
        except ConnectionResetError:
            answer = b""
    assert answer != b"\x05\x02"


# --------------------------------------------------------------------------------------------------
# the API itself


def test_urls_and_fields(stack: ProxyStack) -> None:
    for kind in ProxyKind:
        proxy = stack.get(kind)
        assert proxy.kind is kind
        assert (proxy.host, proxy.egress_ip) == ("127.0.0.1", EGRESS_IP)
        assert proxy.alive()
        assert proxy.url() == f"{kind.value}://{proxy.username}:{proxy.password}@127.0.0.1:{proxy.port}"
        assert proxy.url(password="nope").endswith(f":nope@127.0.0.1:{proxy.port}")
    assert len({stack.get(kind).port for kind in ProxyKind}) == 3
    assert str(ProxyKind.SOCKS5_TLS) == "socks5h+tls"


def test_stop_leaves_no_process(tmp_path: Path, pki: LocalPKI) -> None:
    for kind in ProxyKind:
        proxy = start_proxy(kind, tmp_path, pki, username="alice", password="s3cret-pw")
        pids = proxy.pids
        assert len(pids) == (1 if kind is ProxyKind.SOCKS5 else 2)
        assert proxy.alive()
        proxy.stop()
        assert not proxy.alive()
        for pid in pids:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
        with pytest.raises(OSError):  # noqa: PT011 - refused or reset, either way nothing listens
            socket.create_connection((proxy.host, proxy.port), timeout=1).close()
        proxy.stop()  # idempotent


def test_stack_stops_everything_on_exit(tmp_path: Path, pki: LocalPKI) -> None:
    with ProxyStack(tmp_path, pki) as running:
        proxies = [running.get(kind) for kind in ProxyKind]
        pids = [pid for proxy in proxies for pid in proxy.pids]
        assert all(proxy.alive() for proxy in proxies)
    assert not any(proxy.alive() for proxy in proxies)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    with pytest.raises(KeyError):
        running.get(ProxyKind.HTTPS)


def test_bad_inputs_fail_clearly(tmp_path: Path, pki: LocalPKI) -> None:
    with pytest.raises(ValueError, match="BasicAuth"):
        start_proxy(ProxyKind.HTTPS, tmp_path, pki, password="p@ss word")
    with pytest.raises(RuntimeError, match="egress address"):
        start_proxy(ProxyKind.SOCKS5, tmp_path, pki, egress_ip="192.0.2.123")


def test_start_failure_raises_with_log_tail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = LocalPKI(tmp_path / "pki")
    missing = tmp_path / "missing.pem"
    monkeypatch.setattr(broken, "server_cert", lambda _name: ServerCert(missing, missing, missing))
    with pytest.raises(RuntimeError, match="stunnel did not start") as failure:
        start_proxy(ProxyKind.SOCKS5_TLS, tmp_path, broken, password="s3cret-pw")
    message = str(failure.value)
    assert "exited with code" in message
    assert str(missing) in message  # stunnel's own complaint, from its log
    assert "s3cret-pw" not in message
    # the microsocks started behind it was stopped too
    assert not [c for c in children.LIVE_CHILDREN.values() if c.log_path.parent == tmp_path]


def test_port_race_is_retried(tmp_path: Path, pki: LocalPKI, monkeypatch: pytest.MonkeyPatch) -> None:
    real_free_port = children.free_port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        for kind in ProxyKind:
            handed_out: list[int] = []

            def free_port(host: str = "127.0.0.1", handed_out: list[int] = handed_out) -> int:
                port = taken if not handed_out else real_free_port(host)
                handed_out.append(port)
                return port

            monkeypatch.setattr(children, "free_port", free_port)
            with start_proxy(kind, tmp_path, pki) as proxy:
                assert proxy.alive()
                assert proxy.port != taken
                assert handed_out[0] == taken


def test_forgotten_proxy_is_killed_at_exit(tmp_path: Path) -> None:
    script = (
        "import sys; from pathlib import Path\n"
        "from okxlocal.pki import LocalPKI\n"
        "from okxlocal.proxies import ProxyKind, start_proxy\n"
        "work = Path(sys.argv[1])\n"
        "proxy = start_proxy(ProxyKind.HTTPS, work, LocalPKI(work / 'pki'))\n"
        "print(*proxy.pids)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=20, check=True
    )
    pids = [int(pid) for pid in done.stdout.split()]
    assert len(pids) == 2
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_stalled_listener_accepts_and_stays_silent() -> None:
    with StalledListener() as stalled:
        assert stalled.accepted == 0
        with socket.create_connection(("127.0.0.1", stalled.port), timeout=0.3) as sock:
            sock.sendall(b"\x05\x01\x02")
            assert stalled.wait_accepted(1, timeout=2)
            with pytest.raises(TimeoutError):
                sock.recv(1)
            second = socket.create_connection(("127.0.0.1", stalled.port), timeout=0.3)
            assert stalled.wait_accepted(2, timeout=2)
            stalled.close()
            sock.settimeout(2)
            with contextlib.suppress(ConnectionResetError):
                assert sock.recv(1) == b""  # closed without a byte ever sent
            second.close()
    assert stalled.accepted == 2
