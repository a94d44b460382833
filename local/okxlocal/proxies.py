"""Local stand-ins for QuotaGuard Shield, the static-IP egress proxy, built from real Debian programs.

Three forms, matching the Shield URLs users paste:

- ``socks5h://``     plain SOCKS5 with RFC 1929 user/pass auth: ``microsocks``.
- ``socks5h+tls://`` SOCKS5 inside TLS (Shield's port 1081 form): ``stunnel`` terminating TLS in front
  of ``microsocks``.
- ``https://``       HTTP CONNECT proxy inside TLS (Shield's port 9294 form): ``stunnel`` terminating
  TLS in front of ``tinyproxy`` with ``BasicAuth``.

Clients reach every proxy on 127.0.0.1; the proxies' outgoing connections leave from ``egress_ip``
(127.0.0.2 by default, the "static IP"), so a simulator can tell proxied calls from direct ones.

Every program runs as a foreground child in its own process group, logs into the work folder and is
killed by :meth:`RunningProxy.stop` (and, as a last resort, at interpreter exit).

Quirks of the Debian programs worth knowing (microsocks 1.0.3, stunnel 5.68, tinyproxy 1.11.1):

- microsocks binds its outgoing socket to ``-b`` only when the target's address family matches, and
  it dials only the first address a name resolves to. A target that resolves to IPv6 first
  (``localhost`` wherever /etc/hosts lists ``::1 localhost``, as Debian's default file does) is
  dialled from ``::1``, not from the egress IP (or refused if nothing listens on ::1). Point clients
  at ``127.0.0.1`` or a name that resolves to IPv4 only. tinyproxy does not leak this way: with
  ``Bind`` set, its outgoing IPv6 attempts fail (checked with ``[::1]``) and it moves on to the next
  address of the name.
- tinyproxy 1.11.1 answers a CONNECT without credentials with 407, but one with *wrong* credentials
  with ``401 Unauthorized`` + ``WWW-Authenticate`` (upstream bug tinyproxy#532, fixed in later
  releases). Clients must treat 401 and 407 on CONNECT alike.
- tinyproxy's ``BasicAuth`` only parses ``[-A-Za-z0-9._]`` credentials, so all kinds accept only
  those characters (``secrets.token_urlsafe`` output qualifies).
- With no ``ConnectPort`` line tinyproxy allows CONNECT to any port.
- microsocks has no quiet flag; it logs one line per connection to stderr (our log file).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import secrets
import selectors
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import IO, Self
from urllib.parse import quote

from okxlocal.pki import LocalPKI

LISTEN_HOST = "127.0.0.1"
DEFAULT_EGRESS_IP = "127.0.0.2"

START_TIMEOUT_S = 5.0
STOP_GRACE_S = 1.5
_PORT_ATTEMPTS = 4
_LOG_TAIL_LINES = 30
_CREDENTIAL_RE = re.compile(r"[-A-Za-z0-9._]{1,255}")
_PORT_CONFLICT_MARKERS = (
    "address already in use",  # microsocks, stunnel
    "could not create listening sockets",  # tinyproxy
)


class ProxyKind(StrEnum):
    SOCKS5 = "socks5h"  # microsocks: plain SOCKS5, user/pass auth (RFC 1929)
    SOCKS5_TLS = "socks5h+tls"  # stunnel (TLS) -> microsocks (Shield's port 1081 form)
    HTTPS = "https"  # stunnel (TLS) -> tinyproxy with BasicAuth, HTTP CONNECT (Shield's port 9294 form)


# --------------------------------------------------------------------------------------------------
# child processes


@dataclass
class _Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]
    secrets_to_hide: tuple[str, ...] = ()

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def command_line(self) -> str:
        shown = " ".join(self.argv)
        for secret in self.secrets_to_hide:
            shown = shown.replace(secret, "***")
        return shown

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        try:
            with self.log_path.open("rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(0, size - 16_384))
                text = handle.read().decode("utf-8", errors="replace")
        except OSError as exc:
            return f"(log {self.log_path} unreadable: {exc})"
        for secret in self.secrets_to_hide:
            text = text.replace(secret, "***")
        return "\n".join(text.splitlines()[-lines:])

    def terminate(self) -> None:
        """SIGTERM the child's process group, SIGKILL it after a grace period, reap it. Idempotent."""
        proc = self.process
        if proc.poll() is None:
            # Not yet reaped, so the pid (== the group id, thanks to start_new_session) is still ours.
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait(timeout=STOP_GRACE_S)
        with _REGISTRY_LOCK:
            _LIVE_CHILDREN.pop(id(self), None)
        with contextlib.suppress(OSError):
            self.log_file.close()


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


_LIVE_CHILDREN: dict[int, _Child] = {}
_REGISTRY_LOCK = threading.Lock()


@atexit.register
def _kill_leftovers() -> None:
    with _REGISTRY_LOCK:
        children = list(_LIVE_CHILDREN.values())
    for child in children:
        with contextlib.suppress(Exception):
            child.terminate()


def _require_program(program: str, package: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise RuntimeError(f"{program!r} not found on PATH; install the Debian package {package!r}")
    return path


def _spawn(name: str, argv: list[str], workdir: Path, secrets_to_hide: tuple[str, ...]) -> _Child:
    log_path = workdir / f"{name}.log"
    log_file = log_path.open("ab")
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            start_new_session=True,  # own process group: stop() kills the whole group
            close_fds=True,
        )
    except BaseException:
        log_file.close()
        raise
    child = _Child(name, argv, process, log_path, log_file, secrets_to_hide)
    with _REGISTRY_LOCK:
        _LIVE_CHILDREN[id(child)] = child
    return child


def _free_port(host: str = LISTEN_HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _listener_owned_by(pid: int, host: str, port: int) -> bool | None:
    """Whether the socket listening on host:port belongs to pid; None when /proc cannot tell."""
    wanted = f"{socket.inet_aton(host)[::-1].hex().upper()}:{port:04X}"
    try:
        rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return None
    inodes = set()
    for row in rows:
        cols = row.split()
        if len(cols) > 9 and cols[1] == wanted and cols[3] == "0A":  # 0A == TCP_LISTEN
            inodes.add(f"socket:[{cols[9]}]")
    if not inodes:
        return None
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    for fd in fds:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                return True
    return False


def _wait_listening(child: _Child, host: str, port: int, timeout: float) -> str | None:
    """Wait until child accepts TCP on host:port. None on success, else a reason."""
    deadline = time.monotonic() + timeout
    while True:
        code = child.process.poll()
        if code is not None:
            return f"exited with code {code}"
        try:
            with socket.create_connection((host, port), timeout=0.25):
                pass
        except OSError:
            pass
        else:
            owned = _listener_owned_by(child.pid, host, port)
            if owned is False:
                return "port taken by another process"
            if child.process.poll() is None:
                return None
        if time.monotonic() >= deadline:
            return f"not listening after {timeout:.1f} s"
        time.sleep(0.05)


def _launch_listening(
    name: str,
    workdir: Path,
    build_argv: Callable[[int], list[str]],
    secrets_to_hide: tuple[str, ...],
    host: str = LISTEN_HOST,
) -> tuple[_Child, int]:
    """Start a program on a free port (retrying with a new port on a bind race); return it and the port."""
    problems: list[str] = []
    for _attempt in range(_PORT_ATTEMPTS):
        port = _free_port(host)
        argv = build_argv(port)
        child = _spawn(f"{name}-{port}", argv, workdir, secrets_to_hide)
        reason = _wait_listening(child, host, port, START_TIMEOUT_S)
        if reason is None:
            return child, port
        tail = child.log_tail()
        child.terminate()
        problems.append(
            f"{name} ({child.command_line()}) on {host}:{port}: {reason}\n--- {child.log_path} (tail) ---\n{tail}"
        )
        port_race = reason == "port taken by another process" or any(
            marker in tail.lower() for marker in _PORT_CONFLICT_MARKERS
        )
        if not port_race:
            break
    raise RuntimeError(f"{name} did not start:\n" + "\n\n".join(problems))


# --------------------------------------------------------------------------------------------------
# the programs


def _start_microsocks(workdir: Path, username: str, password: str, egress_ip: str) -> tuple[_Child, int]:
    program = _require_program("microsocks", "microsocks")

    def argv(port: int) -> list[str]:
        # -b: source address of outgoing connections (only applied to IPv4 targets, see module doc).
        return [program, "-i", LISTEN_HOST, "-p", str(port), "-u", username, "-P", password, "-b", egress_ip]

    return _launch_listening("microsocks", workdir, argv, (password,))


def _start_tinyproxy(workdir: Path, username: str, password: str, egress_ip: str) -> tuple[_Child, int]:
    program = _require_program("tinyproxy", "tinyproxy")
    tag = secrets.token_hex(4)

    def argv(port: int) -> list[str]:
        config = workdir / f"tinyproxy-{tag}-{port}.conf"
        # No User/Group: tinyproxy keeps running as the current user (as root it only warns).
        # No PidFile/LogFile/Syslog: nothing is written outside workdir; logs go to stdout (-d).
        # No ConnectPort line: CONNECT is allowed to every port.
        config.write_text(
            "\n".join(
                (
                    f"Port {port}",
                    f"Listen {LISTEN_HOST}",
                    f"Bind {egress_ip}",
                    f"Allow {LISTEN_HOST}",
                    f"BasicAuth {username} {password}",
                    "Timeout 300",
                    "MaxClients 200",
                    "LogLevel Warning",
                    "DisableViaHeader Yes",
                    "XTinyproxy No",
                    "",
                )
            )
        )
        config.chmod(0o600)
        return [program, "-d", "-c", str(config)]

    return _launch_listening("tinyproxy", workdir, argv, (password,))


def _start_stunnel(workdir: Path, pki: LocalPKI, backend_port: int) -> tuple[_Child, int]:
    program = _require_program("stunnel", "stunnel4")
    cert = pki.server_cert("proxy")
    tag = secrets.token_hex(4)

    def argv(port: int) -> list[str]:
        config = workdir / f"stunnel-{tag}-{port}.conf"
        config.write_text(
            "\n".join(
                (
                    "; stand-in for Shield's TLS front, written by okxlocal.proxies",
                    "foreground = yes",  # no fork: the child we started is the daemon
                    "pid =",  # no pid file
                    "debug = 4",  # warnings and worse
                    "",
                    "[shield]",
                    f"accept = {LISTEN_HOST}:{port}",
                    f"connect = {LISTEN_HOST}:{backend_port}",
                    f"cert = {cert.combined_pem_path}",
                    "TIMEOUTclose = 0",
                    "",
                )
            )
        )
        return [program, str(config)]

    return _launch_listening("stunnel", workdir, argv, ())


# --------------------------------------------------------------------------------------------------
# public API


@dataclass
class RunningProxy:
    kind: ProxyKind
    host: str
    port: int
    username: str
    password: str
    egress_ip: str
    # CA bundle a client must trust for the TLS hop to the proxy (TLS kinds only).
    ca_path: Path | None = None
    _children: list[_Child] = field(default_factory=list, repr=False, compare=False)

    def url(self, *, password: str | None = None) -> str:
        secret = self.password if password is None else password
        return f"{self.kind.value}://{quote(self.username, safe='')}:{quote(secret, safe='')}@{self.host}:{self.port}"

    @property
    def pids(self) -> list[int]:
        """Process ids of the programs behind this proxy (front first)."""
        return [child.pid for child in self._children]

    @property
    def log_paths(self) -> list[Path]:
        return [child.log_path for child in self._children]

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        return "\n".join(f"--- {c.log_path} ---\n{c.log_tail(lines)}" for c in self._children)

    def alive(self) -> bool:
        return bool(self._children) and all(child.alive() for child in self._children)

    def stop(self) -> None:
        """Terminate every program (front first), wait for them; safe to call more than once."""
        for child in self._children:
            child.terminate()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _check_credential(what: str, value: str) -> str:
    if not _CREDENTIAL_RE.fullmatch(value):
        raise ValueError(
            f"proxy {what} must be 1-255 characters from [-A-Za-z0-9._] (tinyproxy's BasicAuth "
            f"cannot parse anything else), got {value!r}"
        )
    return value


def _check_egress_ip(egress_ip: str) -> None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((egress_ip, 0))
    except OSError as exc:
        raise RuntimeError(f"cannot bind the egress address {egress_ip!r} on this machine: {exc}") from exc


def start_proxy(
    kind: ProxyKind,
    workdir: Path,
    pki: LocalPKI,
    *,
    username: str | None = None,
    password: str | None = None,
    egress_ip: str = DEFAULT_EGRESS_IP,
) -> RunningProxy:
    """Start one proxy stand-in and return once its client port accepts TCP (RuntimeError otherwise)."""
    kind = ProxyKind(kind)
    user = _check_credential("username", username if username is not None else f"shield-{secrets.token_hex(4)}")
    secret = _check_credential("password", password if password is not None else secrets.token_urlsafe(18))
    _check_egress_ip(egress_ip)
    workdir.mkdir(parents=True, exist_ok=True)

    children: list[_Child] = []
    try:
        if kind is ProxyKind.HTTPS:
            backend, backend_port = _start_tinyproxy(workdir, user, secret, egress_ip)
        else:
            backend, backend_port = _start_microsocks(workdir, user, secret, egress_ip)
        children.append(backend)
        port = backend_port
        ca_path: Path | None = None
        if kind in (ProxyKind.SOCKS5_TLS, ProxyKind.HTTPS):
            front, port = _start_stunnel(workdir, pki, backend_port)
            children.insert(0, front)
            ca_path = pki.ca_path
    except BaseException:
        for child in children:
            child.terminate()
        raise
    return RunningProxy(
        kind=kind,
        host=LISTEN_HOST,
        port=port,
        username=user,
        password=secret,
        egress_ip=egress_ip,
        ca_path=ca_path,
        _children=children,
    )


class ProxyStack:
    """All three proxy kinds at once, sharing one PKI; a context manager that stops them on exit."""

    def __init__(self, workdir: Path, pki: LocalPKI, egress_ip: str = DEFAULT_EGRESS_IP) -> None:
        self.workdir = workdir
        self.pki = pki
        self.egress_ip = egress_ip
        self.proxies: dict[ProxyKind, RunningProxy] = {}

    def start(self) -> Self:
        try:
            for kind in ProxyKind:
                if kind not in self.proxies:
                    self.proxies[kind] = start_proxy(kind, self.workdir, self.pki, egress_ip=self.egress_ip)
        except BaseException:
            self.stop()
            raise
        return self

    def get(self, kind: ProxyKind) -> RunningProxy:
        try:
            return self.proxies[ProxyKind(kind)]
        except KeyError:
            raise KeyError(f"no running {kind} proxy in this stack (was it started?)") from None

    def stop(self) -> None:
        for proxy in self.proxies.values():
            proxy.stop()
        self.proxies.clear()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class StalledListener:
    """A TCP listener that accepts connections and never sends a byte: the "stalled proxy" fault.

    Accepted connections stay open (unread) until close().
    """

    def __init__(self, host: str = LISTEN_HOST) -> None:
        self.host = host
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.bind((host, 0))
        self._server.listen(64)
        self._server.setblocking(False)
        self.port: int = int(self._server.getsockname()[1])
        self._lock = threading.Lock()
        self._accepted = 0
        self._connections: list[socket.socket] = []
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"stalled-listener-{self.port}", daemon=True)
        self._thread.start()

    @property
    def accepted(self) -> int:
        with self._lock:
            return self._accepted

    def url(self, scheme: str, username: str = "user", password: str = "pass") -> str:  # noqa: S107
        """A proxy URL pointing at this listener, e.g. url("socks5h")."""
        return f"{scheme}://{quote(username, safe='')}:{quote(password, safe='')}@{self.host}:{self.port}"

    def wait_accepted(self, count: int = 1, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.accepted >= count:
                return True
            time.sleep(0.02)
        return self.accepted >= count

    def _run(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._server, selectors.EVENT_READ)
            while not self._closing.is_set():
                if not selector.select(timeout=0.1):
                    continue
                try:
                    conn, _peer = self._server.accept()
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    return
                with self._lock:
                    if self._closing.is_set():
                        conn.close()
                        return
                    self._connections.append(conn)
                    self._accepted += 1

    def close(self) -> None:
        self._closing.set()
        self._thread.join(timeout=2.0)
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.close()
        with contextlib.suppress(OSError):
            self._server.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
