"""`okx-shield keys rotate --secret NAME [--dry-run]`: rotate one sub-account key held in a secret.

- `--dry-run`: what the rotation would do now (sub-account, permissions, IPs, keys it would delete), and
  nothing changes, at OKX or in Secrets Manager.
- on the local stack (default): rotation is turned on for the secret (what a RotationSchedule does), and the
  four steps run as Secrets Manager would run them, through the real rotation handler.
- `--real`: `RotateSecret` on the secret: Secrets Manager invokes the deployed rotation function; this command
  waits for the outcome and prints it, with how the state table recorded it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
from collections.abc import Iterator
from typing import Any, TextIO

from botocore.exceptions import ClientError

from handlers.rotation_wiring import rotator_for
from handlers.wiring import Wiring
from okxcli.exits import EXIT_FAILED, EXIT_OK
from okxcli.keys.options import add_common_options, master_secret_name, run_in_wiring
from okxcore.aws.clients import aws_client
from okxcore.aws.rotation_state import DynamoRotationLedger
from okxcore.aws.secretstore import secret_not_found
from okxcore.errors import InvalidInputError, OkxShieldError
from okxlocal import rotation as sm
from okxlocal.attached import read_record, state_dir
from okxlocal.runner import invoke
from okxlocal.stack import patched_environ

REAL_WAIT_S = 120


def register(subcommands: Any) -> None:
    rotate = subcommands.add_parser(
        "rotate", help="replace a sub-account key with a new one (Secrets Manager rotation)"
    )
    rotate.add_argument("--secret", required=True, help="the key's secret name in Secrets Manager")
    rotate.add_argument("--dry-run", action="store_true", help="print what the rotation would do; change nothing")
    add_common_options(rotate)
    rotate.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    record = None if args.real or args.dry_run else read_record(state_dir())
    if record is not None:
        # Secrets Manager's side of a local rotation (okxlocal.rotation) works on moto's backends in this process;
        # the stack `okx-shield up` keeps has them in its own.
        raise InvalidInputError(
            "okx-shield keys rotate",
            "--secret",
            f"cannot be rotated on the local stack that is up (pid {record.pid}): a local rotation needs a stack "
            "of its own",
            hint="Use --dry-run on it, or stop it first (okx-shield down) to rotate on a fresh local stack.",
        )
    return run_in_wiring(args, rotate_command)


def rotate_command(args: argparse.Namespace, wiring: Wiring) -> int:
    _require_secret(args.secret)
    master = master_secret_name(args, wiring)
    with patched_environ({"MASTER_KEY_SECRET_NAME": master}):
        if args.dry_run:
            return show_plan(args.secret, sys.stdout)
        if args.real:
            return rotate_real(args.secret, sys.stdout)
        return rotate_local(args.secret, sys.stdout)


def show_plan(secret: str, out: TextIO) -> int:
    plan = rotator_for(Wiring.from_environ()).plan(secret)
    out.write(f"okx-shield keys rotate {secret} (dry run: nothing is changed)\n  {plan.done}\n")
    details = plan.details or {}
    if not details.get("rotation_enabled"):
        out.write("  note: rotation is not turned on for this secret yet (RotationSchedule / rotate-secret)\n")
    return EXIT_OK


def rotate_local(secret: str, out: TextIO) -> int:
    sm.enable_rotation(secret)
    out.write(f"okx-shield keys rotate {secret} (local stack: rotation turned on, as a RotationSchedule would)\n")
    with _quiet():
        done = sm.rotate(secret, lambda event: invoke("rotate", event))
    for step, result in done.results.items():
        out.write(f"  {step}: {result.get('done', '')}\n")
    if not done.succeeded:
        out.write(f"  {done.failed_step}: FAILED: {_text(done.error)}\n")
        return EXIT_FAILED
    return EXIT_OK


def rotate_real(secret: str, out: TextIO) -> int:
    client = aws_client("secretsmanager")
    try:
        token = client.rotate_secret(SecretId=secret, RotateImmediately=True)["VersionId"]
    except Exception as exc:  # botocore names the error code and the secret, never a value
        raise OkxShieldError(
            f"Secrets Manager did not start a rotation of {secret}: {str(exc)[:300]}",
            hint="Turn rotation on for the secret first: TradeKeyRotation / a RotationSchedule, or "
            "`aws secretsmanager rotate-secret --secret-id NAME --rotation-lambda-arn <RotateFunctionArn> "
            "--rotation-rules AutomaticallyAfterDays=90`.",
        ) from None
    out.write(f"okx-shield keys rotate {secret}: Secrets Manager started rotation {token}; waiting for it\n")
    deadline = time.monotonic() + REAL_WAIT_S
    while time.monotonic() < deadline:
        stages = client.describe_secret(SecretId=secret).get("VersionIdsToStages", {})
        labels = stages.get(token, [])
        if "AWSCURRENT" in labels or "AWSPENDING" not in labels:
            break
        time.sleep(3)
    record = DynamoRotationLedger(Wiring.from_environ().settings.state_table_name).load(
        client.describe_secret(SecretId=secret)["Name"]
    )
    out.write(f"  status: {record.status}; last step: {record.step}\n")
    if record.status == "succeeded" and record.token == token:
        out.write(
            f"  new key {record.new_label} is AWSCURRENT; old key {record.old_label} is deleted after the grace "
            "period\n"
        )
        return EXIT_OK
    if record.failed_step:
        out.write(f"  failed at {record.failed_step}: {record.error}\n")
    else:
        out.write(f"  not finished after {REAL_WAIT_S} s: see the rotation report and the function's log\n")
    return EXIT_FAILED


def _require_secret(secret: str) -> None:
    """A secret that does not exist is the input's fault, said as for every command (okx-shield keys bind-ips)."""
    try:
        aws_client("secretsmanager").describe_secret(SecretId=secret)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise secret_not_found(secret) from None
        raise


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The handler's structured log goes to stderr; stdout is what changed."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def _text(error: Exception | None) -> str:
    if error is None:
        return ""
    describe = getattr(error, "describe", None)
    return str(describe()) if callable(describe) else type(error).__name__
