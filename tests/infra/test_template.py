"""The SAM application: lint-clean, checkov-clean, buildable here, and consistent with the code and events."""

from __future__ import annotations

import fcntl
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
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
        pytest.fail(f"{name} is not installed: run `make tools` (scripts/bootstrap.sh --tools installs .venv-tools)")
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


@pytest.mark.e2e  # sam validate --lint
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


@pytest.mark.e2e  # checkov
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


def sam_build(template: Path, build_dir: Path, cache_dir: Path, *options: str) -> None:
    """`sam build` of `template` as a developer runs it, failing the test with SAM's own words."""
    done = subprocess.run(
        [
            *(tool("sam"), "build", "-t", str(template)),
            *("--build-dir", str(build_dir), "--cache-dir", str(cache_dir), *options),
        ],
        capture_output=True,
        text=True,
        env=env(),
        cwd=ROOT,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.mark.e2e  # sam build
def test_sam_build_succeeds_on_this_machine(tmp_path):
    sam_build(TEMPLATE, tmp_path / "build", tmp_path / "cache")
    for name in ("ProbeFunction", "AuditFunction", "TradeFunction", "RotateFunction"):
        built = tmp_path / "build" / name
        assert (built / "okxcore" / "client.py").exists()
        assert (built / "handlers").is_dir()
        assert not (built / "okxlocal").exists()  # the local stack never ships
        assert not (built / "okxcli").exists()  # nor the operator CLI
        assert not (built / "boto3").exists()  # the Lambda runtime provides it
        # /var/task is read-only: dependencies ship as bytecode, or every cold start compiles them again
        assert (built / "pydantic" / "__init__.pyc").exists()
        assert not (built / "pydantic" / "__init__.py").exists()
        assert _code_filename(built / "pydantic" / "__init__.pyc") == "/var/task/pydantic/__init__.py"
        # our code: source for tracebacks, and bytecode the import system uses without checking the source
        ours = built / "okxcore" / "__pycache__" / "client.cpython-311.pyc"
        assert _pyc_flags(ours) == 0b01, "unchecked-hash .pyc"  # hash-based, source not checked
        assert _code_filename(ours) == "/var/task/okxcore/client.py"
        assert not list(built.glob("okxcore/*.pyc")), "a legacy .pyc beside its .py is never used"
        assert "aarch64" in next((built / "pydantic_core").glob("_pydantic_core*.so")).name  # the arm64 runtime
    _assert_imports_use_shipped_bytecode(tmp_path / "build" / "ProbeFunction", tmp_path / "task")
    # The bots' layer: okxcore and the same dependencies under python/ (Lambda's /opt/python), built the same way;
    # no handlers, and no ccxt or python-okx (a bot brings its own)
    layer = tmp_path / "build" / "BotLayer" / "python"
    assert (layer / "okxcore" / "bots" / "__init__.py").exists()
    ours = layer / "okxcore" / "bots" / "__pycache__" / "__init__.cpython-311.pyc"
    assert _pyc_flags(ours) == 0b01 and _code_filename(ours) == "/opt/python/okxcore/bots/__init__.py"
    assert _code_filename(layer / "pydantic" / "__init__.pyc") == "/opt/python/pydantic/__init__.py"
    assert not (layer / "pydantic" / "__init__.py").exists() and not (layer / "handlers").exists()
    assert not {"ccxt", "okx", "httpx", "aiohttp", "boto3"} & {p.name for p in layer.iterdir()}


def _pyc_flags(path: Path) -> int:
    return int.from_bytes(path.read_bytes()[4:8], "little")


def _code_filename(path: Path) -> str:
    import marshal

    return str(marshal.loads(path.read_bytes()[16:]).co_filename)  # noqa: S302 - our own build output


def _assert_imports_use_shipped_bytecode(built: Path, task: Path) -> None:
    """Our modules load from the shipped .pyc even when their source's mtime changed (as after unzipping): with
    every source made unusable, the import still works, and no module under the package was compiled."""
    shutil.copytree(built / "okxcore", task / "okxcore")
    for source in (task / "okxcore").rglob("*.py"):
        source.write_text(source.read_text() + "\nraise SystemExit('compiled from source: ' + __name__)\n")
    probe = (
        "import sys\ncompiled = []\n"
        "sys.addaudithook(lambda event, args: compiled.append(args[1]) if event == 'compile' else None)\n"
        "import okxcore.ips, okxcore.errors\n"
        "print([name for name in compiled if str(name).startswith(sys.argv[1])])\n"
    )
    done = subprocess.run(
        [sys.executable, "-S", "-c", probe, str(task)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(task), "PYTHONDONTWRITEBYTECODE": "1", "PATH": os.environ.get("PATH", "")},
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


LOCAL_ONLY_VARIABLES = (
    "OKX_SHIELD_LOCAL",
    "OKX_BASE_URL",
    "OKX_CA_BUNDLE",
    "SHIELD_CA_BUNDLE",
    "ECHO_URLS",
    "AWS_ENDPOINT_URL",
)


def test_local_only_variables_are_declared_empty_so_sam_local_can_set_them(template):
    """`sam local invoke --env-vars` only sets variables the template declares; a deployment leaves them empty."""
    from handlers.settings import RuntimeSettings

    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    for name in LOCAL_ONLY_VARIABLES:
        assert variables.get(name) == "", f"{name} must be declared with an empty default"
    plain = {name: value for name, value in variables.items() if isinstance(value, str)}
    deployed = RuntimeSettings.from_environ(
        {
            **plain,
            "SHIELD_SECRET_NAME": "s",
            "REPORT_TOPIC_ARN": "t",
            "STATE_TABLE_NAME": "x",
            "AWS_LAMBDA_FUNCTION_NAME": "okx-shield-probe",
        }
    )
    assert deployed.deployed
    assert deployed.okx_target() is None  # the key's region host: the empty defaults change nothing


def test_architecture_is_a_parameter_defaulting_to_arm64(template):
    parameter = template["Parameters"]["Architecture"]
    assert parameter["Default"] == "arm64"
    assert set(parameter["AllowedValues"]) == {"arm64", "x86_64"}
    assert template["Globals"]["Function"]["Architectures"] == [{"Ref": "Architecture"}]


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
    # events/ holds Scheduler Inputs: of the template's schedules, and of the plans' (whose schedules invoke the trade
    # function, okx-shield plans deploy). The fan-out function's inputs come from its state machine instead (run by
    # tests/audit/test_audit_fanout.py through okxlocal.fanout).
    scheduled = {name for name, r in functions(template).items() if "Events" in r["Properties"]}
    handlers = {
        functions(template)[name]["Properties"]["Handler"].split(".")[1]
        for name in scheduled | {plan_schedules_function(template)}
    }
    covered = set()
    for path in files:
        function = path.stem.split("-")[0].split("_")[0]
        assert function in handlers, f"{path.name} must start with one of {sorted(handlers)}"
        module = importlib.import_module(f"handlers.{function}")
        module.EVENT_MODEL.model_validate(json.loads(path.read_text()))
        covered.add(function)
    assert covered == handlers


def plan_schedules_function(template: dict[str, Any]) -> str:
    """The function the plans' schedules may invoke: the one PlanSchedulerRole grants lambda:InvokeFunction on."""
    [policy] = template["Resources"]["PlanSchedulerRole"]["Properties"]["Policies"]
    [invoke] = [s for s in policy["PolicyDocument"]["Statement"] if s["Action"] == "lambda:InvokeFunction"]
    return str(invoke["Resource"]["GetAtt"]).split(".")[0]


def test_plans_are_schedules_of_a_group_the_stack_owns_invoking_only_the_trade_function(template):
    """okx-shield plans deploy reads these outputs; the role may invoke the trade function and dead-letter, no more."""
    from okxcli.plans.deploy import STACK_OUTPUTS

    resources = template["Resources"]
    assert resources["PlanScheduleGroup"]["Type"] == "AWS::Scheduler::ScheduleGroup"
    assert plan_schedules_function(template) == "TradeFunction"
    # the plans are not in the template: no schedule of the trade function carries a plan
    for event in resources["TradeFunction"]["Properties"].get("Events", {}).values():
        assert "plan_id" not in str(event["Properties"]["Input"])
    role = resources["PlanSchedulerRole"]["Properties"]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    [policy] = role["Policies"]
    granted = {(s["Action"], str(s["Resource"])) for s in policy["PolicyDocument"]["Statement"]}
    assert granted == {
        ("lambda:InvokeFunction", str({"GetAtt": "TradeFunction.Arn"})),
        ("sqs:SendMessage", str({"GetAtt": "DeadLetterQueue.Arn"})),
    }
    outputs = template["Outputs"]
    for name in STACK_OUTPUTS.values():
        assert name in outputs, name
    assert outputs["PlanScheduleGroupName"]["Value"] == {"Ref": "PlanScheduleGroup"}


def test_samconfig_has_the_three_environments():
    import tomllib

    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    assert config["version"] == 0.1
    for environment in ("default", "dev", "prod"):
        assert "parameter_overrides" in config[environment]["deploy"]["parameters"]


REAL_DEPLOYMENT_PARAMETERS = ("ExpectedStaticIps", "AlertEmail", "MasterKeySecretName")


def test_samconfig_names_only_template_parameters_and_every_one_a_real_deployment_needs(template):
    """Read by SAM CLI's own parser: an override naming a parameter the template no longer has fails the deploy."""
    probe = (
        "import json, sys, tomllib\n"
        "from samcli.cli.types import CfnParameterOverridesType\n"
        "config = tomllib.load(open(sys.argv[1], 'rb'))\n"
        "parse = CfnParameterOverridesType().convert\n"
        "print(json.dumps({env: parse(config[env]['deploy']['parameters']['parameter_overrides'], None, None)"
        " for env in ('default', 'dev', 'prod')}))\n"
    )
    done = subprocess.run(
        [str(TOOLS / "python"), "-c", probe, str(ROOT / "samconfig.toml")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    overrides = json.loads(done.stdout)
    for environment, values in overrides.items():
        assert set(values) <= set(template["Parameters"]), environment
        # listed (empty until filled in), so that `sam deploy --guided` shows them and the file says what to fill
        assert set(REAL_DEPLOYMENT_PARAMETERS) <= set(values), environment
    text = (ROOT / "samconfig.toml").read_text()
    for documented in (*REAL_DEPLOYMENT_PARAMETERS, "ShieldSecretName", "DemoMode", "plans deploy", "UTC"):
        assert documented in text, documented


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


@pytest.mark.e2e  # sam build
def test_the_example_bot_builds_with_sam_build():
    example = ROOT / "examples" / "dca-bot"
    # ccxt and its dependencies take ~50 s to fetch and install. SAM keeps them between builds when the build
    # folder and its build graph stay (an incremental build: ~1 s when nothing changed, 26 s when the build folder
    # was new each time), and rebuilds when the source's or requirements' hashes change; so the build goes to a
    # folder that outlives the test run on this machine, one test run at a time.
    cache = Path.home() / ".cache" / "okx-shield"
    build_dir = cache / "sam-example-dca-bot-build" / "build"
    build_dir.parent.mkdir(parents=True, exist_ok=True)
    with (cache / "sam-example-dca-bot.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        sam_build(example / "template.yaml", build_dir, cache / "sam-example-dca-bot", "--cached")
        built = build_dir / "DcaBotFunction"
        assert (built / "app.py").read_bytes() == (example / "app.py").read_bytes()  # this checkout's bot
        assert (built / "ccxt" / "__init__.py").exists()  # the bot brings its own ccxt
        assert not (built / "okxcore").exists()  # okx-shield comes from the layer


def test_the_shipped_sam_env_vars_file_is_the_served_stack_and_names_only_declared_variables(template):
    """local/sam-local-env.json (`--env-vars`, docs/deploy.md): `sam local invoke` ignores a variable the template
    does not declare, so every one it sets must be declared (in Globals, or by every function it applies to)."""
    from okxlocal.served import DEFAULT_PORTS, ENV_VARS_FILE, USUAL_GATEWAY, env_vars_document

    document = json.loads(ENV_VARS_FILE.read_text())
    assert document == env_vars_document(USUAL_GATEWAY, DEFAULT_PORTS)
    declared_globally = set(template["Globals"]["Function"]["Environment"]["Variables"])
    for name in document["Parameters"]:
        users = [
            function
            for function, resource in functions(template).items()
            if name in resource["Properties"].get("Environment", {}).get("Variables", {})
        ]
        assert name in declared_globally or users, f"{name} is declared by no function: --env-vars would drop it"
