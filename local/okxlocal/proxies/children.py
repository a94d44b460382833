"""The stand-ins' child processes: spawned in their own process group, logging into the work folder,
started on a free port (retried on a bind race), killed at stop and, as a last resort, at interpreter exit."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

LISTEN_HOST = "127.0.0.1"

START_TIMEOUT_S = 5.0
STOP_GRACE_S = 1.5
_PORT_ATTEMPTS = 4
LOG_TAIL_LINES = 30
_PORT_CONFLICT_MARKERS = (
    "address already in use",  # microsocks, stunnel
    "could not create listening sockets",  # tinyproxy
)


@dataclass
class Child:
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

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
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
        with REGISTRY_LOCK:
            LIVE_CHILDREN.pop(id(self), None)
        with contextlib.suppress(OSError):
            self.log_file.close()


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


LIVE_CHILDREN: dict[int, Child] = {}
REGISTRY_LOCK = threading.Lock()


@atexit.register
def _kill_leftovers() -> None:
    with REGISTRY_LOCK:
        children = list(LIVE_CHILDREN.values())
    for child in children:
        with contextlib.suppress(Exception):
            child.terminate()


def require_program(program: str, package: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise RuntimeError(f"{program!r} not found on PATH; install the Debian package {package!r}")
    return path


def spawn(name: str, argv: list[str], workdir: Path, secrets_to_hide: tuple[str, ...]) -> Child:
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
    child = Child(name, argv, process, log_path, log_file, secrets_to_hide)
    with REGISTRY_LOCK:
        LIVE_CHILDREN[id(child)] = child
    return child


def free_port(host: str = LISTEN_HOST) -> int:
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


def _wait_listening(child: Child, host: str, port: int, timeout: float) -> str | None:
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


def launch_listening(
    name: str,
    workdir: Path,
    build_argv: Callable[[int], list[str]],
    secrets_to_hide: tuple[str, ...],
    host: str = LISTEN_HOST,
    port: int | None = None,
) -> tuple[Child, int]:
    """Start a program on ``port``, or on a free port (retrying with a new port on a bind race); return it and the
    port."""
    problems: list[str] = []
    for _attempt in range(1 if port is not None else _PORT_ATTEMPTS):
        chosen = port if port is not None else free_port(host)
        argv = build_argv(chosen)
        child = spawn(f"{name}-{chosen}", argv, workdir, secrets_to_hide)
        reason = _wait_listening(child, host, chosen, START_TIMEOUT_S)
        if reason is None:
            return child, chosen
        tail = child.log_tail()
        child.terminate()
        problems.append(
            f"{name} ({child.command_line()}) on {host}:{chosen}: {reason}\n--- {child.log_path} (tail) ---\n{tail}"
        )
        port_race = reason == "port taken by another process" or any(
            marker in tail.lower() for marker in _PORT_CONFLICT_MARKERS
        )
        if not port_race:
            break
    raise RuntimeError(f"{name} did not start:\n" + "\n\n".join(problems))
