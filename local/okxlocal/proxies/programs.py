"""The three stand-ins for Shield (microsocks, tinyproxy, stunnel in front of either) and the stack of
all three that the tests and the demo share."""

from __future__ import annotations

import re
import secrets
import socket
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import quote

from okxlocal.pki import LOCAL_NAMES, LocalPKI
from okxlocal.proxies.children import LISTEN_HOST, LOG_TAIL_LINES, Child, launch_listening, require_program

DEFAULT_EGRESS_IP = "127.0.0.2"
_CREDENTIAL_RE = re.compile(r"[-A-Za-z0-9._]{1,255}")


class ProxyKind(StrEnum):
    SOCKS5 = "socks5h"  # microsocks: plain SOCKS5, user/pass auth (RFC 1929)
    SOCKS5_TLS = "socks5h+tls"  # stunnel (TLS) -> microsocks (Shield's port 1081 form)
    HTTPS = "https"  # stunnel (TLS) -> tinyproxy with BasicAuth, HTTP CONNECT (Shield's port 9294 form)


def _start_microsocks(
    workdir: Path, username: str, password: str, egress_ip: str, listen: tuple[str, int | None] = (LISTEN_HOST, None)
) -> tuple[Child, int]:
    program = require_program("microsocks", "microsocks")
    host, fixed_port = listen

    def argv(port: int) -> list[str]:
        # -b: source address of outgoing connections (only applied to IPv4 targets, see module doc).
        return [program, "-i", host, "-p", str(port), "-u", username, "-P", password, "-b", egress_ip]

    return launch_listening("microsocks", workdir, argv, (password,), host=host, port=fixed_port)


def _start_tinyproxy(workdir: Path, username: str, password: str, egress_ip: str) -> tuple[Child, int]:
    program = require_program("tinyproxy", "tinyproxy")
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

    return launch_listening("tinyproxy", workdir, argv, (password,))


def _start_stunnel(
    workdir: Path, pki: LocalPKI, backend_port: int, listen: tuple[str, int | None] = (LISTEN_HOST, None)
) -> tuple[Child, int]:
    program = require_program("stunnel", "stunnel4")
    host, fixed_port = listen
    # The certificate names the address clients dial (a container dials the Docker bridge's gateway).
    cert = pki.server_cert("proxy") if host in LOCAL_NAMES else pki.server_cert(f"proxy-{host}", (*LOCAL_NAMES, host))
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
                    f"accept = {host}:{port}",
                    f"connect = {LISTEN_HOST}:{backend_port}",
                    f"cert = {cert.combined_pem_path}",
                    "TIMEOUTclose = 0",
                    "",
                )
            )
        )
        return [program, str(config)]

    return launch_listening("stunnel", workdir, argv, (), host=host, port=fixed_port)


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
    _children: list[Child] = field(default_factory=list, repr=False, compare=False)

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

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
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
    listen_host: str = LISTEN_HOST,
    port: int | None = None,
) -> RunningProxy:
    """Start one proxy stand-in and return once its client port accepts TCP (RuntimeError otherwise).

    Clients dial ``listen_host:port`` (default: 127.0.0.1 and a free port); a program behind stunnel stays on
    127.0.0.1, reached by stunnel only."""
    kind = ProxyKind(kind)
    user = _check_credential("username", username if username is not None else f"shield-{secrets.token_hex(4)}")
    secret = _check_credential("password", password if password is not None else secrets.token_urlsafe(18))
    _check_egress_ip(egress_ip)
    workdir.mkdir(parents=True, exist_ok=True)

    children: list[Child] = []
    try:
        front_listen = (listen_host, port)
        if kind is ProxyKind.HTTPS:
            backend, backend_port = _start_tinyproxy(workdir, user, secret, egress_ip)
        elif kind is ProxyKind.SOCKS5:
            backend, backend_port = _start_microsocks(workdir, user, secret, egress_ip, front_listen)
        else:
            backend, backend_port = _start_microsocks(workdir, user, secret, egress_ip)
        children.append(backend)
        client_port = backend_port
        ca_path: Path | None = None
        if kind in (ProxyKind.SOCKS5_TLS, ProxyKind.HTTPS):
            front, client_port = _start_stunnel(workdir, pki, backend_port, front_listen)
            children.insert(0, front)
            ca_path = pki.ca_path
    except BaseException:
        for child in children:
            child.terminate()
        raise
    return RunningProxy(
        kind=kind,
        host=listen_host,
        port=client_port,
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

    def running(self, kind: ProxyKind) -> RunningProxy:
        """The proxy of this kind, started again if it is no longer running (a test stopped it, say)."""
        kind = ProxyKind(kind)
        proxy = self.proxies.get(kind)
        if proxy is None or not proxy.alive():
            if proxy is not None:
                proxy.stop()
            self.proxies[kind] = start_proxy(kind, self.workdir, self.pki, egress_ip=self.egress_ip)
        return self.proxies[kind]

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
