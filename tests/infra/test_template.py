"""The SAM application: lint-clean, checkov-clean, buildable here, and consistent with the code and events."""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
TOOLS = ROOT / ".venv-tools" / "bin"
SCHEDULED_TIME = "2026-11-23T12:00:00Z"


def tool(name: str) -> str:
    path = TOOLS / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: run `make setup` (scripts/bootstrap.sh installs .venv-tools)")
    return found


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !Sub, ...) kept as {"Fn": value} mappings."""


def _cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {suffix: value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}


def env() -> dict[str, str]:
    return {**os.environ, "SAM_CLI_TELEMETRY": "0"}


def test_sam_validate_lint_is_clean():
    done = subprocess.run(
        [tool("sam"), "validate", "--lint", "-t", str(TEMPLATE)],
        capture_output=True,
        text=True,
        env=env(),
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "is a valid SAM Template" in done.stdout + done.stderr


def test_checkov_has_zero_failed_checks_and_every_skip_has_a_reason(template):
    done = subprocess.run(
        [
            tool("checkov"),
            "--framework",
            "cloudformation",
            "-f",
            str(TEMPLATE),
            "-o",
            "json",
            "--skip-download",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        env=env(),
        timeout=300,
        check=False,
    )
    report = json.loads(done.stdout)
    summary = report["summary"]
    failed = [f"{c['check_id']} {c['resource']}" for c in report["results"]["failed_checks"]]
    assert summary["failed"] == 0, failed
    assert summary["passed"] > 10
    for name, resource in template["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert len(skip.get("comment", "")) > 20, f"{name}: skip {skip['id']} needs its reason"


def test_sam_build_succeeds_on_this_machine(tmp_path):
    done = subprocess.run(
        [
            tool("sam"),
            "build",
            "-t",
            str(TEMPLATE),
            "--build-dir",
            str(tmp_path / "build"),
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
        capture_output=True,
        text=True,
        env=env(),
        cwd=ROOT,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for name in ("ProbeFunction", "AuditFunction", "TradeFunction", "RotateFunction"):
        built = tmp_path / "build" / name
        assert (built / "okxcore" / "client.py").exists()
        assert (built / "handlers").is_dir()
        assert not (built / "okxlocal").exists()  # the local stack never ships
        assert not (built / "boto3").exists()  # the Lambda runtime provides it
        # /var/task is read-only: dependencies ship as bytecode, or every cold start compiles them again
        assert (built / "pydantic" / "__init__.pyc").exists()
        assert not (built / "pydantic" / "__init__.py").exists()
        assert (built / "okxcore" / "client.pyc").exists()
        assert "aarch64" in next((built / "pydantic_core").glob("_pydantic_core*.so")).name  # the arm64 runtime


def test_every_handler_resolves_to_a_function_taking_event_and_context(template):
    globals_handler_code = template["Globals"]["Function"]["CodeUri"]
    assert globals_handler_code == "src/"
    for name, resource in functions(template).items():
        module_name, _, attribute = resource["Properties"]["Handler"].rpartition(".")
        module = importlib.import_module(module_name)
        handler = getattr(module, attribute)
        assert callable(handler), name
        assert hasattr(module, "EVENT_MODEL"), f"{module_name} must expose its input model"


def _substitute(text: str, template: dict[str, Any]) -> str:
    defaults = {name: str(p.get("Default", "")) for name, p in template["Parameters"].items()}
    return re.sub(r"\$\{([A-Za-z0-9]+)\}", lambda m: defaults[m.group(1)], text)


def test_every_schedule_input_is_valid_for_its_function(template):
    seen = 0
    for name, resource in functions(template).items():
        module = importlib.import_module(resource["Properties"]["Handler"].rpartition(".")[0])
        for event_name, event in resource["Properties"].get("Events", {}).items():
            assert event["Type"] == "ScheduleV2", f"{name}.{event_name}"
            raw = event["Properties"]["Input"]
            text = _substitute(raw["Sub"], template) if isinstance(raw, dict) else raw
            assert "<aws.scheduler.scheduled-time>" in text, "the slot key must come from the Scheduler"
            payload = json.loads(text.replace("<aws.scheduler.scheduled-time>", SCHEDULED_TIME))
            module.EVENT_MODEL.model_validate(payload)
            seen += 1
    assert seen >= 3


def test_every_event_file_validates_against_its_function(template):
    files = sorted((ROOT / "events").glob("*.json"))
    # events/ holds Scheduler Inputs: the fan-out function's inputs come from its state machine instead (run by
    # tests/audit/test_audit_fanout.py through okxlocal.fanout).
    handlers = {
        r["Properties"]["Handler"].split(".")[1] for r in functions(template).values() if "Events" in r["Properties"]
    }
    covered = set()
    for path in files:
        function = path.stem.split("-")[0].split("_")[0]
        assert function in handlers, f"{path.name} must start with one of {sorted(handlers)}"
        module = importlib.import_module(f"handlers.{function}")
        module.EVENT_MODEL.model_validate(json.loads(path.read_text()))
        covered.add(function)
    assert covered == handlers


def test_samconfig_has_the_three_environments():
    import tomllib

    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    assert config["version"] == 0.1
    for environment in ("default", "dev", "prod"):
        assert "parameter_overrides" in config[environment]["deploy"]["parameters"]


def test_every_custom_metric_the_template_watches_is_emitted_by_the_code(template):
    """An alarm or dashboard widget on a metric nobody emits would stay silent forever."""
    watched = set()
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::CloudWatch::Alarm" and properties.get("Namespace") == "OkxShield":
            watched.add(properties["MetricName"])
        if resource["Type"] == "AWS::CloudWatch::Dashboard":
            body = properties["DashboardBody"]["Sub"]
            watched.update(re.findall(r'\["OkxShield", "([A-Za-z]+)"', body))
    assert {"EgressMatch", "CriticalFindings", "DaysUntilDeletion", "TradeOrdersPlaced"} <= watched
    code = "\n".join(path.read_text() for path in (ROOT / "src").rglob("*.py"))
    for metric in watched:
        assert f'"{metric}"' in code, f"{metric} is watched by template.yaml but never emitted"
