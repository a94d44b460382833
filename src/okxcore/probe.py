"""The IP-verification probe: prove the egress IP is one of Shield's, and that every OKX key is bound to it.

The user must learn that egress or binding is wrong BEFORE a trade fails or OKX deletes a key. One run:

1. Asks several independent HTTPS IP-echo services which IP they see, through the very same ShieldSession
   that talks to OKX. Answers are parsed by their content (JSON `{"ip": ..}`, a JSON string, or a bare IP
   in text), never by trusting the URL or the Content-Type. Every unreachable or odd echo is reported.
2. Judges the answers against Shield's static IPs (the Shield secret's `expected_ips`).
3. Calls account/config for every managed key and compares its bound `ip` list with the expected IPs.
   A 50110 answer names the IP OKX saw: that is a second, independent egress observation.
4. Optionally makes ONE direct (non-proxied) echo call for contrast (off by default).
5. Pauses trading when egress is wrong, and lifts a pause it set itself once egress is right again.

Pause policy (fail closed, but not on noise): trading is paused when ANY observed egress IP (an echo
answer, or the IP OKX named in a 50110) is outside the expected set, because then at least some traffic
is leaving from somewhere else. Echo services that disagree while all their answers are Shield IPs do not
pause: Shield load-balances over both static IPs, so two connections may leave from different ones. An
echo that is down, or no echo answering at all, does not pause either (nothing proves egress wrong); it
is reported, and a pause set earlier stays until a run confirms the egress again. The probe only lifts
pauses it set itself (set_by "probe"); a pause set by a person or another function is left alone.

A proxy that is unreachable, rejects its credentials, or stalls ends the run: a CRITICAL report naming the
cause, no direct fallback, and a failure the handler raises after publishing. No secret ever enters a
finding, summary, table, detail or exception text: keys are named by label or secret name only.

The building blocks (echo URLs and answers, consensus, binding comparison) live in okxcore.egress; this
module runs them, decides severities, drives the trading guard and writes the report.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator

from okxcore.egress import (
    DEFAULT_ECHO_URLS,
    MIN_ECHO_SERVICES,
    BindingComparison,
    EchoResult,
    EchoUrlError,
    EgressState,
    EgressVerdict,
    ask_echo,
    canonical_ip,
    compare_binding,
    direct_echo_for_contrast,
    echo_label,
    judge_egress,
    validate_echo_urls,
)
from okxcore.errors import (
    EnvironmentMismatchError,
    InvalidInputError,
    InvalidSignatureError,
    IpNotAllowedError,
    KeyGoneError,
    OkxApiError,
    OkxShieldError,
    OkxTransportError,
    PassphraseError,
    ProxyError,
    RateLimitedError,
    SecretFormatError,
    ServiceBusyError,
)
from okxcore.report import Finding, Report, Severity, Status
from okxcore.transport import ShieldSession

if TYPE_CHECKING:
    from okxcore.aws.state import TradingGuard
    from okxcore.client import OkxClient
    from okxcore.credentials import OkxKeySecret, ShieldSecret
    from okxcore.models import AccountConfig
    from okxcore.shield import ShieldEndpoint

MAX_KEYS_PER_RUN = 100  # OKX allows 50 keys per account; a run over this would outlast the Lambda timeout
# No key check starts after this many seconds of a run: the function's timeout is 60 s (template.yaml), and
# a report about the keys checked so far beats a run killed before it published anything.
KEY_CHECK_BUDGET_S = 40.0
SET_BY = "probe"
PROBE_TITLE = "Shield egress and key binding probe"


# --- errors -------------------------------------------------------------------------------------


class ProbeFailedError(OkxShieldError):
    """The probe could not do its job (proxy down, bad configuration, invalid event). Raised after the
    CRITICAL report was published, so that Lambda's error metrics and the DLQ see the run too."""


# --- the event --------------------------------------------------------------------------------------


class ProbeEvent(BaseModel):
    """What EventBridge Scheduler (or a person) sends. Every field is optional: `{}` is a valid run."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    # Scheduler's "<aws.scheduler.scheduled-time>": the same for every retry of one slot (correlation id).
    scheduled_time: str | None = Field(default=None, max_length=64)
    # Override ECHO_URLS / the defaults for this run.
    echo_urls: tuple[str, ...] | None = None
    # Override KEY_SECRET_NAMES / KEY_SECRET_PREFIX for this run.
    key_secret_names: tuple[str, ...] | None = Field(default=None, max_length=MAX_KEYS_PER_RUN)
    # One non-proxied echo call to show the rotating Lambda IP next to Shield's. Never touches OKX.
    direct_echo_for_contrast: StrictBool = False

    @field_validator("echo_urls")
    @classmethod
    def _echo_urls(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        try:
            return validate_echo_urls(value, source="probe event", field="echo_urls")
        except EchoUrlError as exc:
            # pydantic names the list; the entry's index is only known here.
            raise ValueError(exc.problem if exc.field == "echo_urls" else f"{exc.field} {exc.problem}") from None

    @field_validator("key_secret_names")
    @classmethod
    def _key_names(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        names = tuple(dict.fromkeys(name.strip() for name in value))
        if not names or any(not name or len(name) > 512 for name in names):
            raise ValueError("must list one or more non-empty secret names (at most 512 characters each)")
        return names


def parse_probe_event(event: object) -> ProbeEvent:
    """The validated event; an InvalidInputError naming the first bad field otherwise (never its value)."""
    if event is None:
        event = {}
    if not isinstance(event, Mapping):
        raise InvalidInputError(
            "probe event", "(whole event)", "is not a JSON object", hint='Send a JSON object, e.g. {} or {"...": ..}.'
        )
    try:
        return ProbeEvent.model_validate(dict(event))
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        name = ".".join(str(part) for part in first["loc"]) or "(whole event)"
        kind = first.get("type", "")
        if kind == "extra_forbidden":
            problem = "is not a known field (check its spelling)"
        else:
            problem = str(first.get("msg", "is invalid")).removeprefix("Value error, ")
        raise InvalidInputError(
            "probe event",
            name,
            problem,
            hint="Known fields: scheduled_time, echo_urls (2+ https URLs), key_secret_names (list), "
            "direct_echo_for_contrast (true/false).",
        ) from None


# --- the run --------------------------------------------------------------------------------------


class GuardStore(Protocol):
    def trading_guard(self) -> TradingGuard: ...
    def pause_trading(self, reason: str, *, set_by: str) -> None: ...
    def resume_trading(self, *, set_by: str) -> bool: ...


class ProbeSettings(Protocol):
    """The function settings the probe reads (handlers.settings.RuntimeSettings has them all)."""

    @property
    def environment(self) -> str: ...
    @property
    def shield_secret_name(self) -> str: ...
    @property
    def key_secret_names(self) -> str: ...
    @property
    def key_secret_prefix(self) -> str: ...
    @property
    def key_secret_tag(self) -> str: ...
    @property
    def echo_urls(self) -> str: ...
    @property
    def okx_ca_bundle(self) -> str | None: ...


class ProbeWiring(Protocol):
    """What the probe needs from handlers.wiring.Wiring (which satisfies this as it is)."""

    @property
    def settings(self) -> ProbeSettings: ...
    @property
    def state(self) -> GuardStore: ...
    def shield(self) -> tuple[ShieldSecret, ShieldEndpoint]: ...
    def session(self) -> ShieldSession: ...
    def load_key(self, secret_name: str) -> OkxKeySecret: ...
    def client(self, key: OkxKeySecret | None, *, key_name: str = "", record_use: bool = True) -> OkxClient: ...


KeyLister = Callable[..., list[str]]  # (prefix, *, tag, exclude) -> secret names
DirectEcho = Callable[..., EchoResult]  # (url, *, ca_bundle) -> EchoResult


@dataclass(frozen=True)
class ProbeConfig:
    environment: str
    echo_urls: tuple[str, ...]
    key_secret_names: tuple[str, ...]  # explicit names; empty: discover by prefix
    key_names_source: str
    key_secret_prefix: str
    key_secret_tag: str
    shield_secret_name: str
    direct_echo_for_contrast: bool = False
    direct_echo_ca_bundle: str | None = None


def probe_config(event: ProbeEvent, settings: ProbeSettings) -> ProbeConfig:
    """The event's choices over the function's settings over the defaults. Bad ECHO_URLS raise, naming it."""
    if event.echo_urls is not None:
        echo_urls = event.echo_urls
    elif settings.echo_urls.strip():
        parts = [part for part in settings.echo_urls.split(",") if part.strip()]
        echo_urls = validate_echo_urls(parts, source="function environment", field="ECHO_URLS")
    else:
        echo_urls = DEFAULT_ECHO_URLS
    if event.key_secret_names is not None:
        names, source = event.key_secret_names, "the event's key_secret_names"
    else:
        names = tuple(dict.fromkeys(p.strip() for p in settings.key_secret_names.split(",") if p.strip()))
        source = "KEY_SECRET_NAMES" if names else ""
    return ProbeConfig(
        environment=settings.environment,
        echo_urls=echo_urls,
        key_secret_names=names,
        key_names_source=source,
        key_secret_prefix=settings.key_secret_prefix,
        key_secret_tag=settings.key_secret_tag,
        shield_secret_name=settings.shield_secret_name,
        direct_echo_for_contrast=event.direct_echo_for_contrast,
        direct_echo_ca_bundle=settings.okx_ca_bundle,
    )


@dataclass
class KeyCheck:
    secret_name: str
    label: str
    checked: bool = False  # account/config answered
    perm: frozenset[str] = frozenset()
    binding: BindingComparison | None = None
    okx_seen_ip: str | None = None
    result: str = ""  # a short word for the table

    @property
    def correctly_bound(self) -> bool:
        return self.binding is not None and self.binding.complete


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
    def metrics(self) -> list[tuple[str, str, float]]:
        """(name, CloudWatch unit, value). No dimension is derived from a key, label or secret."""
        out: list[tuple[str, str, float]] = [
            ("EgressMatch", "Count", 1.0 if self.egress_match else 0.0),
            ("KeysChecked", "Count", float(self.keys_checked)),
            ("KeysCorrectlyBound", "Count", float(self.keys_correctly_bound)),
        ]
        if self.latency_ms is not None:
            out.append(("ProbeLatencyMs", "Milliseconds", float(self.latency_ms)))
        return out

    def raise_if_failed(self) -> None:
        if self.failure is not None:
            raise self.failure


@dataclass
class _Run:
    config: ProbeConfig
    findings: list[Finding] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)
    tables: dict[str, list[list[str]]] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def add(self, check_id: str, severity: Severity, status: Status, resource: str, message: str, **kw: str) -> None:
        self.findings.append(
            Finding(check_id=check_id, severity=severity, status=status, resource=resource, message=message, **kw)
        )

    def report(self, title: str = PROBE_TITLE) -> Report:
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
    return Report(
        report_type="probe",
        environment=environment,
        title=f"{PROBE_TITLE}: invalid event",
        findings=[
            Finding(
                check_id="probe.event",
                severity=Severity.HIGH,
                status=Status.ERROR,
                resource=error.field,
                message=f"The probe did not run: {error.message}",
                remediation=error.hint,
            )
        ],
        summary=["Nothing was checked: fix the event (or the schedule's Input) and run again."],
    )


def run_probe(
    event: ProbeEvent,
    wiring: ProbeWiring,
    *,
    list_key_secrets: KeyLister | None = None,
    direct_echo: DirectEcho = direct_echo_for_contrast,
    clock: Callable[[], float] = time.monotonic,
) -> ProbeOutcome:
    """One probe run. Always returns an outcome with a report; `outcome.failure` is set when the run must
    fail the invocation (after the report is published)."""
    settings = wiring.settings
    try:
        config = probe_config(event, settings)
    except InvalidInputError as exc:
        run = _Run(ProbeConfig(settings.environment, (), (), "", "", "", settings.shield_secret_name))
        run.add("probe.config", Severity.HIGH, Status.ERROR, exc.field, exc.message, remediation=exc.hint)
        run.summary.append("Nothing was checked: the function's configuration is invalid.")
        return ProbeOutcome(run.report(), failure=ProbeFailedError(exc.describe()))
    run = _Run(config)
    try:
        return _probe(run, wiring, list_key_secrets=list_key_secrets, direct_echo=direct_echo, clock=clock)
    except ProxyError as exc:
        return _proxy_failure(run, exc)
    except OkxShieldError as exc:
        run.add(
            "probe.run",
            Severity.CRITICAL,
            Status.ERROR,
            "probe",
            f"The probe stopped: {exc.message}",
            remediation=exc.hint,
        )
        return ProbeOutcome(run.report(), failure=ProbeFailedError(f"probe stopped: {exc.describe()}"))
    except Exception as exc:  # the user must hear of it; the class name is safe, the text may not be
        run.add(
            "probe.run",
            Severity.CRITICAL,
            Status.ERROR,
            "probe",
            f"The probe stopped on an unexpected {exc.__class__.__name__}.",
            remediation="Run it locally (okx-shield invoke probe) to see the traceback; report it if it persists.",
        )
        failure = ProbeFailedError(f"probe stopped: {exc.__class__.__name__}")
        failure.__cause__ = exc  # for a developer's traceback; its text never reaches a report
        return ProbeOutcome(run.report(), failure=failure)


def _probe(
    run: _Run,
    wiring: ProbeWiring,
    *,
    list_key_secrets: KeyLister | None,
    direct_echo: DirectEcho,
    clock: Callable[[], float],
) -> ProbeOutcome:
    config = run.config
    started = clock()
    try:
        _secret, endpoint = wiring.shield()
    except InvalidInputError as exc:
        run.add(
            "probe.shield_secret",
            Severity.CRITICAL,
            Status.ERROR,
            exc.source or config.shield_secret_name,
            exc.message,
            remediation=exc.hint,
        )
        run.summary.append(
            "Nothing was checked: the Shield settings cannot be used, so no call can leave through Shield."
        )
        return ProbeOutcome(run.report(), failure=ProbeFailedError(exc.describe()))
    expected = endpoint.expected_ips
    run.details["proxy"] = endpoint.address
    run.details["expected_ips"] = list(expected)
    session = wiring.session()

    # 1-2: the egress, as the echo services see it through Shield.
    results = [ask_echo(session, url, clock=clock) for url in config.echo_urls]
    verdict = judge_egress(results, expected)
    _echo_findings(run, results, verdict)
    latencies = [r.latency_ms for r in results if r.answered and r.latency_ms is not None]
    latency_ms = round(statistics.fmean(latencies), 1) if latencies else None

    # 3: every managed key's binding, as OKX reports it.
    checks = _check_keys(
        run, wiring, verdict, list_key_secrets, out_of_time=lambda: clock() - started > KEY_CHECK_BUDGET_S
    )
    okx_seen_outside = tuple(
        dict.fromkeys(c.okx_seen_ip for c in checks if c.okx_seen_ip and expected and c.okx_seen_ip not in expected)
    )
    if okx_seen_outside:
        run.add(
            "probe.egress.okx_seen",
            Severity.CRITICAL,
            Status.FAIL,
            "egress",
            f"OKX saw calls from {', '.join(okx_seen_outside)}, which is not a Shield static IP.",
            observed=", ".join(okx_seen_outside),
            expected=", ".join(expected),
            remediation="Traffic to OKX is not leaving through Shield's static IPs: check the Shield URL in the "
            "secret (host and port from the dashboard) and expected_ips.",
        )

    # 4: the optional direct contrast.
    if config.direct_echo_for_contrast:
        _direct_contrast(run, config, direct_echo)

    # 5-6: the verdict, the guard, the report.
    egress_ok = verdict.state is EgressState.MATCH and not okx_seen_outside
    wrong_ips = tuple(dict.fromkeys((*verdict.outside, *okx_seen_outside)))
    trading = _apply_guard(run, wiring.state, wrong_ips=wrong_ips, confirmed=egress_ok, expected=expected)
    checked = [c for c in checks if c.checked]
    bound_ok = [c for c in checked if c.correctly_bound]
    _summarise(run, verdict, expected, checks, checked, bound_ok, egress_ok, wrong_ips)
    run.details["egress"] = {
        "state": verdict.state.value if not okx_seen_outside else EgressState.MISMATCH.value,
        "consensus_ip": verdict.consensus_ip,
        "answers": verdict.answers,
        "unanswered": verdict.unanswered,
        "okx_seen_outside": list(okx_seen_outside),
    }
    run.details["trading"] = trading
    return ProbeOutcome(
        run.report(),
        egress_match=egress_ok,
        latency_ms=latency_ms,
        keys_checked=len(checked),
        keys_correctly_bound=len(bound_ok),
        trading=trading,
    )


def _proxy_failure(run: _Run, error: ProxyError) -> ProbeOutcome:
    run.add(
        "probe.proxy",
        Severity.CRITICAL,
        Status.ERROR,
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
    return ProbeOutcome(run.report(), failure=ProbeFailedError(f"Shield proxy failure: {error.describe()}"))


def _echo_findings(run: _Run, results: Sequence[EchoResult], verdict: EgressVerdict) -> None:
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
                Severity.LOW,
                Status.WARN,
                result.service,
                f"Echo service {result.service} gave no usable answer through Shield: {result.problem}.",
                remediation="Usually the echo service's own trouble; if it persists, replace it in ECHO_URLS.",
            )
    run.tables["Echo services"] = rows
    expected_text = ", ".join(verdict.expected_ips)
    observed = "; ".join(f"{service}: {ip}" for service, ip in verdict.answers.items()) or "no answers"
    asked, answered = len(results), len(verdict.answers)
    if verdict.state is EgressState.UNCONFIGURED:
        run.add(
            "probe.egress.expected_ips",
            Severity.HIGH,
            Status.FAIL,
            "shield-secret",
            "No expected static IPs are configured, so the probe cannot tell whether traffic leaves through Shield.",
            observed=observed,
            expected="Shield's two static IPs in the Shield secret's expected_ips",
            remediation='Add "expected_ips": ["IP1", "IP2"] (both static IPs from the Shield dashboard) to the '
            "Shield secret, or set the stack parameter ExpectedStaticIps (SHIELD_EXPECTED_IPS).",
        )
    elif verdict.state is EgressState.UNKNOWN:
        run.add(
            "probe.egress.consensus",
            Severity.HIGH,
            Status.FAIL,
            "egress",
            f"None of the {asked} echo services answered through Shield: the egress IP is unknown.",
            expected=expected_text,
            remediation="Check the echo services in ECHO_URLS and Shield's status; trading was not paused for this "
            "alone (nothing proves the egress wrong).",
        )
    elif verdict.state is EgressState.MISMATCH:
        seen_by = ", ".join(s for s, ip in verdict.answers.items() if ip in verdict.outside)
        run.add(
            "probe.egress.consensus",
            Severity.CRITICAL,
            Status.FAIL,
            "egress",
            f"Egress {', '.join(verdict.outside)} is not a Shield static IP (seen by {seen_by}).",
            observed=observed,
            expected=expected_text,
            remediation="Traffic is not leaving through Shield's static IPs: check the Shield URL in the secret "
            "(copy the Connection URL again) and that expected_ips lists the dashboard's static IPs.",
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
            "probe.egress.consensus",
            Severity.MEDIUM if single else Severity.INFO,
            Status.WARN if single else Status.PASS,
            "egress",
            message + (" Only one service answered, so there was no independent confirmation." if single else ""),
            observed=observed,
            expected=expected_text,
            remediation="Replace echo services that keep failing in ECHO_URLS." if single else "",
        )
    if verdict.split and verdict.state is not EgressState.MATCH:
        run.add(
            "probe.egress.disagreement",
            Severity.MEDIUM,
            Status.WARN,
            "egress",
            f"The echo services disagree: {observed}.",
            remediation="If one service keeps disagreeing, replace it in ECHO_URLS; if the answers include a "
            "non-Shield IP, some traffic is leaving another way.",
        )


def _resolve_key_names(run: _Run, list_key_secrets: KeyLister | None) -> list[str]:
    config = run.config
    if config.key_secret_names:
        run.details["keys_from"] = config.key_names_source
        return list(config.key_secret_names)
    if not config.key_secret_prefix:
        run.add(
            "probe.keys.discovery",
            Severity.LOW,
            Status.WARN,
            "keys",
            "No OKX keys are configured for the probe, so no key binding was checked.",
            remediation="Set KEY_SECRET_NAMES (comma-separated secret names) or KEY_SECRET_PREFIX, or list "
            "key_secret_names in the schedule's Input.",
        )
        return []
    lister = list_key_secrets
    if lister is None:
        from okxcore.aws.probe_keys import list_key_secret_names

        lister = list_key_secret_names
    run.details["keys_from"] = f"secrets named {config.key_secret_prefix}*"
    try:
        names = lister(config.key_secret_prefix, tag=config.key_secret_tag, exclude=(config.shield_secret_name,))
    except OkxShieldError as exc:
        run.add("probe.keys.discovery", Severity.HIGH, Status.ERROR, "keys", exc.message, remediation=exc.hint)
        return []
    if not names:
        run.add(
            "probe.keys.discovery",
            Severity.LOW,
            Status.WARN,
            "keys",
            f"No secrets named {config.key_secret_prefix}* were found, so no key binding was checked.",
            remediation="Store each OKX key as a secret under that prefix, or fix KEY_SECRET_PREFIX / KEY_SECRET_TAG.",
        )
    if len(names) > MAX_KEYS_PER_RUN:
        run.add(
            "probe.keys.discovery",
            Severity.MEDIUM,
            Status.WARN,
            "keys",
            f"{len(names)} key secrets found; only the first {MAX_KEYS_PER_RUN} were checked in this run.",
            remediation="Split the keys over several schedules with key_secret_names.",
        )
        names = names[:MAX_KEYS_PER_RUN]
    return names


def _check_keys(
    run: _Run,
    wiring: ProbeWiring,
    verdict: EgressVerdict,
    list_key_secrets: KeyLister | None,
    *,
    out_of_time: Callable[[], bool],
) -> list[KeyCheck]:
    names = _resolve_key_names(run, list_key_secrets)
    # Without expected IPs the best available yardstick is what the echo services saw.
    yardstick = verdict.expected_ips or verdict.distinct_ips
    checks: list[KeyCheck] = []
    for index, name in enumerate(names):
        if out_of_time():
            left = names[index:]
            run.add(
                "probe.keys.budget",
                Severity.MEDIUM,
                Status.WARN,
                "keys",
                f"{len(left)} key(s) were not checked: the run used up its {KEY_CHECK_BUDGET_S:g} s budget "
                f"(first not checked: {left[0]}).",
                remediation="OKX or Shield answered slowly; if it persists, split the keys over several schedules "
                "with key_secret_names.",
            )
            break
        checks.append(_check_key(run, wiring, name, yardstick, bool(verdict.expected_ips)))
    if checks:
        rows = [["key", "permissions", "bound IPs", "result"]]
        for check in checks:
            bound = ", ".join(check.binding.bound) if check.binding and check.binding.bound else "-"
            if check.binding is not None and check.binding.unbound:
                bound = "(none)"
            rows.append([check.label, ",".join(sorted(check.perm)) or "-", bound, check.result])
        run.tables["Keys"] = rows
    return checks


def _check_key(
    run: _Run, wiring: ProbeWiring, secret_name: str, yardstick: tuple[str, ...], configured: bool
) -> KeyCheck:
    check = KeyCheck(secret_name=secret_name, label=secret_name)
    try:
        key = wiring.load_key(secret_name)
    except SecretFormatError as exc:
        check.result = "bad secret"
        run.add(
            "probe.keys.secret",
            Severity.HIGH,
            Status.ERROR,
            secret_name,
            f"The key secret is malformed: {exc.message}",
            remediation=exc.hint,
        )
        return check
    except InvalidInputError as exc:
        check.result = "unreadable"
        run.add("probe.keys.secret", Severity.HIGH, Status.ERROR, secret_name, exc.message, remediation=exc.hint)
        return check
    label = key.display_name(secret_name)
    check.label = label
    resource = label if label == secret_name else f"{label} ({secret_name})"
    try:
        # A health check is not the bot's use: recording it would hide a dead bot from the audit's dormancy
        # check. OKX still counts it as use; the audit's countdown reads the bot's own record (conservative).
        config = wiring.client(key, key_name=secret_name, record_use=False).account_config()
    except ProxyError:
        raise
    except IpNotAllowedError as exc:
        _ip_not_allowed(run, check, exc, resource, yardstick, configured)
        return check
    except KeyGoneError as exc:
        check.result = "key gone"
        run.add(
            "probe.keys.okx",
            Severity.CRITICAL,
            Status.FAIL,
            resource,
            f"OKX does not know this key ({exc.code}).",
            observed=exc.message,
            remediation=exc.hint,
        )
        return check
    except (InvalidSignatureError, PassphraseError, EnvironmentMismatchError) as exc:
        check.result = "rejected"
        run.add(
            "probe.keys.okx",
            Severity.HIGH,
            Status.FAIL,
            resource,
            f"OKX rejected the key ({exc.code}): every call with it fails.",
            observed=exc.message,
            remediation=exc.hint,
        )
        return check
    except (RateLimitedError, ServiceBusyError, OkxTransportError) as exc:
        check.result = "not checked"
        run.add(
            "probe.keys.okx",
            Severity.MEDIUM,
            Status.WARN,
            resource,
            "The binding could not be checked in this run (OKX busy, rate-limited or unreachable).",
            observed=exc.message,
            remediation=exc.hint,
        )
        return check
    except OkxApiError as exc:
        check.result = "error"
        run.add(
            "probe.keys.okx",
            Severity.HIGH,
            Status.FAIL,
            resource,
            f"account/config failed ({exc.code}).",
            observed=exc.message,
            remediation=exc.hint,
        )
        return check
    except Exception as exc:  # e.g. the state table while recording the key's use; one key must not end the run
        check.result = "error"
        run.add(
            "probe.keys.okx",
            Severity.HIGH,
            Status.ERROR,
            resource,
            f"The check stopped on an unexpected {exc.__class__.__name__}.",
            remediation="See the function's log; check the state table and the function's permissions.",
        )
        return check
    check.checked = True
    check.perm = config.perm
    check.binding = compare_binding(config.ip, yardstick)
    _binding_findings(run, check, key, config, resource, yardstick, configured)
    return check


def _ip_not_allowed(
    run: _Run, check: KeyCheck, exc: IpNotAllowedError, resource: str, yardstick: tuple[str, ...], configured: bool
) -> None:
    check.okx_seen_ip = canonical_ip(exc.seen_ip) if exc.seen_ip else None
    seen = check.okx_seen_ip or "an unnamed IP"
    if check.okx_seen_ip and configured and check.okx_seen_ip not in yardstick:
        check.result = "50110 (egress)"
        message = f"OKX rejected the call from {seen} (50110), which is not a Shield static IP."
        remediation = "Egress is wrong (see the egress finding); the key's binding could not be read."
    else:
        check.result = "not bound"
        message = (
            f"OKX rejected the call from Shield IP {seen} (50110): the key is not bound to it, so calls leaving "
            "from it fail."
        )
        remediation = (
            f"Bind BOTH Shield static IPs ({', '.join(yardstick) or seen}) to the key in OKX's API management."
        )
    run.add(
        "probe.keys.binding",
        Severity.HIGH,
        Status.FAIL,
        resource,
        message,
        observed=f"OKX saw {seen}",
        expected=", ".join(yardstick),
        remediation=remediation,
    )


def _binding_findings(
    run: _Run,
    check: KeyCheck,
    key: OkxKeySecret,
    config: AccountConfig,
    resource: str,
    yardstick: tuple[str, ...],
    configured: bool,
) -> None:
    binding = check.binding
    assert binding is not None
    expected_text = ", ".join(yardstick)
    bind_fix = f"Bind both Shield static IPs ({expected_text}) to the key in OKX's API management."
    risky = " and ".join(sorted(config.perm & {"trade", "withdraw"}))
    if binding.unbound:
        check.result = "UNBOUND"
        if config.can_trade_or_withdraw and not key.demo:
            run.add(
                "probe.keys.binding",
                Severity.CRITICAL,
                Status.FAIL,
                resource,
                f"The key has {risky} permission and is bound to no IP: OKX deletes such keys (after 14 days "
                "of inactivity, or 14 days after creation by QuotaGuard's reading). Deletion risk.",
                observed="no IP bound",
                expected=expected_text,
                remediation=bind_fix,
            )
        else:
            kind = "a demo key (not deleted by OKX)" if key.demo else "read-only (not deleted by OKX)"
            run.add(
                "probe.keys.binding",
                Severity.LOW,
                Status.WARN,
                resource,
                f"The key is bound to no IP; it is {kind}, but anyone holding it can use it from anywhere.",
                observed="no IP bound",
                expected=expected_text,
                remediation=bind_fix,
            )
    elif not binding.compared:
        check.result = "unverified"
        run.add(
            "probe.keys.binding",
            Severity.MEDIUM,
            Status.WARN,
            resource,
            "The key's binding could not be verified: no expected_ips are configured and no echo service answered.",
            observed=", ".join(binding.bound),
            remediation='Add "expected_ips" (both Shield static IPs) to the Shield secret.',
        )
        return
    elif binding.missing:
        check.result = "missing " + ", ".join(binding.missing)
        run.add(
            "probe.keys.binding",
            Severity.HIGH,
            Status.FAIL,
            resource,
            f"The key is not bound to Shield IP {', '.join(binding.missing)}: Shield sends traffic from both static "
            "IPs, so about half of all calls will fail with 50110.",
            observed=", ".join(binding.bound),
            expected=expected_text,
            remediation=f"Add {', '.join(binding.missing)} to the key's IP list (keep both Shield IPs bound).",
        )
    else:
        check.result = "ok"
        note = "" if configured else " (compared with the echoed egress IP: expected_ips is not configured)"
        run.add(
            "probe.keys.binding",
            Severity.INFO,
            Status.PASS,
            resource,
            f"The key is bound to every Shield static IP{note}.",
            observed=", ".join(binding.bound),
            expected=expected_text,
        )
    if binding.extra and not binding.unbound:
        run.add(
            "probe.keys.extra_ips",
            Severity.LOW,
            Status.WARN,
            resource,
            f"The key also allows {', '.join(binding.extra)}, which is not a Shield static IP.",
            observed=", ".join(binding.bound),
            expected=expected_text,
            remediation="Remove IPs that are no longer used (old proxies, home or office IPs): each one is a place "
            "the key works from.",
        )


def _direct_contrast(run: _Run, config: ProbeConfig, direct_echo: DirectEcho) -> None:
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
    run: _Run, state: GuardStore, *, wrong_ips: tuple[str, ...], confirmed: bool, expected: tuple[str, ...]
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
            "probe.guard",
            Severity.CRITICAL if wrong_ips else Severity.HIGH,
            Status.ERROR,
            "trading-guard",
            f"The trading guard could not be {'set' if wrong_ips else 'read'} ({exc.__class__.__name__}).",
            remediation="Check the state table's name and the function's DynamoDB permissions.",
        )
        return "unknown"


def _summarise(
    run: _Run,
    verdict: EgressVerdict,
    expected: tuple[str, ...],
    checks: list[KeyCheck],
    checked: list[KeyCheck],
    bound_ok: list[KeyCheck],
    egress_ok: bool,
    wrong_ips: tuple[str, ...],
) -> None:
    answered, asked = len(verdict.answers), len(verdict.answers) + len(verdict.unanswered)
    if wrong_ips:
        line = f"Egress: WRONG. {', '.join(wrong_ips)} is not a Shield static IP."
    elif egress_ok and verdict.split:
        line = (
            f"Egress: Shield static IPs {', '.join(verdict.distinct_ips)}; the echo services saw different ones, "
            f"as Shield load-balances over both ({answered} of {asked} answered)."
        )
    elif egress_ok:
        line = f"Egress: {verdict.consensus_ip}, a Shield static IP ({answered} of {asked} echo services agree)."
    elif verdict.state is EgressState.UNCONFIGURED:
        line = f"Egress: {verdict.consensus_ip or 'unknown'}; not verified (no expected_ips configured)."
    else:
        line = f"Egress: unknown ({answered} of {asked} echo services answered)."
    lines = [line, f"Shield static IPs expected: {', '.join(expected) or '(none configured)'}."]
    if checks:
        lines.append(
            f"Keys: {len(checks)} configured, {len(checked)} checked at OKX, {len(bound_ok)} bound to every Shield IP."
        )
    run.summary[:0] = lines
