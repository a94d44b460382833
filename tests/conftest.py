"""Shared fixtures: a throwaway CA, the three real proxy programs, and a simulator per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from okxlocal.pki import LocalPKI, local_okx_hostname
from okxlocal.proxies import ProxyKind, ProxyStack, RunningProxy
from okxlocal.seeds import new_key, seed_with
from okxlocal.sim import OkxSimulator, SimKey, SimSeed

EGRESS_IP = "127.0.0.2"


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> LocalPKI:
    return LocalPKI(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def proxy_stack(tmp_path_factory: pytest.TempPathFactory, pki: LocalPKI) -> Iterator[ProxyStack]:
    with ProxyStack(tmp_path_factory.mktemp("proxies"), pki) as stack:
        yield stack


@pytest.fixture(params=list(ProxyKind), ids=[kind.value for kind in ProxyKind])
def proxy(request: pytest.FixtureRequest, proxy_stack: ProxyStack) -> RunningProxy:
    """Each test using this runs once per Shield transport."""
    return proxy_stack.get(request.param)


@pytest.fixture
def trade_key() -> SimKey:
    return new_key("1001", "bot-main", ips=[EGRESS_IP])


@pytest.fixture
def seed(trade_key: SimKey) -> SimSeed:
    return seed_with([trade_key])


@pytest.fixture
def sim(seed: SimSeed, pki: LocalPKI) -> Iterator[OkxSimulator]:
    cert = pki.server_cert("okx-sim")
    with OkxSimulator(
        seed, certfile=cert.cert_chain_path, keyfile=cert.key_path, hostname=local_okx_hostname()
    ) as simulator:
        yield simulator


@pytest.fixture
def ca_path(pki: LocalPKI) -> Path:
    return pki.ca_path
