"""SAM CLI (from .venv-tools) as docs/deploy.md, the container tier and bench/ run it: `sam build` for an architecture,
`sam local invoke` of one function, and reading what happened from its output (not from its exit code, which is 0
even when the handler raised)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
TOOLS = ROOT / ".venv-tools"
TEMPLATE = ROOT / "template.yaml"
REGION = "us-east-1"
_REPORT = re.compile(r"REPORT RequestId: \S+\s+(?P<fields>.*)")
_FIELD = re.compile(r"(?P<name>[A-Za-z ]+): (?P<value>[0-9.]+) (?P<unit>ms|MB)")


def sam_executable() -> Path:
    path = TOOLS / "bin" / "sam"
    if not path.exists():
        raise RuntimeError(f"SAM CLI is not installed in {TOOLS}: run `make setup`")
    return path


def sam_package_dir() -> Path:
    found = sorted(TOOLS.glob("lib/python3*/site-packages/samcli"))
    if not found:
        raise RuntimeError(f"SAM CLI is not installed in {TOOLS}: run `make setup`")
    return found[-1]


def sam_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The SAM process's own environment: no telemetry, and (with ``sts_endpoint``) its AWS account lookup answered
    at once by a local moto instead of timing out for about 5 s per invoke without a network."""
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "SAM_CLI_CONTAINER_CONNECTION_TIMEOUT": "60"}
    env.update(extra or {})
    return env


def build_argv(architecture: str, build_dir: Path | None = None, cache_dir: Path | None = None) -> list[str]:
    argv = [
        str(sam_executable()),
        "build",
        "-t",
        str(TEMPLATE),
        "--parameter-overrides",
        f"Architecture={architecture}",
    ]
    if build_dir is not None:
        argv += ["--build-dir", str(build_dir)]
    if cache_dir is not None:
        argv += ["--cache-dir", str(cache_dir), "--cached"]
    return argv


def sam_build(architecture: str, build_dir: Path, cache_dir: Path | None = None, timeout: float = 900) -> float:
    """`LAMBDA_ARCHITECTURE=<arch> sam build --parameter-overrides Architecture=<arch>`; returns seconds taken."""
    started = time.monotonic()
    done = subprocess.run(
        build_argv(architecture, build_dir, cache_dir),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=sam_environment({"LAMBDA_ARCHITECTURE": architecture}),
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"sam build failed ({done.returncode}):\n{(done.stdout + done.stderr)[-4000:]}")
    return time.monotonic() - started


def invoke_argv(
    function: str, event: Path, env_vars: Path, architecture: str, *, template: Path | None = None
) -> list[str]:
    """docs/deploy.md's command: `sam local invoke FUNCTION -e EVENT --env-vars FILE --parameter-overrides
    Architecture=ARCH --skip-pull-image --region us-east-1` (the built template, as `sam build` leaves it)."""
    argv = [str(sam_executable()), "local", "invoke", function, "-e", str(event), "--env-vars", str(env_vars)]
    argv += ["--parameter-overrides", f"Architecture={architecture}", "--skip-pull-image", "--region", REGION]
    if template is not None:
        argv += ["-t", str(template)]
    return argv


@dataclass(frozen=True)
class Invocation:
    """What one `sam local invoke` showed: the function's answer, its logs and the emulator's REPORT line."""

    payload: Any
    logs: str
    seconds: float
    report: dict[str, float]  # "Init Duration", "Duration", "Max Memory Used"... (ms or MB)

    @property
    def error_type(self) -> str | None:
        """The handler's exception class when it raised (Lambda's error payload), else None."""
        if isinstance(self.payload, dict) and "errorType" in self.payload:
            return str(self.payload["errorType"])
        return None

    @property
    def init_ms(self) -> float | None:
        return self.report.get("Init Duration")


def parse_report(text: str) -> dict[str, float]:
    reports = list(_REPORT.finditer(text))
    if not reports:
        return {}
    return {m["name"].strip(): float(m["value"]) for m in _FIELD.finditer(reports[-1]["fields"])}


def parse_payload(stdout: str) -> Any:
    """The function's answer: SAM prints it as the last line of its standard output."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        return None
    try:
        return json.loads(lines[-1])
    except ValueError:
        return lines[-1]


def sam_local_invoke(
    function: str,
    event: Path,
    env_vars: Path,
    architecture: str,
    *,
    template: Path | None = None,
    sam_env: dict[str, str] | None = None,
    timeout: float = 300,
) -> Invocation:
    started = time.monotonic()
    done = subprocess.run(
        invoke_argv(function, event, env_vars, architecture, template=template),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=sam_environment(sam_env),
        timeout=timeout,
        check=False,
    )
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"sam local invoke {function} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return Invocation(parse_payload(done.stdout), done.stderr, seconds, parse_report(done.stderr + done.stdout))


def start_lambda_argv(env_vars: Path, architecture: str, port: int, template: Path, warm: str = "LAZY") -> list[str]:
    return [
        str(sam_executable()),
        "local",
        "start-lambda",
        "-t",
        str(template),
        "--env-vars",
        str(env_vars),
        "--parameter-overrides",
        f"Architecture={architecture}",
        "--skip-pull-image",
        "--warm-containers",
        warm,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--region",
        REGION,
    ]


@dataclass
class StartedLambda:
    """`sam local start-lambda --warm-containers`: each function's container starts once, then stays warm."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    def invoke(self, function: str, event: Any, timeout: float = 300) -> Invocation:
        import boto3
        from botocore.config import Config

        client = boto3.client(
            "lambda",
            endpoint_url=f"http://127.0.0.1:{self.port}",
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - SAM's local endpoint checks nothing
            config=Config(read_timeout=timeout, connect_timeout=10, retries={"max_attempts": 0}),
        )
        before = self.log_path.stat().st_size
        started = time.monotonic()
        answer = client.invoke(FunctionName=function, Payload=json.dumps(event).encode())
        seconds = time.monotonic() - started
        payload = json.loads(answer["Payload"].read() or b"null")
        logs = _read_from(self.log_path, before)
        return Invocation(payload, logs, seconds, parse_report(logs))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)


def _read_from(path: Path, offset: int) -> str:
    deadline = time.monotonic() + 2.0
    while True:  # the emulator's REPORT line may reach the log just after the answer
        with path.open("rb") as handle:
            handle.seek(offset)
            text = handle.read().decode("utf-8", errors="replace")
        if "REPORT RequestId" in text or time.monotonic() > deadline:
            return text
        time.sleep(0.05)


def start_lambda(
    env_vars: Path,
    architecture: str,
    port: int,
    template: Path,
    log_path: Path,
    *,
    sam_env: dict[str, str] | None = None,
    warm: str = "LAZY",
    timeout: float = 120,
) -> StartedLambda:
    import socket

    with log_path.open("ab") as log:
        process = subprocess.Popen(
            start_lambda_argv(env_vars, architecture, port, template, warm),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=sam_environment(sam_env),
        )
    started = StartedLambda(process, port, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sam local start-lambda exited ({process.returncode}):\n{log_path.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return started
        except OSError:
            time.sleep(0.2)
    started.stop()
    raise RuntimeError(f"sam local start-lambda did not listen within {timeout:.0f} s:\n{log_path.read_text()[-3000:]}")
