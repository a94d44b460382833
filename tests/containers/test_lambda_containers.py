"""Every function in a Lambda container, with every file in events/, against the served local stack; what happened
is read from the stack (SNS reports, orders at the simulator, secrets' stages, who connected), not from SAM.

The same sequence of events runs first in-process on the embedded stack with the same fleet (what
`okx-shield invoke` runs), then in containers; both must publish the same reports. `okx-shield invoke` itself (the
CLI, on its own fresh stack) is compared with the first container run of each function, which also meets a fresh
stack. The fanned-out audit's state machine runs its three steps in AuditFanoutFunction's container.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from container_helpers import ROOT, ContainerStack, LambdaHost, container_stack
from container_reports import CONTRAST, Comparable, comparable, parse_cli_reports

from okxlocal.containers import sam
from okxlocal.demo_fleet import DEMO_MASTER_SECRET
from okxlocal.runner import invoke, load_event
from okxlocal.sim import SimSeed
from okxlocal.stack import EGRESS_IP, KEY_SECRET_PREFIX, LocalStack, running_stack

# The Lambda-container tier (tests/containers/conftest.py): its own marker, set before the tiers are assigned.
pytestmark = pytest.mark.containers

EVENTS = ROOT / "events"
FUNCTIONS = {"probe": "ProbeFunction", "audit": "AuditFunction", "trade": "TradeFunction", "rotate": "RotateFunction"}
# The first four meet a fresh stack in both runs (one per function): `okx-shield invoke` is compared with them.
SEQUENCE = (
    "probe.json",
    "audit.json",
    "trade-dca.json",
    "rotate-createSecret.json",
    "probe-keys.json",
    "probe-contrast.json",
    "probe-repair.json",
    "audit-master.json",
    "audit-tag-only.json",
    "audit-repair.json",
    "trade-dca-demo-dry-run.json",
    "trade-limit.json",
    "trade-limit-weekly.json",
    "trade-rebalance.json",
    "trade-sweep.json",
    "rotate-cleanup.json",
)
FIRST_OF_EACH = SEQUENCE[:4]


def function_of(event_file: str) -> str:
    return event_file.split("-")[0].split(".")[0]


@dataclass
class Outcome:
    reports: list[Comparable]
    error_type: str | None
    orders: list[tuple[str, str, str, str]]  # (instId, side, state, ordType) of the orders this event placed
    peers: set[str]  # who connected to the simulator during this event


def _orders(stack: LocalStack) -> list[tuple[str, str, str, str]]:
    return [(o["instId"], o["side"], o["state"], o["ordType"]) for o in stack.sim.orders()]


def run_sequence(stack: LocalStack, call: Callable[[str, dict[str, Any]], str | None]) -> dict[str, Outcome]:
    """Each event of SEQUENCE through ``call(function, event) -> error type``, with what it left on the stack."""
    outcomes = {}
    stack.reports()
    for name in SEQUENCE:
        before_orders, before_requests = len(_orders(stack)), len(stack.sim.stats.requests)
        # Scheduled runs are minutes apart: none starts inside the previous one's rate-limit window (which would
        # make the number of retried calls depend on each run's pace).
        stack.sim.reset_rate_limits()
        error_type = call(function_of(name), local_event(stack, name))
        outcomes[name] = Outcome(
            reports=[comparable(message) for message in stack.reports()],
            error_type=error_type,
            orders=_orders(stack)[before_orders:],
            peers={record.peer_ip for record in stack.sim.stats.requests[before_requests:]},
        )
    return outcomes


def local_event(stack: LocalStack, name: str) -> dict[str, Any]:
    """The event file with the current slot (as `okx-shield invoke` gives it); echo URLs it names are the local
    stack's (the simulator's echo endpoints), so that nothing leaves this machine."""
    event = load_event(EVENTS / name)
    if "echo_urls" in event:
        event["echo_urls"] = stack.env["ECHO_URLS"].split(",")
    return event


def _in_process(function: str, event: dict[str, Any]) -> str | None:
    try:
        invoke(function, event)
    except Exception as error:  # Lambda records the exception; so does the comparison
        return type(error).__name__
    return None


@pytest.fixture(scope="module")
def reference(fleet_seed: SimSeed) -> dict[str, Outcome]:
    """The sequence in-process on the embedded stack (okx-shield invoke's way), before any container runs."""
    with running_stack(fleet_seed, master_key=("master", DEMO_MASTER_SECRET)) as stack:
        return run_sequence(stack, _in_process)


@pytest.fixture(scope="module")
def containers(
    lambda_host: LambdaHost,
    fleet_seed: SimSeed,
    reference: dict[str, Outcome],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ContainerStack]:
    with container_stack(lambda_host, fleet_seed, tmp_path_factory.mktemp("served")) as stack:
        yield stack


@pytest.fixture(scope="module")
def in_containers(containers: ContainerStack) -> dict[str, Outcome]:
    def call(function: str, event: dict[str, Any]) -> str | None:
        return containers.invoke(FUNCTIONS[function], event).error_type

    return run_sequence(containers.served.stack, call)


def test_the_sequence_is_every_event_file():
    assert sorted(SEQUENCE) == sorted(path.name for path in EVENTS.glob("*.json"))
    assert {function_of(name) for name in SEQUENCE} == set(FUNCTIONS)


@pytest.mark.parametrize("event_file", SEQUENCE)
def test_event_in_a_container_publishes_what_it_publishes_in_process(
    event_file: str, in_containers: dict[str, Outcome], reference: dict[str, Outcome]
):
    got, expected = in_containers[event_file], reference[event_file]
    assert got.error_type == expected.error_type
    assert [r.attributes for r in got.reports] == [r.attributes for r in expected.reports]
    assert [r.subject for r in got.reports] == [r.subject for r in expected.reports]
    for container_report, process_report in zip(got.reports, expected.reports, strict=True):
        assert _without_contrast(container_report.lines) == _without_contrast(process_report.lines)
    assert got.orders == expected.orders
    # Fail closed: whatever the function sent to OKX came through the proxy (its egress is the Shield IP).
    assert got.peers <= {EGRESS_IP}
    if expected.peers:
        assert got.peers == {EGRESS_IP}


def _without_contrast(lines: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(line for line in lines if not CONTRAST.match(line))


def test_what_the_sequence_shows_beyond_equality(in_containers: dict[str, Outcome]):
    """The facts a user acts on, asserted directly (the equality above could hide a shared mistake)."""
    probe = in_containers["probe.json"].reports
    assert [r.severity for r in probe] == ["CRITICAL"]  # the demo fleet holds a deleted and an unbound key
    assert any("deleted-bot" in line and "50111" in line for line in probe[0].lines)
    assert any(line.startswith("Egress: 127.0.0.2, a Shield static IP") for line in probe[0].lines)
    assert in_containers["trade-dca.json"].orders == [("BTC-USDT", "buy", "filled", "market")]
    assert in_containers["trade-dca-demo-dry-run.json"].orders == []
    assert in_containers["trade-limit.json"].orders == [("ETH-USDT", "buy", "live", "post_only")]
    rotate = in_containers["rotate-createSecret.json"].reports
    assert [dict(r.attributes)["report"] for r in rotate] == ["rotation"]
    assert rotate[0].severity in {"HIGH", "CRITICAL"}  # a failed rotation step: the secret does not exist
    assert "does not exist (deleted)" in " ".join(" ".join(rotate[0].lines).split())  # the body wraps at 100 columns
    contrast = in_containers["probe-contrast.json"].reports[0].lines
    assert any(CONTRAST.match(line) for line in contrast)


@pytest.mark.parametrize("event_file", FIRST_OF_EACH)
def test_okx_shield_invoke_gives_the_same_reports(event_file: str, in_containers: dict[str, Outcome]):
    """`okx-shield invoke FUNCTION --event FILE --now` (its own fresh stack) and the container's run agree (both
    give the event a slot of now: okx-shield invoke keeps the file's time without --now)."""
    done = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "okx-shield"),
            "invoke",
            function_of(event_file),
            "--event",
            str(EVENTS / event_file),
            "--now",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=180,
        check=False,
    )
    cli = [comparable(message) for message in parse_cli_reports(done.stderr)]
    assert cli, done.stderr[-3000:]
    assert cli == in_containers[event_file].reports


def test_rotation_steps_in_a_container_move_the_secret_stages(containers: ContainerStack):
    """Secrets Manager's four steps, each invoked in RotateFunction's container, as Secrets Manager invokes them."""
    import boto3

    from okxlocal import rotation

    stack = containers.served.stack
    secret = KEY_SECRET_PREFIX + "expiring-bot"
    client = boto3.client("secretsmanager", region_name="us-east-1")
    old_version = _current_version(client, secret)
    old_key = json.loads(client.get_secret_value(SecretId=secret)["SecretString"])["api_key"]
    rotation.enable_rotation(secret)
    stack.reports()
    outcome = rotation.rotate(secret, lambda event: _raise_on_error(containers.invoke("RotateFunction", event)))
    assert outcome.succeeded, outcome.error
    stages = client.describe_secret(SecretId=secret)["VersionIdsToStages"]
    assert "AWSCURRENT" in stages[outcome.token]
    assert stages[old_version] == ["AWSPREVIOUS"]
    new_key = json.loads(client.get_secret_value(SecretId=secret)["SecretString"])["api_key"]
    assert new_key != old_key
    live = stack.sim.key(new_key)
    assert live is not None and not live.deleted
    assert set(live.ips) == {"127.0.0.2", "127.0.0.3"}
    reports = stack.reports()
    assert [r.attributes["report"] for r in reports] == ["rotation"]
    assert {record.peer_ip for record in stack.sim.stats.requests} <= {EGRESS_IP}


def _current_version(client: Any, secret: str) -> str:
    stages = client.describe_secret(SecretId=secret)["VersionIdsToStages"]
    return next(version for version, labels in stages.items() if "AWSCURRENT" in labels)


def _raise_on_error(invocation: sam.Invocation) -> Any:
    if invocation.error_type:
        raise RuntimeError(f"{invocation.error_type}: {invocation.payload}")
    return invocation.payload


def test_fanned_out_audit_runs_its_steps_in_containers(containers: ContainerStack):
    """The state machine (okxlocal.fanout) with each task invoked in AuditFanoutFunction's container: plan, shards,
    merge; the merged report covers the fleet and is published once."""
    from okxlocal.fanout import execution_input_for, run_fanout

    stack = containers.served.stack
    stack.reports()
    execution_input = execution_input_for(load_event(EVENTS / "audit.json"), shards=3)
    outcome = run_fanout(
        execution_input, invoke=lambda payload: _raise_on_error(containers.invoke("AuditFanoutFunction", payload))
    )
    assert outcome.map_run.items == 3
    assert outcome.map_run.failed == []
    published = stack.reports()
    assert [r.attributes["report"] for r in published] == ["audit"]
    assert re.search(r"\d+ key\(s\).* in 3 shard\(s\)", published[0].subject), published[0].subject
    assert {record.peer_ip for record in stack.sim.stats.requests} <= {EGRESS_IP}
