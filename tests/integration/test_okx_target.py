"""Signed calls go to OKX's own hosts only: another base URL needs the local setting, which a deployed function
refuses. Each refusal is reported to SNS and nothing reaches the simulator."""

from __future__ import annotations

import pytest

from handlers.settings import RuntimeSettings
from okxcore.client import OkxClient
from okxcore.endpoints import NotAnOkxHostError, okx_base_url
from okxlocal.seeds import new_key, seed_with

BASE = {"SHIELD_SECRET_NAME": "s", "REPORT_TOPIC_ARN": "arn:t", "STATE_TABLE_NAME": "t"}


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("https://www.okx.com", "https://www.okx.com"),
        ("https://EEA.okx.com/", "https://eea.okx.com"),
        ("https://us.okx.com:443", "https://us.okx.com"),
        ("https://www.okx.com.", "https://www.okx.com"),
    ],
)
def test_okx_hosts_are_accepted_in_canonical_form(url, canonical):
    assert okx_base_url(url, allow_other_hosts=False) == canonical


@pytest.mark.parametrize(
    "url",
    [
        "https://attacker.example",
        "https://www.okx.com.attacker.example",
        "https://www.okex.com",
        "https://my.okx.com",
        "https://www.okx.com:8443",
        "http://www.okx.com",
        "https://user:pw@www.okx.com",
        "https://www.okx.com/api",
        "https://www.okx.com?x=1",
        "https://127.0.0.1:8443",
        "www.okx.com",
        "https://[::1",
    ],
)
def test_any_other_base_url_is_refused_without_the_local_setting(url):
    with pytest.raises(NotAnOkxHostError) as caught:
        okx_base_url(url, allow_other_hosts=False)
    assert caught.value.field == "OKX_BASE_URL"
    assert "pw" not in caught.value.describe()


def test_the_client_itself_refuses_a_non_okx_host_unless_told_it_is_the_simulator(local_stack):
    stack = local_stack(seed_with([new_key("5001", "bot")]))
    from handlers.wiring import Wiring

    session = Wiring.from_environ().session()
    with pytest.raises(NotAnOkxHostError):
        OkxClient(session, base_url=stack.sim.url)
    assert OkxClient(session, base_url=stack.sim.url, allow_other_hosts=True).server_time().ts > 0


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"OKX_BASE_URL": "https://attacker.example"}, "OKX_BASE_URL"),
        ({"OKX_CA_BUNDLE": "/tmp/ca.pem"}, "OKX_CA_BUNDLE"),
        ({"OKX_SHIELD_LOCAL": "true", "AWS_LAMBDA_FUNCTION_NAME": "okx-shield-trade"}, "OKX_SHIELD_LOCAL"),
    ],
)
def test_settings_refuse_overrides_that_a_deployment_must_not_have(env, field):
    settings = RuntimeSettings.from_environ({**BASE, **env})
    with pytest.raises(NotAnOkxHostError) as caught:
        settings.okx_target()
    assert caught.value.field == field


@pytest.mark.parametrize(
    "env",
    [
        {"OKX_REGION_BASE_URLS": "eea=https://localhost:8444"},  # without the local setting
        {"OKX_REGION_BASE_URLS": "eea=https://x:1", "OKX_SHIELD_LOCAL": "true", "AWS_LAMBDA_FUNCTION_NAME": "f"},
        {"OKX_REGION_BASE_URLS": "europe=https://localhost:8444", "OKX_SHIELD_LOCAL": "true"},  # not a region
    ],
)
def test_the_simulators_regional_hosts_are_a_local_setting_only(env):
    settings = RuntimeSettings.from_environ({**BASE, **env})
    with pytest.raises(NotAnOkxHostError) as caught:
        settings.region_urls()
    assert caught.value.field == "OKX_REGION_BASE_URLS"


def test_a_local_run_sends_each_key_to_its_regions_host_and_knows_when_other_regions_cannot_be_asked():
    local = {**BASE, "OKX_SHIELD_LOCAL": "true"}
    regional = RuntimeSettings.from_environ(
        {**local, "OKX_BASE_URL": "https://localhost:8443", "OKX_REGION_BASE_URLS": "eea=https://localhost:8444"}
    )
    assert regional.base_url_for("eea") == "https://localhost:8444"
    assert regional.base_url_for("us") == "https://us.okx.com"  # a region the setting does not name: OKX's host
    assert regional.other_regions_reachable()
    one_host = RuntimeSettings.from_environ({**local, "OKX_BASE_URL": "https://localhost:8443"})
    assert one_host.base_url_for("eea") == "https://localhost:8443" and not one_host.other_regions_reachable()
    assert RuntimeSettings.from_environ(BASE).base_url_for("eea") is None  # the client takes eea.okx.com


def test_sam_local_is_not_a_deployment_and_a_local_run_may_use_the_simulator():
    env = {**BASE, "OKX_SHIELD_LOCAL": "true", "AWS_LAMBDA_FUNCTION_NAME": "f", "AWS_SAM_LOCAL": "true"}
    settings = RuntimeSettings.from_environ({**env, "OKX_BASE_URL": "https://localhost:8443"})
    assert not settings.deployed
    assert settings.okx_target() == "https://localhost:8443"
    assert RuntimeSettings.from_environ({**BASE, "OKX_BASE_URL": "https://eea.okx.com"}).okx_target() == (
        "https://eea.okx.com"
    )


def _refused_target_stack(local_stack, monkeypatch, env: dict[str, str]):
    stack = local_stack(seed_with([new_key("5002", "bot-main")]))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return stack


def _invoke(function: str, event: dict, lambda_context) -> Exception:
    from okxlocal.runner import invoke

    try:
        invoke(function, event)
    except Exception as exc:  # the handler reports and then raises; the type is asserted by the caller
        return exc
    raise AssertionError("the invocation should have failed")


@pytest.mark.parametrize("function", ["probe", "audit", "trade"])
@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"OKX_SHIELD_LOCAL": ""}, "OKX_BASE_URL"),  # the simulator's URL without the local setting
        ({"AWS_LAMBDA_FUNCTION_NAME": "okx-shield-fn"}, "OKX_SHIELD_LOCAL"),  # the local setting, deployed
    ],
    ids=["not-okx", "deployed"],
)
def test_each_function_reports_a_refused_target_and_nothing_reaches_okx(
    local_stack, lambda_context, monkeypatch, function, env, field
):
    # Given the local stack, with an OKX target a deployment must not have
    stack = _refused_target_stack(local_stack, monkeypatch, env)
    event = {"probe": {}, "audit": {}, "trade": _dca_event()}[function]
    # When the function runs
    _invoke(function, event, lambda_context)
    # Then one CRITICAL report names the setting, and the simulator saw no request at all
    [report] = stack.reports()
    assert report.attributes["severity"] == "CRITICAL", report.body
    assert f"'{field}'" in report.text
    assert stack.sim.stats.total_requests() == 0


def _dca_event() -> dict:
    import json
    from datetime import UTC, datetime
    from pathlib import Path

    event = json.loads((Path(__file__).parents[2] / "events" / "trade-dca.json").read_text())
    event["scheduled_time"] = datetime.now(UTC).replace(microsecond=0).isoformat()
    return event


@pytest.mark.parametrize(
    ("env", "field", "fix"),
    [
        ({"OKX_SHIELD_LOCAL": ""}, "OKX_BASE_URL", "Leave OKX_BASE_URL unset"),
        (
            {"OKX_SHIELD_LOCAL": "", "OKX_BASE_URL": "", "OKX_CA_BUNDLE": "ca.pem"},
            "OKX_CA_BUNDLE",
            "Remove OKX_CA_BUNDLE",
        ),
    ],
    ids=["not-okx", "ca-override"],
)
def test_the_probe_summary_names_the_refused_setting_and_its_fix_not_the_shield_secret(
    local_stack, lambda_context, monkeypatch, env, field, fix
):
    # Given a working Shield secret, and an OKX target the function refuses
    stack = _refused_target_stack(local_stack, monkeypatch, env)
    # When the probe runs
    _invoke("probe", {}, lambda_context)
    # Then its summary says which setting is wrong and how to fix it, and does not blame the Shield settings
    [report] = stack.reports()
    summary = report.body.split("Findings, worst first:")[0]
    assert f"{field} " in summary and fix in summary, summary
    assert "Shield settings" not in summary and "Shield secret" not in summary, summary
    assert "check: probe.okx_target" in report.text
    assert stack.sim.stats.total_requests() == 0
