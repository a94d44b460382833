"""The one findings table: every typed error and every check id goes through it, and nothing else decides
a severity."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from okxcore import errors
from okxcore.audit.models import KeySubject
from okxcore.audit.rules import call_error_finding
from okxcore.errors import (
    InvalidInputError,
    OkxShieldError,
    OkxTransportError,
    ProxyUnreachableError,
    RateLimitedError,
    ServiceBusyError,
    error_for,
)
from okxcore.findings import ERROR_CHECKS, ERROR_RULES, RULES, check_id, error_finding, error_rule, finding
from okxcore.invalid_input import INVALID_INPUT_CHECK, invalid_input_report
from okxcore.report import Severity, Status

SRC = Path(__file__).resolve().parents[2] / "src"
KEY_LITERAL = re.compile(r"""["']((?:probe|audit|trade|keys|rotation)\.[A-Za-z_.]+(?::[a-z_]+)?)["']""")


def _typed_errors() -> list[type[OkxShieldError]]:
    found: list[type[OkxShieldError]] = []
    pending: list[type[OkxShieldError]] = [OkxShieldError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return [cls for cls in found if cls.__module__ == errors.__name__]


def _source_keys() -> dict[str, list[str]]:
    used: dict[str, list[str]] = {}
    for path in SRC.rglob("*.py"):
        for key in KEY_LITERAL.findall(path.read_text()):
            used.setdefault(key, []).append(str(path.relative_to(SRC)))
    return used


@pytest.mark.parametrize("cls", _typed_errors(), ids=lambda cls: cls.__name__)
def test_every_typed_error_has_a_rule_of_its_own_kind(cls):
    verdict = error_rule(cls)
    assert verdict.rule.wording
    assert verdict.result
    # A typed error is never weighed as "unexpected": the catch-all row is only for foreign exceptions.
    assert verdict is not error_rule(RuntimeError)
    assert verdict.rule.status is not Status.PASS


@pytest.mark.parametrize("code", sorted(errors._ERRORS_BY_CODE), ids=str)
def test_every_mapped_okx_code_reaches_a_rule(code):
    error = error_for(code, "message")
    assert error_rule(error) is error_rule(type(error))


def test_the_parts_of_the_table_never_overlap():
    from okxcore.findings import AUDIT_ROWS, KEYS_ROWS, PROBE_ROWS, TRADE_ROWS

    assert len(RULES) == len(PROBE_ROWS) + len(AUDIT_ROWS) + len(TRADE_ROWS) + len(KEYS_ROWS)


def test_the_catch_all_row_is_last_and_everything_reaches_a_row():
    assert ERROR_RULES[-1][0] is Exception
    assert error_rule(KeyError("x")).rule.status is Status.ERROR


def test_every_check_id_in_the_code_is_in_the_table_and_every_row_is_used():
    used = _source_keys()
    known = {*RULES, *ERROR_CHECKS, *(check_id(key) for key in RULES)}  # a bare check id names its rows
    unknown = {key: where for key, where in used.items() if key not in known}
    assert not unknown, f"check ids used but not in okxcore/findings/: {unknown}"
    outside = {key: [w for w in where if not w.startswith("okxcore/findings/")] for key, where in used.items()}
    unused = [key for key in [*RULES, *ERROR_CHECKS] if not outside.get(key)]
    assert not unused, f"rows nobody uses: {unused}"


@pytest.mark.parametrize("key", sorted(RULES))
def test_every_row_is_coherent(key):
    rule = RULES[key]
    assert rule.wording
    assert check_id(key).split(".")[0] in {"probe", "audit", "trade", "keys", "rotation"}
    # A pass is INFO and INFO is a pass: nothing weighs a problem at INFO or a pass above it.
    assert (rule.status is Status.PASS) == (rule.severity is Severity.INFO)
    made = finding(key, "res", "")
    assert (made.check_id, made.severity, made.status, made.message) == (
        check_id(key),
        rule.severity,
        rule.status,
        rule.wording,
    )


def test_no_module_but_the_table_decides_a_severity():
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.name == "report.py" or path.parent.name == "findings":
            continue
        if re.search(r"\bSeverity\.[A-Z]+\b", path.read_text()):
            offenders.append(str(path.relative_to(SRC)))
    assert not offenders


def test_an_invalid_event_weighs_the_same_and_reads_the_same_in_every_function():
    rows = {RULES[key] for key in INVALID_INPUT_CHECK.values()}
    assert len(rows) == 1
    [rule] = rows
    assert (rule.severity, rule.status) == (Severity.CRITICAL, Status.ERROR)
    error = InvalidInputError.from_problems("audit event", [("tag", "is not a string"), ("prefix", "is missing")])
    reports = [invalid_input_report(kind, error, environment="dev", not_done="No.") for kind in INVALID_INPUT_CHECK]
    assert {r.title for r in reports} == {"did not run: invalid audit event, field 'tag', 'prefix'"}
    for report in reports:  # one format: a finding per field, each naming it, the same severity and fix
        assert [(f.resource, f.message, f.severity, f.status) for f in report.findings] == [
            ("tag", "audit event: field 'tag': is not a string", Severity.CRITICAL, Status.ERROR),
            ("prefix", "audit event: field 'prefix': is missing", Severity.CRITICAL, Status.ERROR),
        ]
        assert report.failed


@pytest.mark.parametrize(
    "error",
    [
        error_for("50011", "Too Many Requests"),
        error_for("50013", "System busy"),
        OkxTransportError("connection reset"),
    ],
    ids=["rate-limited", "busy", "transport"],
)
def test_a_key_not_checked_for_a_passing_reason_weighs_the_same_in_probe_and_audit(error):
    subject = KeySubject(resource="k/bot", label="bot", origin="secret", call_error=error)
    audit = call_error_finding(subject, error)
    probe = error_finding("probe.keys.okx", error, "bot")
    assert (audit.severity, audit.status) == (probe.severity, probe.status) == (Severity.MEDIUM, Status.WARN)
    assert isinstance(error, RateLimitedError | ServiceBusyError | OkxTransportError)


def test_an_error_finding_takes_the_errors_own_hint_and_never_its_unvetted_text():
    typed = error_finding("audit.auth", ProxyUnreachableError("refused", proxy="shield:9294"), "bot")
    assert typed.remediation == ProxyUnreachableError.hint
    foreign = error_finding("audit.auth", RuntimeError("passphrase=hunter2"), "bot")
    assert "hunter2" not in foreign.model_dump_json()


def test_the_table_module_documents_the_unification():
    from okxcore import findings

    assert "Unified here" in (inspect.getdoc(findings) or "")
