"""`okx-shield up` and `okx-shield down`: a local stack that remembers, and the other commands run on it.

okx-shield up [--proxy https|socks5h|socks5h+tls] [--background] [--state-dir DIR]
    Serves the local stack with the demo fleet: the OKX simulator, a real proxy program for the chosen Shield form
    and moto in server mode, until Ctrl-C (or, with --background, until `okx-shield down`). Writes its state
    folder (okxlocal.attached): the record other commands find it by, the Shield secret and each seeded key as
    ready-to-use files, the CA. Prints each report its topic delivers. While it is up, invoke, orders, call,
    keys, plans and sim run on it, so one command sees what another did.
okx-shield down [--state-dir DIR]
    Stops the stack `up` keeps (exit 0 also when none was up).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import boto3

from okxcli.reports import print_reports
from okxcore.errors import InvalidInputError, OkxShieldError
from okxlocal.attached import (
    INBOX,
    RECORD,
    SeededKey,
    StackRecord,
    answers,
    process_alive,
    read_record,
    remove_record,
    seeded_key_line,
    state_dir,
    write_record,
)
from okxlocal.demo_fleet import DEMO_MASTER_SECRET, demo_seed
from okxlocal.proxies import LISTEN_HOST, ProxyKind
from okxlocal.proxies.children import free_port
from okxlocal.served import ServedPorts, served_stack
from okxlocal.stack import (
    AWS_REGION,
    TOPIC_NAME,
    LocalStack,
    ReportMessage,
    key_secret_body,
    key_secret_name,
    read_reports,
)

SOURCE = "okx-shield up"
LOG = "up.log"
CONSOLE_QUEUE = "okx-shield-reports-up"  # `up`'s own subscription: commands read the inbox, `up` prints this one
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 20.0


def register(commands: Any) -> None:
    up = commands.add_parser(
        "up",
        help="serve the local stack until Ctrl-C or `okx-shield down`; every other command then runs on it",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    up.add_argument("--proxy", choices=[kind.value for kind in ProxyKind], default=ProxyKind.HTTPS.value)
    up.add_argument("--background", action="store_true", help="run in the background; `okx-shield down` stops it")
    up.add_argument("--state-dir", type=Path, help="the stack's folder (default: .okx-shield/local in the checkout)")
    up.set_defaults(run=run_up)
    down = commands.add_parser("down", help="stop the local stack `okx-shield up` keeps")
    down.add_argument("--state-dir", type=Path, help="the stack's folder (default: .okx-shield/local)")
    down.set_defaults(run=run_down)


def run_up(args: argparse.Namespace) -> int:
    folder = state_dir(args.state_dir)
    running = read_record(folder)
    if running is not None:
        if running.proxy != args.proxy:
            raise InvalidInputError(
                SOURCE,
                "--proxy",
                f"a stack is already up with the {running.proxy} proxy (pid {running.pid})",
                hint="Stop it first: okx-shield down.",
            )
        print(f"okx-shield local stack: already up (pid {running.pid})")
        print_summary(running, folder, sys.stdout)
        return 0
    if args.background:
        return start_in_background(folder, ProxyKind(args.proxy))
    return serve(folder, ProxyKind(args.proxy))


def run_down(args: argparse.Namespace) -> int:
    folder = state_dir(args.state_dir)
    record = read_record(folder)
    if record is None:
        print(f"okx-shield local stack: not up (nothing in {folder})")
        return 0
    os.kill(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while process_alive(record.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if process_alive(record.pid):
        raise OkxShieldError(
            f"{SOURCE}: the local stack (pid {record.pid}) did not stop within {STOP_TIMEOUT_S:.0f} s",
            hint=f"Stop it by hand: kill {record.pid}; its log is {folder / LOG}.",
        )
    remove_record(folder, record.pid)
    print(f"okx-shield local stack: stopped (pid {record.pid}); its simulator, proxy and moto state are gone")
    return 0


# --- the serving process ------------------------------------------------------------------------------------


class _Stop(Exception):
    """SIGTERM (okx-shield down) or SIGINT (Ctrl-C): leave the stack's context so that every piece stops in order."""


def serve(folder: Path, proxy_kind: ProxyKind, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request otherwise

    def on_stop(signum: int, frame: FrameType | None) -> None:
        raise _Stop

    folder.mkdir(parents=True, exist_ok=True)
    lock = (folder / "up.lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise InvalidInputError(
            SOURCE, "--state-dir", f"another okx-shield up is starting or running in {folder}", hint="okx-shield down"
        ) from None
    # SIGTERM is `okx-shield down`; SIGINT is Ctrl-C, handled here also when this process was started with it
    # ignored (a shell's background job), so that Ctrl-C on a foreground `up` always stops it.
    previous = {sig: signal.signal(sig, on_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    record: StackRecord | None = None
    try:
        with _served(folder, proxy_kind) as (stack, moto_url):
            record = _record_for(stack, moto_url, folder, proxy_kind)
            console = _subscribe_console(stack)
            write_record(folder, record)
            print(f"okx-shield local stack: up (pid {record.pid}; Ctrl-C or `okx-shield down` stops it)", file=out)
            print_summary(record, folder, out)
            out.flush()
            while True:
                time.sleep(1.0)
                print_reports(console, out)
                out.flush()
    except _Stop:
        print("okx-shield local stack: stopped", file=out)
    except (RuntimeError, OSError) as exc:  # a piece that would not start (a program missing, a port taken)
        raise OkxShieldError(
            f"{SOURCE}: the local stack stopped: {exc}".splitlines()[0],
            hint="The proxy programs come with `make setup`; a port another program took is chosen again next time.",
        ) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if record is not None:
            remove_record(folder, record.pid)
        _forget_files(folder)
        lock.close()
    return 0


def _forget_files(folder: Path) -> None:
    """What described the stack goes with it (its keys and CA no longer work); up.log stays for reading."""
    for name in ("shield.json", "keys", "pki", *(f"proxy-{kind.name.lower()}" for kind in ProxyKind)):
        path = folder / name
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


@contextlib.contextmanager
def _served(folder: Path, proxy_kind: ProxyKind) -> Iterator[tuple[LocalStack, str]]:
    """The demo fleet's stack served on loopback (okxlocal.served: moto in server mode), each piece on a free port."""
    ports = ServedPorts(moto=free_port(LISTEN_HOST), okx=free_port(LISTEN_HOST), shield=free_port(LISTEN_HOST))
    with served_stack(
        demo_seed(),
        LISTEN_HOST,
        ports,
        proxy_kind=proxy_kind,
        workdir=folder,
        master_key=("master", DEMO_MASTER_SECRET),
    ) as served:
        yield served.stack, f"http://{LISTEN_HOST}:{ports.moto}"


class _Console:
    """The queue `up` prints reports from, apart from the inbox the commands read."""

    def __init__(self, queue_url: str) -> None:
        self.queue_url = queue_url

    def reports(self) -> list[ReportMessage]:
        return read_reports(self.queue_url)


def _subscribe_console(stack: LocalStack) -> _Console:
    sqs = boto3.client("sqs", region_name=AWS_REGION)
    queue_url = sqs.create_queue(QueueName=CONSOLE_QUEUE)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto3.client("sns", region_name=AWS_REGION).subscribe(TopicArn=stack.topic_arn, Protocol="sqs", Endpoint=arn)
    return _Console(queue_url)


def _record_for(stack: LocalStack, moto_url: str, folder: Path, proxy_kind: ProxyKind) -> StackRecord:
    """Write the Shield and key files, and describe the stack for the commands that will use it."""
    shield_file = folder / "shield.json"
    _private_json(shield_file, {"url": stack.proxy.url(), "expected_ips": list(stack.expected_ips)})
    keys = []
    for key in stack.seed.keys:
        secret = DEMO_MASTER_SECRET if key.label == "master" else key_secret_name(key)
        relative = f"keys/{key.label}.json"
        _private_json(folder / relative, key_secret_body(key))
        keys.append(
            SeededKey(
                secret=secret,
                file=relative,
                label=key.label,
                uid=key.uid,
                demo=key.demo,
                perm=key.perm_string().split(","),
                ips=list(key.ips),
                deleted=key.deleted,
            )
        )
    return StackRecord(
        pid=os.getpid(),
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        proxy=proxy_kind.value,
        moto_url=moto_url,
        okx_url=stack.sim.url,
        shield_url=stack.proxy.url(),
        ca_path=str(stack.pki.ca_path),
        shield_file=str(shield_file),
        environment={**stack.env, "AWS_ENDPOINT_URL": moto_url},
        keys=keys,
    )


def _private_json(path: Path, body: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body, indent=2) + "\n")
    path.chmod(0o600)


# --- background ---------------------------------------------------------------------------------------------


def start_in_background(folder: Path, proxy_kind: ProxyKind, out: TextIO | None = None) -> int:
    """`up` again in a process of its own (its output in up.log), back once its record is written."""
    out = out or sys.stdout
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / LOG
    argv = [sys.executable, "-m", "okxcli", "up", "--state-dir", str(folder), "--proxy", proxy_kind.value]
    with log_path.open("wb") as log:
        child = subprocess.Popen(  # noqa: S603 - this interpreter running this CLI
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in this shell does not reach it; `okx-shield down` does
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    print(f"okx-shield local stack: starting in the background (pid {child.pid}, log {log_path})", file=out)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        record = read_record(folder)
        if record is not None and record.pid == child.pid and answers(record.moto_url):
            print(f"okx-shield local stack: up (pid {record.pid}; `okx-shield down` stops it)", file=out)
            print_summary(record, folder, out)
            return 0
        if child.poll() is not None:
            break
        time.sleep(0.2)
    if child.poll() is None:
        child.terminate()
    last = [line for line in log_path.read_text(errors="replace").splitlines() if line.strip()][-1:]
    raise OkxShieldError(
        f"{SOURCE}: the local stack did not start ({last[0] if last else 'no output'})",
        hint=f"Its whole output is in {log_path}.",
    )


# --- what a user is shown ---------------------------------------------------------------------------------


def print_summary(record: StackRecord, folder: Path, out: TextIO) -> None:
    shield_host = record.shield_url.rsplit("@", 1)[-1]
    out.write(
        f"  state folder   {folder} ({RECORD}, the files below, up.log)\n"
        f"  OKX simulator  {record.okx_url}  (CA {record.ca_path})\n"
        f"  Shield         {record.proxy} proxy at {shield_host}, egress 127.0.0.2; "
        f"Shield file {record.shield_file}\n"
        f"  AWS (moto)     {record.moto_url}: Secrets Manager, SNS ({TOPIC_NAME}, read as {INBOX}), DynamoDB, S3, "
        "Step Functions, Scheduler\n"
        "Seeded keys: the secret in moto, and the same as a key file in the state folder\n"
    )
    for key in record.keys:
        out.write(f"  {seeded_key_line(key)}\n")
    out.write(
        "Every okx-shield command runs on this stack now (--real: your AWS and OKX instead), e.g.:\n"
        "  okx-shield invoke trade --plan plans/eth-weekly-bid.json\n"
        "  okx-shield orders --key-secret okx-shield/keys/bot-main --plan eth-weekly-bid\n"
        "  okx-shield call GET /api/v5/account/balance --key-secret okx-shield/keys/bot-main\n"
        "Other clients (curl, ccxt, python-okx): a key file, the Shield file's URL and the CA above.\n"
    )


__all__ = ["register", "serve", "start_in_background"]
