"""The container tier's pieces: the host (Docker, image, build), the served stack with start-lambda, cleanup."""

from __future__ import annotations

import json
import random
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from okxlocal.containers import sam
from okxlocal.containers.daemon import DockerDaemon, docker_cli
from okxlocal.demo_fleet import DEMO_MASTER_SECRET
from okxlocal.served import ServedPorts, ServedStack, served_stack, write_env_vars
from okxlocal.sim import SimSeed

ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = ROOT / ".aws-sam" / "build"  # docs/deploy.md's `sam build` leaves it here; `sam local` reads it from there
TIMINGS_FILE = ROOT / "bench" / "out" / "container_tier.json"


@dataclass
class Timings:
    seconds: dict[str, float] = field(default_factory=dict)
    invokes: list[dict[str, Any]] = field(default_factory=list)

    def write(self) -> None:
        TIMINGS_FILE.parent.mkdir(parents=True, exist_ok=True)
        TIMINGS_FILE.write_text(json.dumps({"seconds": self.seconds, "invokes": self.invokes}, indent=2) + "\n")


@dataclass
class LambdaHost:
    """Docker, the image, the `sam build` output and the bridge gateway, for the whole session."""

    daemon: DockerDaemon
    architecture: str
    gateway: str
    timings: Timings


# Below Linux's ephemeral range (32768-60999): the kernel never hands these to an outgoing connection, so a port
# found free here stays free until the served stack binds it (SAM's and Docker's many connections raced for ports
# taken from the ephemeral range: "Address already in use" when the simulator bound its port).
_FIXED_PORTS = range(20_000, 32_000)


def free_ports(host: str, count: int) -> list[int]:
    """`count` ports free on `host` now, outside the ephemeral range."""
    found: list[int] = []
    for port in random.sample(_FIXED_PORTS, len(_FIXED_PORTS)):
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
        found.append(port)
        if len(found) == count:
            return found
    raise OSError(f"no {count} free ports on {host} in {_FIXED_PORTS}")


@dataclass
class ContainerStack:
    """The served stack and `sam local start-lambda` with warm containers in front of it."""

    host: LambdaHost
    served: ServedStack
    functions: sam.StartedLambda
    env_vars: Path

    def invoke(self, function: str, event: Any) -> sam.Invocation:
        invocation = self.functions.invoke(function, event)
        self.host.timings.invokes.append(
            {"function": function, "via": "start-lambda", "seconds": round(invocation.seconds, 3)}
        )
        return invocation


def sam_process_environment(gateway: str, ports: ServedPorts) -> dict[str, str]:
    """SAM CLI's own process: fake credentials (passed into the containers), and its STS account lookup answered by
    the served moto (without a network it waits about 5 s per invoke for nothing)."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL_STS": f"http://{gateway}:{ports.moto}",
    }


@contextmanager
def container_stack(host: LambdaHost, seed: SimSeed, workdir: Path) -> Iterator[ContainerStack]:
    """A fresh served stack (the demo fleet's seed) on free ports, and start-lambda pointed at it; both stopped,
    and any container of theirs removed, on exit."""
    ports = ServedPorts(*free_ports(host.gateway, 3))
    env_vars = write_env_vars(workdir / "env.json", host.gateway, ports)
    mark = time.monotonic()
    with served_stack(
        seed,
        host.gateway,
        ports,
        workdir=workdir / "stack",
        build_dir=BUILD_DIR,
        master_key=("master", DEMO_MASTER_SECRET),
    ) as served:
        functions = sam.start_lambda(
            env_vars,
            host.architecture,
            free_ports("127.0.0.1", 1)[0],
            BUILD_DIR / "template.yaml",
            workdir / "start-lambda.log",
            sam_env=sam_process_environment(host.gateway, ports),
        )
        host.timings.seconds["start_lambda_ready"] = time.monotonic() - mark
        try:
            yield ContainerStack(host, served, functions, env_vars)
        finally:
            functions.stop()
            remove_containers_of(served.environment()["AWS_ENDPOINT_URL"])


def remove_containers_of(endpoint: str) -> list[str]:
    """Lambda containers SAM left behind for this stack (recognised by their AWS_ENDPOINT_URL): removed."""
    listed = subprocess.run(
        [docker_cli(), "ps", "-aq", "--filter", "label=sam.cli.container.type=lambda"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    removed = []
    for container in listed.stdout.split():
        env = subprocess.run(
            [docker_cli(), "inspect", "--format", "{{json .Config.Env}}", container],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if f"AWS_ENDPOINT_URL={endpoint}" in env.stdout:
            subprocess.run([docker_cli(), "rm", "-f", container], capture_output=True, timeout=60, check=False)
            removed.append(container)
    return removed
