"""Trade plans in their own files (plans/*.json): what one file holds, and checking it as the function will.

A plan file is the trade function's Scheduler Input without its time, plus when it runs:

    {"schedule": "cron(0 12 * * ? *)", "enabled": false, "description": "...", "plan": {<TradePlan>}}

- `schedule`: an EventBridge Scheduler expression, in UTC: cron(minutes hours day-of-month month day-of-week
  year), rate(N minutes|hours|days) or at(yyyy-mm-ddThh:mm:ss).
- `enabled`: the schedule's state. A plan that trades real money is turned on here, deliberately.
- `plan`: the trade function's input (okxcore.trading.plan.TradePlan) without `scheduled_time`, which the
  Scheduler fills in for each slot ("<aws.scheduler.scheduled-time>"). Its `plan_id` is the file's name, so
  that one file is one schedule and two files cannot claim one plan.

The plan is checked by the function's own parser (parse_plan), with a slot of now, so a file that passes here is
one the function accepts; `okx-shield plans deploy` turns the files into schedules (plans/deploy.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from okxcore.errors import InvalidInputError
from okxcore.inputs import Flag, problems_of
from okxcore.slot import SCHEDULER_PLACEHOLDER
from okxcore.trading.plan import TradePlan, parse_plan

SOURCE = "okx-shield plans"
DEFAULT_KEY_SECRET_PREFIX = "okx-shield/keys/"  # noqa: S105 - a secret name prefix; template.yaml's default
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*?,/#LW-]+$")
_RATE = re.compile(r"^rate\((?P<value>[1-9][0-9]*) (?P<unit>minutes?|hours?|days?)\)$")
_AT = re.compile(r"^at\(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\)$")
CRON_FIELDS = "minutes hours day-of-month month day-of-week year"


def _schedule_expression(text: str) -> str:
    """EventBridge Scheduler's three forms; what the Scheduler itself checks further is reported by the deploy."""
    if text.startswith("cron(") and text.endswith(")"):
        fields = text[5:-1].split()
        if len(fields) != 6 or not all(_CRON_FIELD.match(field) for field in fields):
            raise ValueError(f"a cron expression has six fields, cron({CRON_FIELDS}), e.g. cron(0 12 * * ? *)")
        if (fields[2] == "?") == (fields[4] == "?"):
            raise ValueError(
                "exactly one of day-of-month (3rd field) and day-of-week (5th field) must be '?', "
                "e.g. cron(0 12 * * ? *) daily or cron(0 9 ? * MON *) on Mondays"
            )
        return text
    if _RATE.match(text) or _AT.match(text):
        return text
    raise ValueError(
        "must be cron(...), rate(N minutes|hours|days) or at(yyyy-mm-ddThh:mm:ss), in UTC, "
        "e.g. cron(0 12 * * ? *) for every day at 12:00 UTC"
    )


ScheduleExpression = Annotated[str, Field(min_length=1, max_length=256), AfterValidator(_schedule_expression)]


class PlanFile(BaseModel):
    """One file of plans/: when the plan runs, whether it is on, and the plan (checked by parse_plan)."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    schedule: ScheduleExpression
    enabled: Flag
    description: str = Field(default="", max_length=400)
    plan: dict[str, Any]


@dataclass(frozen=True)
class CheckedPlan:
    """A plan file that passed every check: its schedule, state and the Scheduler Input it becomes."""

    path: Path
    file: PlanFile
    plan: TradePlan  # parsed with a slot of now; the Input carries the Scheduler's placeholder instead

    @property
    def plan_id(self) -> str:
        return self.plan.plan_id

    def scheduler_input(self) -> dict[str, Any]:
        """The schedule's Input: the plan as written, its time the Scheduler's placeholder for each slot."""
        return {**self.file.plan, "scheduled_time": SCHEDULER_PLACEHOLDER}

    def event_at(self, scheduled_time: str) -> dict[str, Any]:
        """The event the Scheduler would deliver for the slot at `scheduled_time` (a local run of the plan)."""
        return {**self.file.plan, "scheduled_time": scheduled_time}


@dataclass(frozen=True)
class Problem:
    path: Path
    field: str
    problem: str

    def line(self) -> str:
        return f"{self.path}: field '{self.field}': {self.problem}"


@dataclass
class PlanCheck:
    plans: list[CheckedPlan]
    problems: list[Problem]

    def raise_for_problems(self) -> None:
        """One InvalidInputError naming the first problem (the command prints every one before raising)."""
        if self.problems:
            first = self.problems[0]
            raise InvalidInputError.from_problems(
                str(first.path),
                [(p.field, p.problem) for p in self.problems if p.path == first.path],
                hint="Fix the plan file; `okx-shield plans check` lists every problem of every file.",
            )


def plan_files(paths: Iterable[Path]) -> list[Path]:
    """The *.json files named, and those in the folders named (not recursive), in name order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(path.glob("*.json")))
        elif path.exists() or path.suffix == ".json":
            found.append(path)
        else:
            raise InvalidInputError(SOURCE, str(path), "is neither a plan file nor a folder of them")
    return found


def check_plans(paths: Iterable[Path], *, key_secret_prefix: str = DEFAULT_KEY_SECRET_PREFIX) -> PlanCheck:
    """Every file checked on its own; every problem of every file collected, not only the first."""
    result = PlanCheck(plans=[], problems=[])
    for path in plan_files(paths):
        checked, problems = check_plan_file(path, key_secret_prefix=key_secret_prefix)
        result.problems.extend(problems)
        if checked is not None:
            result.plans.append(checked)
    return result


def check_plan_file(path: Path, *, key_secret_prefix: str) -> tuple[CheckedPlan | None, list[Problem]]:
    def problem(field: str, text: str) -> Problem:
        return Problem(path, field, text)

    try:
        document = json.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        return None, [problem("(whole file)", f"cannot be read ({exc.strerror or exc.__class__.__name__})")]
    except UnicodeDecodeError:
        return None, [problem("(whole file)", "is not UTF-8 text")]
    except ValueError as exc:
        return None, [problem("(whole file)", f"is not valid JSON (line {getattr(exc, 'lineno', '?')})")]
    if not isinstance(document, dict):
        return None, [problem("(whole file)", "must be a JSON object with schedule, enabled and plan")]
    try:
        file = PlanFile.model_validate(document)
    except ValidationError as exc:
        return None, [problem(field, text) for field, text in problems_of(exc, whole="(whole file)")]

    problems: list[Problem] = []
    if "scheduled_time" in file.plan:
        problems.append(
            problem(
                "plan.scheduled_time",
                f"must be left out: the Scheduler gives each slot its time ({SCHEDULER_PLACEHOLDER})",
            )
        )
    try:
        plan = parse_plan({**file.plan, "scheduled_time": datetime.now(UTC).isoformat()})
    except InvalidInputError as exc:
        problems.extend(problem(f"plan.{field}", text) for field, text in exc.problems)
        return None, problems
    if plan.plan_id != path.stem:
        problems.append(
            problem(
                "plan.plan_id",
                f"is '{plan.plan_id}' but the file is {path.name}: name the file {plan.plan_id}.json "
                "(one file, one schedule, named by its plan_id)",
            )
        )
    if not _under_prefix(plan.key_secret, key_secret_prefix):
        problems.append(
            problem(
                "plan.key_secret",
                f"is not under the key prefix {key_secret_prefix}: the trade function may read only those secrets "
                "(the stack's KeySecretPrefix)",
            )
        )
    if problems:
        return None, problems
    return CheckedPlan(path=path, file=file, plan=plan), []


def _under_prefix(key_secret: str, prefix: str) -> bool:
    name = (
        key_secret.split(":secret:", 1)[1] if key_secret.startswith("arn:") and ":secret:" in key_secret else key_secret
    )
    return name.startswith(prefix)


__all__ = [
    "DEFAULT_KEY_SECRET_PREFIX",
    "CheckedPlan",
    "PlanCheck",
    "PlanFile",
    "Problem",
    "check_plans",
    "plan_files",
]
