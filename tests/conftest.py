"""Shared fixtures: a throwaway CA, the three real proxy programs and moto, once per session; a simulator per test;
the local stack on the session's pieces."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings

from okxlocal.attached import STATE_DIR_VARIABLE
from okxlocal.moto_aws import MotoAws
from okxlocal.pki import LocalPKI, local_okx_hostname
from okxlocal.proxies import ProxyKind, ProxyStack, RunningProxy
from okxlocal.seeds import new_key, seed_with
from okxlocal.sim import OkxSimulator, SimKey, SimSeed
from okxlocal.stack import LocalStack, SharedPieces, start_simulator

EGRESS_IP = "127.0.0.2"


@pytest.fixture(scope="session", autouse=True)
def _own_state_folder(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A stack a developer keeps with `okx-shield up` is not the tests': the commands the tests run (in this
    process or as programs) look for one in a folder of the session's own, where none is up."""
    os.environ[STATE_DIR_VARIABLE] = str(tmp_path_factory.mktemp("okx-shield-state"))

# The tiers (docs/tests.md; make test-unit, test-integration, test-e2e) follow from what a test starts:
# - e2e: the product through its outer doors (the CLI as a program, the demo, sam build and the template's
#   checkers, the benchmarks, real OKX client libraries): modules and tests say so with the e2e marker, and
#   every `clients` test is e2e;
# - integration: a test that uses the local stack's simulator or proxies (sim, proxy, proxy_stack, local_stack,
#   or a module marked integration because it starts them itself);
# - unit: the rest, in this process with nothing listening (moto in memory included).
# A test marked with a tier keeps it; so does one of the Lambda-container tier (its own marker and budget).
TIERS = ("unit", "integration", "e2e")

# Hypothesis settings of the stateful tests (a RuleBasedStateMachine run with the `stateful_settings` fixture), by
# profile: `ci` (the default, what make test runs: tens of seconds) and `long` (a local search far larger, no
# time limit), chosen with OKX_SHIELD_STATEFUL=long, e.g.
#     OKX_SHIELD_STATEFUL=long .venv/bin/python -m pytest tests/rotation/test_rotation_stateful.py
# The ci profile is derandomized, so that make test runs the same examples every time, and does not shrink a
# failure (it is printed as found); the long one searches at random, shrinks what it finds and prints the blob
# that replays it (@reproduce_failure).
_STATEFUL_HEALTH = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
STATEFUL_PROFILES: dict[str, settings] = {
    "ci": settings(
        max_examples=8,
        stateful_step_count=25,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # a failure is printed as found: shrinking it could take minutes
        suppress_health_check=_STATEFUL_HEALTH,
    ),
    "long": settings(
        max_examples=100,
        stateful_step_count=40,
        deadline=None,
        print_blob=True,
        suppress_health_check=_STATEFUL_HEALTH,
    ),
}
STATEFUL_VARIABLE = "OKX_SHIELD_STATEFUL"


def stateful_profile() -> str:
    name = os.environ.get(STATEFUL_VARIABLE, "ci")
    if name not in STATEFUL_PROFILES:
        raise ValueError(f"{STATEFUL_VARIABLE}={name!r}: the profiles are {', '.join(STATEFUL_PROFILES)}")
    return name


@pytest.fixture
def stateful_settings() -> settings:
    """The settings of the profile OKX_SHIELD_STATEFUL names (default ci); an unknown name is an error."""
    return STATEFUL_PROFILES[stateful_profile()]


@pytest.fixture
def stateful_profile_name() -> str:
    """The profile's name, for a test that sizes its examples by profile (each step of a slow machine costs more)."""
    return stateful_profile()


STACK_FIXTURES = frozenset({"sim", "proxy", "proxy_stack", "local_stack", "stack_pieces"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    long_search = stateful_profile() != "ci"
    for item in items:
        if long_search and "stateful_settings" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.timeout(0))  # pytest-timeout's 120 s is for the ci profile
        if any(item.get_closest_marker(name) for name in (*TIERS, "containers")):
            continue
        if item.get_closest_marker("clients"):
            item.add_marker(pytest.mark.e2e)
        elif STACK_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)
        else:
            item.add_marker(pytest.mark.unit)


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


@pytest.fixture(scope="session")
def moto_aws() -> Iterator[MotoAws]:
    """moto, started once for the session (every start makes boto3 read its service models again); each test
    that uses it starts from empty backends and leaves them empty."""
    with MotoAws() as aws:
        yield aws


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, moto_aws: MotoAws) -> Iterator[None]:
    """moto for every AWS service, with dummy credentials so that no real account can be reached."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    moto_aws.reset()
    yield
    moto_aws.reset()


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    """Secrets are cached per name by Powertools and sessions per endpoint: no test sees another's."""
    from okxcore.transport import close_shared_sessions

    yield
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()
    close_shared_sessions()


@pytest.fixture(scope="session")
def stack_pieces(pki: LocalPKI, proxy_stack: ProxyStack, moto_aws: MotoAws) -> Iterator[SharedPieces]:
    """The session's simulator, proxies and moto, which every local_stack resets instead of starting its own."""
    with start_simulator(SimSeed(), pki) as simulator:
        yield SharedPieces(pki=pki, proxies=proxy_stack, sim=simulator, aws=moto_aws)


@pytest.fixture
def local_stack(tmp_path: Path, stack_pieces: SharedPieces) -> Iterator[Callable[..., LocalStack]]:
    """A factory: local_stack(seed, proxy_kind=..., **LocalStack options) -> a started LocalStack.

    Simulator (reset to the seed), real proxy, moto (Secrets Manager, SNS + SQS inbox, DynamoDB, S3, Step
    Functions) and the handler environment, on the session's shared pieces; moto is emptied and the
    environment restored when the test ends. One stack per test.
    """
    with ExitStack() as exits:

        def start(seed: SimSeed, proxy_kind: ProxyKind = ProxyKind.HTTPS, **options: Any) -> LocalStack:
            stack = LocalStack(
                seed=seed, workdir=tmp_path / "stack", proxy_kind=proxy_kind, shared=stack_pieces, **options
            )
            return stack.start(exits)

        yield start


@pytest.fixture
def lambda_context() -> Any:
    """The real LambdaContext class with its private fields set, as aws.md recommends."""
    from okxlocal.runner import lambda_context as make_context

    return make_context("test")


@pytest.fixture
def log_stream() -> Iterator[Any]:
    """The structured log: the Powertools logger writes to the stdout of its creation time, so read it here."""
    import io

    from handlers.observability import logger

    buffer = io.StringIO()
    stream_handler = logger.registered_handler
    previous = stream_handler.setStream(buffer)
    yield buffer
    stream_handler.setStream(previous)
