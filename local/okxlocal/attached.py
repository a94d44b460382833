"""A local stack that remembers: the stack `okx-shield up` keeps running, as other processes find and use it.

`okx-shield up` serves the local stack (the simulator, the proxy for one Shield form, moto in server mode) from
one process and describes it in one folder (its state folder, `stack.json` in it). Every other command finds it
there and runs against it from its own process: the handlers' environment of the stack, with AWS calls sent to
moto's server (`AWS_ENDPOINT_URL`), so what one command does (an order, a report, a schedule) the next one sees.

What is in the state folder (docs/local.md, "The local stack that remembers"):
- `stack.json`: this record: the process, the addresses, the environment a handler needs, the seeded keys;
- `shield.json` and `keys/<label>.json`: the Shield secret and each seeded key in the secrets' own format, for
  `okx-shield call --shield-file/--key-file` and for any other client;
- `pki/`: the throwaway CA (`pki/ca.pem`) that signed the simulator's and the proxy's certificates;
- `up.log`: what a background `up` printed, every report included.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import boto3
from pydantic import BaseModel, ConfigDict

from okxlocal.stack import (
    AWS_REGION,
    ReportMessage,
    fake_aws_environ,
    forget_cached_secrets_and_sessions,
    patched_environ,
    read_reports,
)
from okxlocal.template import ROOT

STATE_DIR_VARIABLE = "OKX_SHIELD_STATE_DIR"
DEFAULT_STATE_DIR = ROOT / ".okx-shield" / "local"  # git-ignored: one stack per checkout
RECORD = "stack.json"
INBOX = "okx-shield-reports-inbox"  # what commands read; `up` itself reads a queue of its own


class SeededKey(BaseModel):
    model_config = ConfigDict(frozen=True)

    secret: str
    file: str
    label: str
    uid: str
    demo: bool
    perm: list[str]
    ips: list[str]
    deleted: bool


class StackRecord(BaseModel):
    """stack.json: what `okx-shield up` serves and how a command in another process uses it."""

    model_config = ConfigDict(frozen=True)

    pid: int
    started_at: str
    proxy: str  # the Shield form (okxlocal.proxies.ProxyKind's value)
    moto_url: str
    okx_url: str
    shield_url: str
    ca_path: str
    shield_file: str
    environment: dict[str, str]  # the handlers' environment (LocalStack.env), AWS_ENDPOINT_URL included
    keys: list[SeededKey]


def state_dir(named: Path | None = None) -> Path:
    """--state-dir, else OKX_SHIELD_STATE_DIR, else .okx-shield/local in the checkout (git-ignored)."""
    if named is not None:
        return named
    from_environment = os.environ.get(STATE_DIR_VARIABLE)
    return Path(from_environment) if from_environment else DEFAULT_STATE_DIR


def write_record(folder: Path, record: StackRecord) -> None:
    """Written whole, then renamed: a reader sees no record or a complete one."""
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / (RECORD + ".partial")
    partial.write_text(record.model_dump_json(indent=2) + "\n")
    partial.chmod(0o600)  # it names the local proxy's (throwaway) password
    partial.replace(folder / RECORD)


def remove_record(folder: Path, pid: int) -> None:
    """The record goes with the process that wrote it (not a newer stack's record)."""
    with contextlib.suppress(OSError, ValueError):
        if StackRecord.model_validate_json((folder / RECORD).read_text()).pid == pid:
            (folder / RECORD).unlink()


def read_record(folder: Path) -> StackRecord | None:
    """The record of a stack that is up, or None: no record, or its process is gone (a stale record is removed)."""
    path = folder / RECORD
    try:
        record = StackRecord.model_validate_json(path.read_text())
    except (OSError, ValueError):
        return None
    if not process_alive(record.pid):
        with contextlib.suppress(OSError):
            path.unlink()
        return None
    return record


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def answers(url: str, timeout_s: float = 1.0) -> bool:
    """Something accepts connections at the URL's host and port."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=timeout_s):
            return True
    except OSError:
        return False


@dataclass
class AttachedStack:
    """A running stack, used from this process: its record, and the reports its topic delivered since last read."""

    record: StackRecord
    folder: Path

    def reports(self) -> list[ReportMessage]:
        queue_url = boto3.client("sqs", region_name=AWS_REGION).get_queue_url(QueueName=INBOX)["QueueUrl"]
        return read_reports(queue_url)


@contextlib.contextmanager
def attached(record: StackRecord, folder: Path) -> Iterator[AttachedStack]:
    """This process runs against the stack: its handlers' environment, AWS through moto's server, no cached
    secret or session of anything else."""
    forget_cached_secrets_and_sessions()
    try:
        with patched_environ({**fake_aws_environ(), **record.environment}):
            yield AttachedStack(record, folder)
    finally:
        forget_cached_secrets_and_sessions()


def seeded_key_line(key: SeededKey) -> str:
    kind = "deleted at OKX" if key.deleted else ("demo" if key.demo else "live")
    bound = ", ".join(key.ips) if key.ips else "no IP"
    return f"{key.secret:<34} {key.file:<26} uid {key.uid:<5} {kind:<5} {','.join(key.perm):<24} bound to {bound}"


def record_json(record: StackRecord) -> str:
    return json.dumps(record.model_dump(), indent=2)
