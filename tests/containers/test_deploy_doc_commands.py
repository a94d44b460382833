"""docs/deploy.md's container commands, as written: the `sam local invoke` line runs against `okx-shield serve`'s
stack on the ports local/sam-local-env.json names; and start-lambda's warm containers go when it stops. Apart from
test_lambda_containers.py: one local stack at a time lives in a process (moto's backends are the process's)."""

from __future__ import annotations

import contextlib
import fcntl
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from container_helpers import BUILD_DIR, ROOT, LambdaHost, container_stack, remove_containers_of

from okxlocal.containers import sam
from okxlocal.demo_fleet import DEMO_MASTER_SECRET
from okxlocal.runner import load_event
from okxlocal.served import DEFAULT_PORTS, served_stack
from okxlocal.sim import SimSeed
from okxlocal.stack import EGRESS_IP

# The Lambda-container tier (tests/containers/conftest.py): its own marker, set before the tiers are assigned.
pytestmark = pytest.mark.containers

DEPLOY_DOC = ROOT / "docs" / "deploy.md"
PORTS_LOCK = Path("/tmp/okx-shield-served-default-ports.lock")


def doc_lines(prefix: str) -> list[str]:
    return [line.strip() for line in DEPLOY_DOC.read_text().splitlines() if line.strip().startswith(prefix)]


def test_doc_builds_and_invokes_as_the_tier_does(lambda_host: LambdaHost):
    builds = doc_lines("LAMBDA_ARCHITECTURE=x86_64 .venv-tools/bin/sam build")
    assert builds == ["LAMBDA_ARCHITECTURE=x86_64 .venv-tools/bin/sam build --parameter-overrides Architecture=x86_64"]
    relative = [part.replace(str(ROOT) + "/", "") for part in sam.build_argv("x86_64")]
    assert relative == [".venv-tools/bin/sam", "build", "-t", "template.yaml", *shlex.split(builds[0])[3:]]
    invokes = doc_lines(".venv-tools/bin/sam local invoke")
    assert invokes, "docs/deploy.md shows no `sam local invoke` command"
    argv = shlex.split(invokes[0])
    expected = sam.invoke_argv("ProbeFunction", Path("events/probe.json"), Path("local/sam-local-env.json"), "x86_64")
    assert argv[1:] == expected[1:]


@contextlib.contextmanager
def default_ports() -> Iterator[None]:
    """The documented ports are fixed: one user of them at a time on this machine."""
    with PORTS_LOCK.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def test_doc_sam_local_invoke_runs_as_written(lambda_host: LambdaHost, fleet_seed: SimSeed, tmp_path: Path):
    """docs/deploy.md's command word for word (the built template in .aws-sam/build, the shipped env file), against the
    served stack where that file says it is."""
    argv = shlex.split(doc_lines(".venv-tools/bin/sam local invoke")[0])
    with (
        default_ports(),
        served_stack(
            fleet_seed,
            lambda_host.gateway,
            DEFAULT_PORTS,
            workdir=tmp_path,
            build_dir=BUILD_DIR,
            master_key=("master", DEMO_MASTER_SECRET),
        ) as served,
    ):
        done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=sam.sam_environment(), timeout=300)
        reports = served.stack.reports()
        peers = {record.peer_ip for record in served.stack.sim.stats.requests}
    lambda_host.timings.invokes.append({"function": argv[3], "via": "docs/deploy.md's sam local invoke"})
    assert done.returncode == 0, done.stderr[-3000:]
    payload = sam.parse_payload(done.stdout)
    assert isinstance(payload, dict), done.stdout[-2000:]
    assert "errorType" not in payload, payload
    assert payload.get("report_type") == "probe"
    assert [r.attributes["report"] for r in reports] == ["probe"]
    assert peers == {EGRESS_IP}
    # Our code's tracebacks and bytecode paths are Lambda's: nothing of this machine's paths in what ran.
    assert str(ROOT) not in done.stdout


def test_no_lambda_container_outlives_start_lambda(lambda_host: LambdaHost, fleet_seed: SimSeed, tmp_path: Path):
    with container_stack(lambda_host, fleet_seed, tmp_path) as stack:
        invocation = stack.invoke("ProbeFunction", load_event(ROOT / "events" / "probe.json"))
        endpoint = stack.served.environment()["AWS_ENDPOINT_URL"]
        assert invocation.error_type is None
    assert remove_containers_of(endpoint) == []
