"""The local stack served to Lambda containers: what `sam local invoke` runs the functions against.

A function in a container (SAM CLI keeps it on Docker's default bridge and ignores --docker-network host) cannot
reach this machine's 127.0.0.1. It reaches the host at the bridge's gateway (usually 172.17.0.1), so the served
stack listens there:

- moto in server mode (Secrets Manager, SNS with the SQS inbox, DynamoDB, S3, Step Functions), the same in-process
  backends the embedded stack's tests read; the function finds it through ``AWS_ENDPOINT_URL``;
- a real proxy for the chosen Shield form, whose TLS certificate names the gateway; its outgoing connections leave
  from 127.0.0.2 as in the embedded stack;
- the OKX simulator stays on 127.0.0.1: only the proxy reaches it (``OKX_BASE_URL`` names ``localhost``, which the
  proxy resolves on this machine, as Shield resolves www.okx.com), so every request it sees came through the proxy.

Only /var/task is mounted into a Lambda container, so the throwaway CA that signed the proxy's and the simulator's
certificates is copied into each function's build folder (``CONTAINER_CA_FILE``), which `sam local invoke` mounts
as /var/task. The function's environment is ``container_environment()``; local/sam-local-env.json is that
environment for the default ports and the usual gateway, the file docs/deploy.md's commands use.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from okxlocal.proxies import ProxyKind
from okxlocal.sim import SimSeed
from okxlocal.stack import (
    AWS_REGION,
    KEY_SECRET_PREFIX,
    RUN_BUCKET,
    SHIELD_SECRET_NAME,
    TABLE_NAME,
    TOPIC_NAME,
    LocalStack,
    running_stack,
)

ROOT = Path(__file__).resolve().parents[2]
ENV_VARS_FILE = ROOT / "local" / "sam-local-env.json"
MOTO_ACCOUNT = "123456789012"  # moto's default account: the ARNs below are the served stack's
CONTAINER_CA_FILE = "okx-shield-local-ca.pem"
USUAL_GATEWAY = "172.17.0.1"
SIM_HOSTNAME = "localhost"  # resolved by the proxy on this machine (the function never resolves it)
MASTER_KEY_SECRET = "okx-shield/master"


@dataclass(frozen=True)
class ServedPorts:
    """Where the served stack listens. The documented env-vars file is for DEFAULT_PORTS; the tests take free ports."""

    moto: int
    okx: int
    shield: int


DEFAULT_PORTS = ServedPorts(moto=18900, okx=18901, shield=18902)


def container_environment(gateway: str, ports: ServedPorts) -> dict[str, str]:
    """The variables a function in a container needs to run against the served stack (all declared in
    template.yaml, which `--env-vars` requires)."""
    okx = f"https://{SIM_HOSTNAME}:{ports.okx}"
    ca = f"/var/task/{CONTAINER_CA_FILE}"
    return {
        "ENVIRONMENT": "local",
        "SHIELD_SECRET_NAME": SHIELD_SECRET_NAME,
        "REPORT_TOPIC_ARN": f"arn:aws:sns:{AWS_REGION}:{MOTO_ACCOUNT}:{TOPIC_NAME}",
        "STATE_TABLE_NAME": TABLE_NAME,
        "KEY_SECRET_PREFIX": KEY_SECRET_PREFIX,
        # The embedded stack (okx-shield invoke) selects key secrets by prefix alone; so does the served one, so that
        # both runs of an event report the same selection (the template's default adds the tag).
        "KEY_SECRET_TAG": "",
        "MASTER_KEY_SECRET_NAME": MASTER_KEY_SECRET,
        "AUDIT_RUN_BUCKET": RUN_BUCKET,
        "AUDIT_STATE_MACHINE_ARN": f"arn:aws:states:{AWS_REGION}:{MOTO_ACCOUNT}:stateMachine:okx-shield-audit-fanout",
        "OKX_SHIELD_LOCAL": "true",
        "OKX_BASE_URL": okx,
        "OKX_CA_BUNDLE": ca,
        "SHIELD_CA_BUNDLE": ca,
        "ECHO_URLS": ",".join(
            f"{okx}/echo/{name}" for name in ("quotaguard?format=json", "ipify?format=json", "checkip")
        ),
        "AWS_ENDPOINT_URL": f"http://{gateway}:{ports.moto}",
    }


def env_vars_document(gateway: str, ports: ServedPorts) -> dict[str, Any]:
    """The `sam local invoke --env-vars` file: "Parameters" applies to every function."""
    return {"Parameters": container_environment(gateway, ports)}


def write_env_vars(path: Path, gateway: str, ports: ServedPorts) -> Path:
    path.write_text(json.dumps(env_vars_document(gateway, ports), indent=2) + "\n")
    return path


def place_ca(ca_path: Path, build_dir: Path) -> list[Path]:
    """Copy the stack's CA into every function folder of a `sam build` output (mounted as /var/task)."""
    placed = []
    for function in sorted(p for p in build_dir.iterdir() if (p / "handlers").is_dir()):
        target = function / CONTAINER_CA_FILE
        shutil.copyfile(ca_path, target)
        placed.append(target)
    if not placed:
        raise RuntimeError(f"{build_dir} holds no built function: run `sam build` first")
    return placed


@dataclass
class ServedStack:
    stack: LocalStack
    gateway: str
    ports: ServedPorts

    def environment(self) -> dict[str, str]:
        return container_environment(self.gateway, self.ports)


@contextmanager
def served_stack(
    seed: SimSeed,
    gateway: str,
    ports: ServedPorts,
    *,
    proxy_kind: ProxyKind = ProxyKind.HTTPS,
    proxy_credentials: tuple[str, str] | None = None,
    workdir: Path | None = None,
    build_dir: Path | None = None,
    **options: Any,
) -> Iterator[ServedStack]:
    """The embedded stack (moto's backends in this process, the simulator, the proxy) served at ``gateway``.
    With ``build_dir`` (a `sam build` output), its CA is placed where the functions' containers read it."""
    from moto.server import ThreadedMotoServer

    with ExitStack() as exits:
        stack = exits.enter_context(
            running_stack(
                seed,
                workdir=workdir,
                proxy_kind=proxy_kind,
                listen_host=gateway,
                proxy_port=ports.shield,
                proxy_credentials=proxy_credentials,
                sim_port=ports.okx,
                **options,
            )
        )
        moto = ThreadedMotoServer(ip_address=gateway, port=ports.moto, verbose=False)
        moto.start()
        exits.callback(moto.stop)
        if build_dir is not None:
            place_ca(stack.pki.ca_path, build_dir)
        yield ServedStack(stack=stack, gateway=gateway, ports=ports)
