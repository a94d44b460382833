"""The container tier: every function in a Lambda container (`sam local start-lambda` / `sam local invoke`) against
the served local stack. Needs root and Docker's Debian packages (scripts/bootstrap.sh --containers); starts dockerd
when none answers and stops it again, builds the stand-in Lambda image when it is not cached, runs `sam build`.

`OKX_SHIELD_SKIP_CONTAINERS=1` skips the tier (a machine without root or Docker; docs/tests.md)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from container_helpers import BUILD_DIR, LambdaHost, Timings

from okxlocal.containers import sam
from okxlocal.containers.daemon import bridge_gateway, ensure_daemon
from okxlocal.containers.image import ensure_base_image, host_architecture
from okxlocal.demo_fleet import demo_seed
from okxlocal.sim import SimSeed

SKIP_VARIABLE = "OKX_SHIELD_SKIP_CONTAINERS"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.containers)
            if os.environ.get(SKIP_VARIABLE) == "1":
                item.add_marker(pytest.mark.skip(reason=f"{SKIP_VARIABLE}=1: the container tier is skipped"))


@pytest.fixture(scope="session")
def lambda_host() -> Iterator[LambdaHost]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request otherwise
    timings = Timings()
    started = time.monotonic()
    daemon = ensure_daemon()
    timings.seconds["docker_daemon"] = time.monotonic() - started
    try:
        architecture = host_architecture()
        mark = time.monotonic()
        ensure_base_image(architecture)
        timings.seconds["lambda_image"] = time.monotonic() - mark
        timings.seconds["sam_build"] = sam.sam_build(architecture, BUILD_DIR)
        yield LambdaHost(daemon, architecture, bridge_gateway(), timings)
    finally:
        timings.seconds["tier_total"] = time.monotonic() - started
        timings.write()
        daemon.stop()


@pytest.fixture(scope="session")
def fleet_seed() -> SimSeed:
    """The demo fleet (the names events/ uses), generated once: the reference run and the containers share it."""
    return demo_seed()
