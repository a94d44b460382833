"""The in-process Lambda runner: a handler of template.yaml called here, as Lambda would call it.

The Docker-free counterpart of `sam local invoke`, used by `okx-shield invoke`, the demo, the fan-out's
state machine (okxlocal.fanout) and the tests: the real LambdaContext class with its fields set, the
events of events/ (with a fresh slot when asked), and the handler module by its function's name.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from okxcore.errors import InvalidInputError
from okxcore.inputs import json_file
from okxlocal.template import ROOT

EVENTS = ROOT / "events"
FUNCTIONS = ("probe", "audit", "trade", "rotate")


def lambda_context(function: str) -> LambdaContext:
    context = LambdaContext()
    context._function_name = f"okx-shield-{function}"
    context._function_version = "$LATEST"
    context._invoked_function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:okx-shield-{function}"
    context._memory_limit_in_mb = 256
    context._aws_request_id = str(uuid.uuid4())
    context._log_group_name = f"/okx-shield/local/{function}"
    context._log_stream_name = "local"
    return context


def scheduled_now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def read_event(path: Path) -> dict[str, Any]:
    """An event file as it is; InvalidInputError (naming --event and the file) when it is missing, not JSON, or
    not a JSON object."""
    event = json_file(path, option="--event")
    if not isinstance(event, dict):
        raise InvalidInputError("okx-shield", "--event", f"{path} is not a JSON object", hint="See events/*.json.")
    return event


def load_event(path: Path, *, fresh_slot: bool = True) -> dict[str, Any]:
    """The event in `path`; with `fresh_slot`, its scheduled_time is now, as the Scheduler would give.

    The demo and the tests want a slot that runs; `okx-shield invoke` keeps the file's time unless --now, so that
    a plan whose time is wrong fails locally as it would deployed."""
    event = read_event(path)
    if fresh_slot and "scheduled_time" in event:
        event["scheduled_time"] = scheduled_now()
    return event


def invoke(function: str, event: dict[str, Any]) -> dict[str, Any]:
    """Run one handler in-process, the Docker-free counterpart of `sam local invoke`."""
    if function not in FUNCTIONS:
        raise SystemExit(f"unknown function {function!r}; choose one of {', '.join(FUNCTIONS)}")
    # By name, as Lambda resolves template.yaml's Handler: only the function asked for is loaded.
    module = importlib.import_module(f"handlers.{function}")
    handler: Callable[[dict[str, Any], Any], dict[str, Any]] = module.handler
    return handler(event, lambda_context(function))
