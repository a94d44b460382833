"""The Docker daemon the container tier needs: reuse one that answers, or start Debian's dockerd ourselves.

These machines have no systemd: dockerd is started in the background with a pid file and a log file, and
stopped (by that pid) only by whoever started it. On a machine where a daemon already runs (a developer's,
started once by hand or by an earlier session), nothing is started and nothing is stopped.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

PID_FILE = Path("/run/okx-shield-dockerd.pid")
LOG_FILE = Path("/var/log/okx-shield-dockerd.log")
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


def docker_cli() -> str:
    found = shutil.which("docker")
    if found is None:
        raise RuntimeError(
            "the docker command is not installed: apt-get install docker.io (scripts/bootstrap.sh --containers)"
        )
    return found


def daemon_answers() -> bool:
    try:
        done = subprocess.run([docker_cli(), "info"], capture_output=True, timeout=20, check=False)
    except (subprocess.TimeoutExpired, RuntimeError):
        return False
    return done.returncode == 0


def why_no_daemon() -> str | None:
    """Why this machine cannot start dockerd (None: it can)."""
    if shutil.which("docker") is None or shutil.which("dockerd") is None:
        return "docker.io is not installed (scripts/bootstrap.sh --containers installs it, as root)"
    if os.geteuid() != 0:
        return "starting dockerd needs root"
    return None


@dataclass
class DockerDaemon:
    """A daemon that answers; ``pid`` is set only when this process started it (and so must stop it)."""

    pid: int | None = None

    @property
    def started_here(self) -> bool:
        return self.pid is not None

    def stop(self) -> None:
        """Stop dockerd if we started it: SIGTERM, wait, SIGKILL after STOP_TIMEOUT_S. Idempotent."""
        pid, self.pid = self.pid, None
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT_S
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.2)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(FileNotFoundError):
            PID_FILE.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of ours: reap it
        waited, _status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return waited == 0


def ensure_daemon() -> DockerDaemon:
    """A Docker daemon that answers `docker info`: the running one, or dockerd started here (root only)."""
    if daemon_answers():
        return DockerDaemon()
    problem = why_no_daemon()
    if problem is not None:
        raise RuntimeError(f"no Docker daemon answers and none can be started: {problem}")
    LOG_FILE.parent.mkdir(parents=True, exist_ok=True)
    with LOG_FILE.open("ab") as log:
        process = subprocess.Popen(
            ["dockerd", "--pidfile", str(PID_FILE)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # not in our process group: a Ctrl-C of the tests does not kill it mid-way
        )
    daemon = DockerDaemon(pid=process.pid)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dockerd exited ({process.returncode}); its log: {LOG_FILE}\n{_tail(LOG_FILE)}")
        if daemon_answers():
            return daemon
        time.sleep(0.5)
    daemon.stop()
    raise RuntimeError(f"dockerd did not answer within {READY_TIMEOUT_S:.0f} s; its log: {LOG_FILE}\n{_tail(LOG_FILE)}")


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def bridge_gateway() -> str:
    """The default bridge's gateway: the host's address as a container on that bridge sees it (SAM CLI keeps its
    containers there; --docker-network host is ignored). Docker 20.10 does not always record it in the network's
    IPAM configuration; the bridge interface's own address is the same thing."""
    done = subprocess.run(
        [docker_cli(), "network", "inspect", "bridge", "--format", "{{json .}}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"cannot inspect Docker's default bridge: {done.stderr.strip()}")
    network = json.loads(done.stdout)
    for config in (network.get("IPAM") or {}).get("Config") or []:
        if config.get("Gateway"):
            return str(config["Gateway"])
    interface = (network.get("Options") or {}).get("com.docker.network.bridge.name", "docker0")
    return interface_address(interface)


def interface_address(interface: str) -> str:
    """The IPv4 address of a network interface of this machine (SIOCGIFADDR)."""
    import fcntl
    import socket
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            packed = fcntl.ioctl(probe.fileno(), 0x8915, struct.pack("256s", interface.encode()[:15]))
        except OSError as exc:
            raise RuntimeError(f"the Docker bridge {interface} has no IPv4 address: {exc}") from None
    return socket.inet_ntoa(packed[20:24])
