"""The probe's report: the findings collector, the outcome the handler reads, and the report texts for
the egress verdict, a proxy failure and an invalid event."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from okxcore.egress import (
    MIN_ECHO_SERVICES,
    EchoResult,
    EgressState,
    EgressVerdict,
)
from okxcore.errors import InvalidInputError, OkxShieldError, ProxyError
from okxcore.findings import finding
from okxcore.invalid_input import invalid_input_report
from okxcore.report import Finding, MetricPoint, Report

if TYPE_CHECKING:
    from okxcore.probe.event import ProbeConfig

PROBE_TITLE = "Shield egress and key binding probe"  # what the probe is (docs/functions.md); titles say what it found

# --- errors -------------------------------------------------------------------------------------


class ProbeFailedError(OkxShieldError):
    """The probe could not do its job (proxy down, bad configuration, invalid event). Raised after the
    CRITICAL report was published, so that Lambda's error metrics and the DLQ see the run too."""


@dataclass
class ProbeOutcome:
    report: Report
    egress_match: bool = False
    latency_ms: float | None = None
    keys_checked: int = 0
    keys_correctly_bound: int = 0
    trading: str = "unchanged"  # paused | resumed | running | stays-paused | unchanged
    failure: ProbeFailedError | None = None

    @property
    def metrics(self) -> list[MetricPoint]:
        out = [
            MetricPoint("EgressMatch", "Count", 1.0 if self.egress_match else 0.0),
            MetricPoint("KeysChecked", "Count", float(self.keys_checked)),
            MetricPoint("KeysCorrectlyBound", "Count", float(self.keys_correctly_bound)),
        ]
        if self.latency_ms is not None:
            out.append(MetricPoint("ProbeLatencyMs", "Milliseconds", float(self.latency_ms)))
        return out

    def raise_if_failed(self) -> None:
        if self.failure is not None:
            raise self.failure


class FindingSink:
    """Where findings are collected: the run's own, or one key's until the run takes them in the keys' order
    (concurrent key checks finish in any order; the report's order must not depend on it)."""

    findings: list[Finding]

    def add(
        self,
        key: str,
        resource: str,
        message: str,
        *,
        observed: str = "",
        expected: str = "",
        remediation: str | None = None,
    ) -> None:
        """A finding weighed by the table in okxcore.findings; `remediation=None` takes the table's fix."""
        self.findings.append(
            finding(key, resource, message, observed=observed, expected=expected, remediation=remediation)
        )


@dataclass
class ProbeRun(FindingSink):
    config: ProbeConfig
    findings: list[Finding] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)
    tables: dict[str, list[list[str]]] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def report(self, title: str) -> Report:
        """The run's report; `title` is its outcome, first ("egress OK, 2 of 7 key(s) need attention")."""
        return Report(
            report_type="probe",
            environment=self.config.environment,
            title=title,
            findings=self.findings,
            summary=self.summary,
            tables=self.tables,
            details=self.details,
        )


def invalid_event_report(error: InvalidInputError, *, environment: str) -> Report:
    """The report for an event the probe cannot run with; the handler raises after publishing it."""
    return invalid_input_report("probe", error, environment=environment, not_done="Nothing was checked.")


def proxy_failure(run: ProbeRun, error: ProxyError) -> ProbeOutcome:
    run.add(
        "probe.proxy",
        "shield-proxy",
        error.message,
        observed=error.__class__.__name__,
        remediation=error.hint,
    )
    run.summary[:0] = [
        f"Shield is not usable: {error.describe()}",
        "Nothing was sent to OKX (okx-shield never falls back to a direct connection), so every trade fails closed "
        "until the proxy works again. Egress and key bindings could not be checked in this run.",
    ]
    run.details["proxy_error"] = error.__class__.__name__
    return ProbeOutcome(
        run.report("Shield proxy failed: nothing reached OKX, every trade fails closed"),
        failure=ProbeFailedError(f"Shield proxy failure: {error.describe()}"),
    )


def _echo_table(run: ProbeRun, results: Sequence[EchoResult]) -> None:
    """Every echo service's answer, and a finding for each that gave none."""
    rows = [["echo service (through Shield)", "answer", "ms"]]
    for result in results:
        rows.append(
            [
                result.service,
                result.ip or f"- ({result.problem})",
                f"{result.latency_ms:.0f}" if result.latency_ms else "",
            ]
        )
        if not result.answered:
            run.add(
                "probe.egress.echo",
                result.service,
                f"Echo service {result.service} gave no usable answer through Shield: {result.problem}.",
            )
    run.tables["Echo services"] = rows


def echo_findings(run: ProbeRun, results: Sequence[EchoResult], verdict: EgressVerdict) -> None:
    _echo_table(run, results)
    expected_text = ", ".join(verdict.expected_ips)
    observed = "; ".join(f"{service}: {ip}" for service, ip in verdict.answers.items()) or "no answers"
    asked, answered = len(results), len(verdict.answers)
    if verdict.state is EgressState.UNCONFIGURED:
        run.add(
            "probe.egress.expected_ips",
            "shield-secret",
            "No expected static IPs are configured, so the probe cannot tell whether traffic leaves through Shield.",
            observed=observed,
            expected="Shield's two static IPs in the Shield secret's expected_ips",
        )
    elif verdict.state is EgressState.UNKNOWN:
        run.add(
            "probe.egress.consensus:unknown",
            "egress",
            f"None of the {asked} echo services answered through Shield: the egress IP is unknown.",
            expected=expected_text,
        )
    elif verdict.state is EgressState.MISMATCH:
        seen_by = ", ".join(s for s, ip in verdict.answers.items() if ip in verdict.outside)
        run.add(
            "probe.egress.consensus:mismatch",
            "egress",
            f"Egress {', '.join(verdict.outside)} is not a Shield static IP (seen by {seen_by}).",
            observed=observed,
            expected=expected_text,
        )
    else:
        if verdict.split:
            message = (
                f"Echo services saw different Shield static IPs ({', '.join(verdict.distinct_ips)}): Shield "
                "load-balances over both, as expected."
            )
        else:
            message = (
                f"Egress {verdict.consensus_ip} is a Shield static IP ({answered} of {asked} echo services agree)."
            )
        single = answered < MIN_ECHO_SERVICES
        run.add(
            "probe.egress.consensus:single" if single else "probe.egress.consensus:match",
            "egress",
            message + (" Only one service answered, so there was no independent confirmation." if single else ""),
            observed=observed,
            expected=expected_text,
        )
    if verdict.split and verdict.state is not EgressState.MATCH:
        run.add(
            "probe.egress.disagreement",
            "egress",
            f"The echo services disagree: {observed}.",
        )


def summarise(
    run: ProbeRun,
    verdict: EgressVerdict,
    expected: tuple[str, ...],
    keys: int,
    keys_checked: int,
    keys_bound: int,
    egress_ok: bool,
    wrong_ips: tuple[str, ...],
    needing: int = 0,
) -> str:
    """The summary's first lines; `keys` configured, `keys_checked` at OKX, `keys_bound` to every Shield IP,
    `needing` attention (a finding). Returns the report's title: the egress verdict and the keys, outcome first."""
    answered, asked = len(verdict.answers), len(verdict.answers) + len(verdict.unanswered)
    if wrong_ips:
        egress = f"egress NOT Shield's ({', '.join(wrong_ips)})"
        line = f"Egress: WRONG. {', '.join(wrong_ips)} is not a Shield static IP."
    elif egress_ok and verdict.split:
        egress = "egress OK"
        line = (
            f"Egress: Shield static IPs {', '.join(verdict.distinct_ips)}; the echo services saw different ones, "
            f"as Shield load-balances over both ({answered} of {asked} answered)."
        )
    elif egress_ok:
        egress = "egress OK"
        line = f"Egress: {verdict.consensus_ip}, a Shield static IP ({answered} of {asked} echo services agree)."
    elif verdict.state is EgressState.UNCONFIGURED:
        egress = "egress not verified (no expected_ips)"
        line = f"Egress: {verdict.consensus_ip or 'unknown'}; not verified (no expected_ips configured)."
    else:
        egress = "egress unknown (no echo answered)"
        line = f"Egress: unknown ({answered} of {asked} echo services answered)."
    lines = [line, f"Shield static IPs expected: {', '.join(expected) or '(none configured)'}."]
    if keys:
        lines.append(f"Keys: {keys} configured, {keys_checked} checked at OKX, {keys_bound} bound to every Shield IP.")
    run.summary[:0] = lines
    return egress + (f", {needing} of {keys} key(s) need attention" if keys else "")
