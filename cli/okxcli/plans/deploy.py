"""`okx-shield plans deploy`: the plans of plans/ become EventBridge Scheduler schedules, one per plan.

The schedules live in a schedule group that the stack owns (template.yaml's PlanScheduleGroup; deleting the stack
deletes them). The group is made to match the files: a schedule per plan, created or updated where it differs,
and a schedule whose file is gone is deleted. Each one invokes the trade function with the plan as its Input and
"<aws.scheduler.scheduled-time>" as its time, in UTC, with the retries and dead-letter queue the template's own
schedules have. Nothing is changed when any file fails its check.

Where the group, the function, the role and the queue are: a deployed stack's outputs (`--real --stack NAME`), or
the local stack's (okxlocal.stack), which stands in for them.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from okxcli.plans.files import CheckedPlan
from okxcore.errors import InvalidInputError, OkxShieldError
from okxlocal.stack import (
    DEAD_LETTER_QUEUE_ARN,
    KEY_SECRET_PREFIX,
    PLAN_SCHEDULE_GROUP,
    PLAN_SCHEDULER_ROLE_ARN,
    TRADE_FUNCTION_ARN,
)

SOURCE = "okx-shield plans deploy"
TIMEZONE = "UTC"  # docs/trading.md: plans' schedules are in UTC
RETRY_ATTEMPTS = 2  # as the template's own schedules
# A retry later than the plan's caps.max_delay_s would be skipped as too late; the Scheduler allows 60 s to 1 day,
# and the trade function's own async retries end at 540 s (template.yaml TradeFunction EventInvokeConfig).
MAX_EVENT_AGE_S = (60, 540)
STACK_OUTPUTS = {
    "group": "PlanScheduleGroupName",
    "function_arn": "TradeFunctionArn",
    "role_arn": "PlanSchedulerRoleArn",
    "dead_letter_arn": "DeadLetterQueueArn",
}

Action = Literal["create", "update", "delete", "unchanged"]


@dataclass(frozen=True)
class ScheduleTarget:
    """Where plans become schedules, and what their schedules invoke."""

    where: str
    group: str
    function_arn: str
    role_arn: str
    dead_letter_arn: str
    key_secret_prefix: str
    region: str | None = None  # the stack's, when samconfig.toml names it; else this shell's


def local_target() -> ScheduleTarget:
    return ScheduleTarget(
        where="the local stack",
        group=PLAN_SCHEDULE_GROUP,
        function_arn=TRADE_FUNCTION_ARN,
        role_arn=PLAN_SCHEDULER_ROLE_ARN,
        dead_letter_arn=DEAD_LETTER_QUEUE_ARN,
        key_secret_prefix=KEY_SECRET_PREFIX,
    )


@dataclass(frozen=True)
class DeployedStack:
    """A stack `sam deploy` made: its name, and the region it was deployed to when samconfig.toml names one."""

    name: str
    region: str | None = None


def samconfig_stack(config_env: str, samconfig: Path = Path("samconfig.toml")) -> DeployedStack:
    """The stack_name (and region) `sam deploy --config-env ENV` uses, from samconfig.toml's ENV tables."""
    try:
        config = tomllib.loads(samconfig.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInputError(
            SOURCE, "--config-env", f"{samconfig} cannot be read ({exc})", hint="Run it from the repository's root."
        ) from None
    tables = config.get(config_env, {})
    found: dict[str, str] = {}
    for command in ("global", "deploy"):  # deploy's own table wins, as in sam
        found.update({k: str(v) for k, v in tables.get(command, {}).get("parameters", {}).items()})
    if not found.get("stack_name"):
        raise InvalidInputError(
            SOURCE,
            "--config-env",
            f"{samconfig} names no stack_name for environment '{config_env}'",
            hint="Deploy it once with `sam deploy --guided --config-env ENV` (it saves stack_name), or give --stack.",
        )
    return DeployedStack(found["stack_name"], found.get("region") or None)


def stack_target(stack: DeployedStack) -> ScheduleTarget:
    """The deployed stack's outputs (and its KeySecretPrefix), read with this shell's AWS credentials."""
    stack_name = stack.name
    try:
        cloudformation = boto3.client("cloudformation", region_name=stack.region)
        [described] = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except (ClientError, BotoCoreError) as exc:
        raise InvalidInputError(
            SOURCE,
            "--stack",
            f"stack {stack_name} cannot be read ({_aws_error(exc)})",
            hint="Name the stack `sam deploy` made (stack_name in samconfig.toml) and give this shell AWS credentials "
            "and the stack's region (aws configure, AWS_DEFAULT_REGION, or region in samconfig.toml).",
        ) from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in described.get("Parameters", [])}
    missing = [name for name in STACK_OUTPUTS.values() if not outputs.get(name)]
    if missing:
        raise InvalidInputError(
            SOURCE,
            "--stack",
            f"stack {stack_name} has no output {', '.join(missing)}",
            hint="Deploy this version of template.yaml first (sam build && sam deploy); it adds them.",
        )
    return ScheduleTarget(
        where=f"stack {stack_name}",
        region=stack.region,
        key_secret_prefix=parameters.get("KeySecretPrefix") or KEY_SECRET_PREFIX,
        **{field: outputs[output] for field, output in STACK_OUTPUTS.items()},
    )


def desired_schedule(plan: CheckedPlan, target: ScheduleTarget) -> dict[str, Any]:
    """CreateSchedule's arguments for one plan (UpdateSchedule takes the same)."""
    max_age = min(max(plan.plan.caps.max_delay_s, MAX_EVENT_AGE_S[0]), MAX_EVENT_AGE_S[1])
    return {
        "Name": plan.plan_id,
        "GroupName": target.group,
        "Description": plan.file.description or f"okx-shield trade plan {plan.plan_id} (plans/{plan.path.name})",
        "ScheduleExpression": plan.file.schedule,
        "ScheduleExpressionTimezone": TIMEZONE,
        "State": "ENABLED" if plan.file.enabled else "DISABLED",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": {
            "Arn": target.function_arn,
            "RoleArn": target.role_arn,
            "Input": json.dumps(plan.scheduler_input(), separators=(",", ":")),
            "RetryPolicy": {"MaximumRetryAttempts": RETRY_ATTEMPTS, "MaximumEventAgeInSeconds": max_age},
            "DeadLetterConfig": {"Arn": target.dead_letter_arn},
        },
    }


@dataclass(frozen=True)
class Change:
    action: Action
    name: str
    schedule: dict[str, Any] | None  # what it becomes (None: deleted)
    differs: tuple[str, ...] = ()  # for an update: what differs

    def line(self) -> str:
        if self.schedule is None:
            return f"  delete     {self.name} (its plan file is gone)"
        state = self.schedule["State"]
        expression = self.schedule["ScheduleExpression"]
        detail = f" ({', '.join(self.differs)})" if self.differs else ""
        return f"  {self.action:<10} {self.name}: {expression} UTC, {state}{detail}"


def changes_for(client: Any, target: ScheduleTarget, plans: Iterable[CheckedPlan]) -> list[Change]:
    """What deploying `plans` changes in the group, one Change per schedule (unchanged ones too)."""
    existing = {
        name: _comparable(client.get_schedule(Name=name, GroupName=target.group)) for name in _names(client, target)
    }
    changes: list[Change] = []
    for plan in plans:
        wanted = desired_schedule(plan, target)
        current = existing.pop(plan.plan_id, None)
        if current is None:
            changes.append(Change("create", plan.plan_id, wanted))
            continue
        differs = tuple(field for field, value in _comparable(wanted).items() if current.get(field) != value)
        changes.append(Change("update" if differs else "unchanged", plan.plan_id, wanted, differs))
    changes.extend(Change("delete", name, None) for name in sorted(existing))
    return changes


@dataclass(frozen=True)
class Failure:
    name: str
    error: str


def apply(client: Any, target: ScheduleTarget, changes: Iterable[Change]) -> list[Failure]:
    """Each change on its own: a schedule the Scheduler refuses (its message says why) leaves the others done."""
    failures: list[Failure] = []
    for change in changes:
        try:
            if change.schedule is None:
                client.delete_schedule(Name=change.name, GroupName=target.group)
            elif change.action == "create":
                client.create_schedule(**change.schedule)
            elif change.action == "update":
                client.update_schedule(**change.schedule)
        except (ClientError, BotoCoreError) as exc:
            failures.append(Failure(change.name, _aws_error(exc)))
    return failures


def _names(client: Any, target: ScheduleTarget) -> list[str]:
    try:
        pages = client.get_paginator("list_schedules").paginate(GroupName=target.group)
        return [item["Name"] for page in pages for item in page.get("Schedules", [])]
    except ClientError as exc:
        raise OkxShieldError(
            f"{SOURCE}: the schedule group {target.group} of {target.where} cannot be read ({_aws_error(exc)})",
            hint="Check this shell's AWS credentials and region, and that they may call scheduler:ListSchedules.",
        ) from None


def _comparable(schedule: dict[str, Any]) -> dict[str, Any]:
    """The fields a plan decides, in one form for what GetSchedule answers and what CreateSchedule takes."""
    target = dict(schedule.get("Target", {}))
    if "Input" in target:
        target["Input"] = json.loads(target["Input"])
    return {
        "Description": schedule.get("Description", ""),
        "ScheduleExpression": schedule.get("ScheduleExpression"),
        "ScheduleExpressionTimezone": schedule.get("ScheduleExpressionTimezone"),
        "State": schedule.get("State"),
        "FlexibleTimeWindow": schedule.get("FlexibleTimeWindow"),
        "Target": target,
    }


def _aws_error(exc: ClientError | BotoCoreError) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".strip()
    return str(exc)
