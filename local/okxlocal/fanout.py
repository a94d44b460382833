"""The fanned-out audit on the local stack: template.yaml's own state machine, run in-process.

`okx-shield invoke audit --shards N`, the demo and the tests run the AuditFanout state machine's definition
as it is deployed (read from template.yaml): its states in order, their Parameters and JSONPaths, the Map's
ItemReader, ItemSelector, MaxConcurrency, ToleratedFailurePercentage, each task's Retry (with the sleep made
injectable) and Catch. Every Task calls `handlers.audit_fanout.handler` in this process, against moto's S3,
Secrets Manager and SNS and the local OKX simulator through the real proxy.

This is a small interpreter for the part of Amazon States Language the definition uses, not Step Functions:
an unsupported construct raises instead of being skipped, so the definition cannot drift past what the
tests run.
"""

from __future__ import annotations

import copy
import json
import os
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import boto3

from handlers import audit_fanout
from handlers.settings import RuntimeSettings
from okxcore.audit.event import parse_event
from okxcore.audit.fanout import run_id_for
from okxcore.audit.shards import keys_per_shard_for
from okxcore.aws.fleet_secrets import list_secrets
from okxlocal.runner import lambda_context
from okxlocal.template import fanout_definition


class StatesError(Exception):
    """A state failed with an error name, as Step Functions reports it (States.TaskFailed, ...)."""

    def __init__(self, error: str, cause: str) -> None:
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause


@dataclass
class MapRun:
    """What the Map did, for the CLI, the demo and the tests."""

    items: int = 0
    failed: list[int] = field(default_factory=list)
    attempts: dict[int, int] = field(default_factory=dict)
    waits_s: list[float] = field(default_factory=list)
    failed_over_tolerance: bool = False


@dataclass
class LocalExecution:
    task: Callable[[dict[str, Any]], Any]  # the Lambda behind every Task (handlers.audit_fanout.handler)
    read_object: Callable[[str, str], Any]  # (bucket, key) -> JSON, for the Map's ItemReader
    sleep: Callable[[float], None] = time.sleep
    map_run: MapRun = field(default_factory=MapRun)

    def run(self, definition: Mapping[str, Any], payload: Any) -> Any:
        return self._states(definition, payload, context={})

    def _states(self, machine: Mapping[str, Any], data: Any, context: Mapping[str, Any]) -> Any:
        name = machine["StartAt"]
        while True:
            state = machine["States"][name]
            try:
                result = self._state(state, data, context)
                data = _apply_result(state, data, result)
            except StatesError as error:
                handler = next((c for c in state.get("Catch", []) if _matches(c["ErrorEquals"], error)), None)
                if handler is None:
                    raise
                data = _put(data, handler.get("ResultPath", "$"), {"Error": error.error, "Cause": error.cause})
                name = handler["Next"]
                continue
            if state.get("End"):
                return data
            name = state["Next"]

    def _state(self, state: Mapping[str, Any], data: Any, context: Mapping[str, Any]) -> Any:
        kind = state["Type"]
        if kind == "Task":
            if state["Resource"] != "arn:aws:states:::lambda:invoke":
                raise NotImplementedError(f"Task resource {state['Resource']}")
            parameters = _resolve(state["Parameters"], data, context)
            return self._with_retry(state, lambda: {"Payload": self._invoke(parameters["Payload"])})
        if kind == "Map":
            return self._map(state, data)
        raise NotImplementedError(f"state type {kind}")

    def _invoke(self, payload: Any) -> Any:
        try:
            return self.task(payload)
        except Exception as exc:  # how a function error reaches the state machine
            raise StatesError("States.TaskFailed", f"{type(exc).__name__}: {exc}") from exc

    def _with_retry(self, state: Mapping[str, Any], call: Callable[[], Any], attempts: list[int] | None = None) -> Any:
        tries = 0
        while True:
            tries += 1
            if attempts is not None:
                attempts.append(tries)
            try:
                return call()
            except StatesError as error:
                rule = next((r for r in state.get("Retry", []) if _matches(r["ErrorEquals"], error)), None)
                if rule is None or tries > rule.get("MaxAttempts", 3):
                    raise
                # FULL jitter waits somewhere below this; the local run records the ceiling it would wait.
                wait = rule.get("IntervalSeconds", 1) * rule.get("BackoffRate", 2.0) ** (tries - 1)
                self.map_run.waits_s.append(wait)
                self.sleep(wait)

    def _map(self, state: Mapping[str, Any], data: Any) -> Any:
        processor = state["ItemProcessor"]
        if processor.get("ProcessorConfig", {}).get("Mode") != "DISTRIBUTED":
            raise NotImplementedError("only the Distributed Map is used")
        reader = _resolve(state["ItemReader"]["Parameters"], data, {})
        items = self.read_object(reader["Bucket"], reader["Key"]) or []
        self.map_run.items = len(items)
        (inner_name,) = processor["States"]  # one Task per item
        inner = processor["States"][inner_name]

        def one(index: int, value: Any) -> Any:
            item_input = _resolve(state["ItemSelector"], data, {"Map": {"Item": {"Value": value, "Index": index}}})
            tries: list[int] = []
            try:
                parameters = _resolve(inner["Parameters"], item_input, {})
                return self._with_retry(inner, lambda: {"Payload": self._invoke(parameters["Payload"])}, tries)
            finally:
                self.map_run.attempts[index] = len(tries)

        with ThreadPoolExecutor(max_workers=int(state["MaxConcurrency"])) as pool:
            futures = [pool.submit(one, index, value) for index, value in enumerate(items)]
        for index, future in enumerate(futures):
            if future.exception() is not None:
                self.map_run.failed.append(index)
        tolerated = float(state.get("ToleratedFailurePercentage", 0))
        if items and 100.0 * len(self.map_run.failed) / len(items) > tolerated:
            self.map_run.failed_over_tolerance = True
            raise StatesError("States.ExceedToleratedFailureThreshold", f"{len(self.map_run.failed)} item(s) failed")
        return [f.result() if f.exception() is None else None for f in futures]


def _matches(names: list[str], error: StatesError) -> bool:
    return "States.ALL" in names or error.error in names


def _path(data: Any, path: str, context: Mapping[str, Any]) -> Any:
    if path.startswith("$$."):
        data, path = context, "$" + path[2:]
    if path == "$":
        return data
    value = data
    for part in path.removeprefix("$.").split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise StatesError("States.Runtime", f"the JSONPath {path} matches nothing in the state's input")
        value = value[part]
    return value


def _resolve(template: Any, data: Any, context: Mapping[str, Any]) -> Any:
    """Parameters / ItemSelector / ResultSelector: keys ending in .$ are JSONPaths into the input."""
    if isinstance(template, Mapping):
        out: dict[str, Any] = {}
        for key, value in template.items():
            if key.endswith(".$"):
                out[key[:-2]] = copy.deepcopy(_path(data, value, context))
            else:
                out[key] = _resolve(value, data, context)
        return out
    if isinstance(template, list):
        return [_resolve(value, data, context) for value in template]
    return template


def _put(data: Any, path: str | None, value: Any) -> Any:
    if path is None:
        return data
    if path == "$":
        return value
    out = dict(data)
    out[path.removeprefix("$.")] = value
    return out


def _apply_result(state: Mapping[str, Any], data: Any, result: Any) -> Any:
    if "ResultSelector" in state:
        result = _resolve(state["ResultSelector"], result, {})
    return _put(data, state.get("ResultPath", "$"), result)


@dataclass
class FanoutOutcome:
    execution_input: dict[str, Any]
    output: Any
    map_run: MapRun

    @property
    def merged(self) -> dict[str, Any]:
        """The merge task's return value: the run's report (compact past 500 keys; S3 has it all)."""
        report: dict[str, Any] = self.output["merged"]["report"]
        return report


def execution_input_for(event: Mapping[str, Any], *, shards: int, run_id: str = "") -> dict[str, Any]:
    """What the scheduled audit starts the state machine with, sized to split the fleet into about `shards`."""
    parsed = parse_event(dict(event), RuntimeSettings.from_environ())
    request = parsed.request
    count = len(list_secrets(tag=request.tag, prefix=request.key_secret_prefix))
    return {
        "run_id": run_id or run_id_for(parsed.slot, uuid.uuid4().hex),
        "request": request.model_dump(mode="json"),
        "keys_per_shard": keys_per_shard_for(count, shards),
    }


def started_execution_input(execution_arn: str) -> dict[str, Any]:
    """The input the scheduled audit gave the execution it started (moto records it; nothing runs it)."""
    described = boto3.client("stepfunctions").describe_execution(executionArn=execution_arn)
    value: dict[str, Any] = json.loads(described["input"])
    return value


def run_fanout(
    execution_input: dict[str, Any],
    *,
    fail_shards: frozenset[int] = frozenset(),
    sleep: Callable[[float], None] = lambda _seconds: None,
    invoke: Callable[[Any], Any] | None = None,
) -> FanoutOutcome:
    """Run the deployed definition over `execution_input`. `fail_shards` crash those shards' function on
    every attempt (a Lambda that dies), to show the retries, the tolerance and the merge's finding.
    Retry waits are recorded (MapRun.waits_s) and, by default, not slept. `invoke` runs the fan-out function
    (default: its handler in this process; the container tier: in AuditFanoutFunction's container)."""
    s3 = boto3.client("s3")

    def task(payload: Any) -> Any:
        if isinstance(payload, dict) and payload.get("step") == "shard" and payload["item"]["shard"] in fail_shards:
            raise RuntimeError(f"shard {payload['item']['shard']}: the function crashed (injected locally)")
        if invoke is not None:
            return invoke(payload)
        return audit_fanout.handler(payload, lambda_context("audit-fanout"))

    def read(bucket: str, key: str) -> Any:
        return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    execution = LocalExecution(task=task, read_object=read, sleep=sleep)
    definition = fanout_definition(bucket=os.environ["AUDIT_RUN_BUCKET"])
    output = execution.run(definition, execution_input)
    return FanoutOutcome(execution_input=execution_input, output=output, map_run=execution.map_run)
