"""One probe run: the egress through Shield, every key's binding, the optional direct contrast, the
trading guard, the summary. The policy is in the package docstring."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from okxcore.egress import (
    EchoResult,
    EgressState,
    EgressVerdict,
    ask_echo,
    direct_echo_for_contrast,
    echo_label,
    judge_egress,
)
from okxcore.endpoints import NotAnOkxHostError
from okxcore.errors import InvalidInputError, OkxShieldError, ProxyError
from okxcore.probe.checks import KeyCheck
from okxcore.probe.event import ProbeConfig, ProbeEvent, probe_config
from okxcore.probe.fleet import KeyCheckBudget, check_keys, key_check_budget
from okxcore.probe.ports import DirectEcho, GuardStore, KeyBatchLoader, KeyLister, ProbeWiring
from okxcore.probe.reporting import ProbeFailedError, ProbeOutcome, ProbeRun, echo_findings, proxy_failure, summarise

SET_BY = "probe"


def run_probe(
    event: ProbeEvent,
    wiring: ProbeWiring,
    *,
    list_key_secrets: KeyLister,
    load_keys: KeyBatchLoader,
    direct_echo: DirectEcho = direct_echo_for_contrast,
    clock: Callable[[], float] = time.monotonic,
    time_left_s: float | None = None,
) -> ProbeOutcome:
    """One probe run. Always returns an outcome with a report; `outcome.failure` is set when the run must
    fail the invocation (after the report is published). `time_left_s`: the invocation's remaining time, which
    sets the key checks' budget (okxcore.probe.fleet); None outside Lambda. `list_key_secrets` and `load_keys`
    are the handler's (okxcore.aws.probe_keys): which key secrets there are, and reading them in batches."""
    settings = wiring.settings
    try:
        config = probe_config(event, settings)
    except InvalidInputError as exc:
        run = ProbeRun(ProbeConfig(settings.environment, (), (), "", "", "", settings.shield_secret_name))
        run.add("probe.config", exc.field, exc.message, remediation=exc.hint)
        run.summary.append("Nothing was checked: the function's configuration is invalid.")
        return ProbeOutcome(
            run.report(f"did not run: invalid configuration ({exc.field})"), failure=ProbeFailedError(exc.describe())
        )
    run = ProbeRun(config)
    try:
        budget = KeyCheckBudget(key_check_budget(time_left_s), clock(), clock)
        return _probe(
            run, wiring, list_key_secrets=list_key_secrets, load_keys=load_keys, direct_echo=direct_echo, budget=budget
        )
    except ProxyError as exc:
        return proxy_failure(run, exc)
    except OkxShieldError as exc:
        run.add(
            "probe.run",
            "probe",
            f"The probe stopped: {exc.message}",
            remediation=exc.hint,
        )
        return ProbeOutcome(
            run.report("stopped before it finished"), failure=ProbeFailedError(f"probe stopped: {exc.describe()}")
        )
    except Exception as exc:  # the user must hear of it; the class name is safe, the text may not be
        run.add(
            "probe.run",
            "probe",
            f"The probe stopped on an unexpected {exc.__class__.__name__}.",
        )
        failure = ProbeFailedError(f"probe stopped: {exc.__class__.__name__}")
        failure.__cause__ = exc  # for a developer's traceback; its text never reaches a report
        return ProbeOutcome(run.report("stopped before it finished"), failure=failure)


# Over 60 lines on purpose: the run's steps 1-6 in the order of the package docstring, each a call, read top
# to bottom; cutting it would scatter the order that the pause policy depends on.
def _probe(
    run: ProbeRun,
    wiring: ProbeWiring,
    *,
    list_key_secrets: KeyLister,
    load_keys: KeyBatchLoader,
    direct_echo: DirectEcho,
    budget: KeyCheckBudget,
) -> ProbeOutcome:
    config = run.config
    try:
        endpoint = wiring.shield()
    except NotAnOkxHostError as exc:  # the OKX target, checked before the Shield secret is read
        run.add("probe.okx_target", exc.source, exc.message, remediation=exc.hint)
        run.summary.append(
            f"Nothing was checked: the setting {exc.field} {exc.problem}, so no call was sent. Fix: {exc.hint}"
        )
        return ProbeOutcome(
            run.report(f"did not run: {exc.field} is not OKX's"), failure=ProbeFailedError(exc.describe())
        )
    except InvalidInputError as exc:
        run.add(
            "probe.shield_secret",
            exc.source or config.shield_secret_name,
            exc.message,
            remediation=exc.hint,
        )
        run.summary.append(
            "Nothing was checked: the Shield settings cannot be used, so no call can leave through Shield."
        )
        return ProbeOutcome(
            run.report("did not run: the Shield secret cannot be used"), failure=ProbeFailedError(exc.describe())
        )
    expected = endpoint.expected_ips
    run.details["proxy"] = endpoint.address
    run.details["expected_ips"] = list(expected)
    # One session for the echoes and every key: the pool keeps a tunnel per concurrent key check.
    session = wiring.session(pool_maxsize=config.pool_maxsize)

    # 1-2: the egress, as the echo services see it through Shield.
    results = [ask_echo(session, url, clock=budget.clock) for url in config.echo_urls]
    verdict = judge_egress(results, expected)
    echo_findings(run, results, verdict)
    latencies = [r.latency_ms for r in results if r.answered and r.latency_ms is not None]
    latency_ms = round(statistics.fmean(latencies), 1) if latencies else None

    # 3: every managed key's binding, as OKX reports it.
    checks = check_keys(run, wiring, verdict, list_key_secrets, budget=budget, load_keys=load_keys)
    okx_seen_outside = _okx_seen_outside(run, checks, expected)

    # 3b: the opt-in repair of what step 3 found. Imported only when on, for the cold start alone (no cycle: it
    # imports checks, ports and reporting): it would add about 10 ms to every probe's import.
    if config.repair_mode != "off":
        from okxcore.probe.repair import repair_probe_keys

        egress_confirmed = verdict.state is EgressState.MATCH and not okx_seen_outside
        repair_probe_keys(run, wiring, checks, expected, egress_confirmed=egress_confirmed)

    # 4: the optional direct contrast.
    if config.direct_echo_for_contrast:
        _direct_contrast(run, config, direct_echo)

    # 5-6: the verdict, the guard, the report.
    egress_ok = verdict.state is EgressState.MATCH and not okx_seen_outside
    wrong_ips = tuple(dict.fromkeys((*verdict.outside, *okx_seen_outside)))
    trading = _apply_guard(run, wiring.state, wrong_ips=wrong_ips, confirmed=egress_ok, expected=expected)
    checked = [c for c in checks if c.checked]
    bound_ok = [c for c in checked if c.correctly_bound]
    needing = sum(1 for check in checks if any(f.is_problem for f in check.findings))
    title = summarise(run, verdict, expected, len(checks), len(checked), len(bound_ok), egress_ok, wrong_ips, needing)
    run.details["egress"] = _egress_details(verdict, okx_seen_outside)
    run.details["trading"] = trading
    return ProbeOutcome(
        run.report(title),
        egress_match=egress_ok,
        latency_ms=latency_ms,
        keys_checked=len(checked),
        keys_correctly_bound=len(bound_ok),
        trading=trading,
    )


def _okx_seen_outside(run: ProbeRun, checks: list[KeyCheck], expected: tuple[str, ...]) -> tuple[str, ...]:
    """The IPs OKX named in 50110 answers that are not Shield's: a second, independent egress observation."""
    seen = tuple(
        dict.fromkeys(c.okx_seen_ip for c in checks if c.okx_seen_ip and expected and c.okx_seen_ip not in expected)
    )
    if seen:
        run.add(
            "probe.egress.okx_seen",
            "egress",
            f"OKX saw calls from {', '.join(seen)}, which is not a Shield static IP.",
            observed=", ".join(seen),
            expected=", ".join(expected),
        )
    return seen


def _egress_details(verdict: EgressVerdict, okx_seen_outside: tuple[str, ...]) -> dict[str, Any]:
    return {
        "state": verdict.state.value if not okx_seen_outside else EgressState.MISMATCH.value,
        "consensus_ip": verdict.consensus_ip,
        "answers": verdict.answers,
        "unanswered": verdict.unanswered,
        "okx_seen_outside": list(okx_seen_outside),
    }


def _direct_contrast(run: ProbeRun, config: ProbeConfig, direct_echo: DirectEcho) -> None:
    url = config.echo_urls[0]
    try:
        result = direct_echo(url, ca_bundle=config.direct_echo_ca_bundle)
    except OkxShieldError as exc:
        result = EchoResult(echo_label(url), url, problem=exc.message, proxied=False)
    run.details["direct_echo"] = {"service": result.service, "ip": result.ip, "problem": result.problem}
    if result.ip:
        run.summary.append(
            f"For contrast, a direct (not proxied) call to {result.service} left from {result.ip}: the function's "
            "own, rotating address. Never bind it to a key; OKX never sees it."
        )
    else:
        run.summary.append(f"The direct contrast call to {result.service} gave no IP ({result.problem}).")


def _apply_guard(
    run: ProbeRun, state: GuardStore, *, wrong_ips: tuple[str, ...], confirmed: bool, expected: tuple[str, ...]
) -> str:
    try:
        if wrong_ips:
            reason = (
                f"egress {', '.join(wrong_ips)} is not a Shield static IP (expected {', '.join(expected)}); "
                "paused by the IP probe"
            )
            state.pause_trading(reason, set_by=SET_BY)
            run.summary.append(f"Trading PAUSED: {reason}. The next probe that confirms the egress resumes it.")
            return "paused"
        guard = state.trading_guard()
        if not guard.paused:
            return "running"
        if confirmed and guard.set_by == SET_BY:
            state.resume_trading(set_by=SET_BY)
            run.summary.append(
                f"Trading resumed: the egress is a Shield static IP again (paused since {guard.since}: {guard.reason})."
            )
            return "resumed"
        why = (
            "the egress was not confirmed in this run"
            if guard.set_by == SET_BY
            else "the probe only lifts its own pauses"
        )
        run.summary.append(
            f"Trading stays paused (set by {guard.set_by or 'unknown'} since {guard.since}: {guard.reason}); {why}."
        )
        return "stays-paused"
    except Exception as exc:  # boto3's errors carry codes and ARNs only; still, only the class name is reported
        run.add(
            "probe.guard:set" if wrong_ips else "probe.guard:read",
            "trading-guard",
            f"The trading guard could not be {'set' if wrong_ips else 'read'} ({exc.__class__.__name__}).",
        )
        return "unknown"
