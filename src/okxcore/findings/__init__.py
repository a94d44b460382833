"""Every finding's severity, status, wording and fix, in one table: where a finding's weight is decided.

Two tables, read the same way by probe, audit and trade (and the key-lifecycle work):

- `RULES`: check id (with a variant after ":" where one check has several outcomes) -> the rule. The
  check id is what the report shows; the variant only picks the row. Its rows are written in one module
  per function (probe_rows.py, audit_rows.py, trade_rows.py, keys_rows.py), in the shorthand of rule.py.
- `ERROR_RULES`: error class -> what that error means when it stopped a check of one key. Looked up
  by the error's class hierarchy, most specific first, so a new typed error inherits its parent's row
  until it gets its own.

Callers write the observation (what was seen, naming the key or field); the table decides how much it
weighs and says what it means and how to fix it when the caller has nothing more specific.

Severity policy, in words (the audit's, now everybody's):
- CRITICAL: a key is lost or about to be, money can move out, traffic leaves outside Shield, trading is
  stopped, or a function cannot do its job at all (proxy down, invalid event or configuration).
- HIGH: the key is intact but the bot cannot work with it as configured, or a key could not be checked
  because of something a person must fix (ERROR).
- MEDIUM: needs attention soon; or a key was not checked in this run for a passing reason (rate limit,
  OKX busy, network), which the next run retries by itself.
- LOW: a gap in what the check can see, or a weakness that puts no key or funds at risk (a read-only or demo key
  bound to no IP). INFO: passes.

Status: PASS (fine), WARN (watch it), FAIL (wrong, fix it), ERROR (the check could not run; fix what
stopped it).

Whether the run failed is a third judgement, apart from both: a run fails when it did not do its job. Every ERROR
fails the run; a FAIL does where its row says `fails_run` (a rotation that failed or was refused, a trade slot
whose orders were not placed as planned). A report's severity is its worst finding's; its `failed` is whether
any finding failed the run.

Unified here (they used to disagree): an invalid event is CRITICAL/ERROR in every function (probe and
audit said HIGH, trade said CRITICAL/FAIL); a key not checked because OKX rate-limited, was busy or was
unreachable is MEDIUM/WARN in probe and audit (the audit said HIGH/ERROR); a bound IP that is not
Shield's is MEDIUM/WARN in both (the probe said LOW); a read-only or demo key bound to no IP is LOW/WARN in both
(the audit said INFO/PASS).
"""

from __future__ import annotations

from dataclasses import dataclass

from okxcore.errors import (
    EnvironmentMismatchError,
    InvalidInputError,
    InvalidSignatureError,
    IpNotAllowedError,
    KeyGoneError,
    KeyInOtherRegionError,
    OkxApiError,
    OkxShieldError,
    OkxTransportError,
    PassphraseError,
    ProxyError,
    RateLimitedError,
    ServiceBusyError,
)
from okxcore.findings.audit_rows import ROWS as AUDIT_ROWS
from okxcore.findings.keys_rows import ROWS as KEYS_ROWS
from okxcore.findings.probe_rows import ROWS as PROBE_ROWS
from okxcore.findings.rule import ERROR, FAIL, NOT_CHECKED, C, H, Rule, r
from okxcore.findings.trade_rows import ROWS as TRADE_ROWS
from okxcore.report import Finding

# One table, written in one module per function: a key names its function, so the parts never overlap.
RULES: dict[str, Rule] = {**PROBE_ROWS, **AUDIT_ROWS, **TRADE_ROWS, **KEYS_ROWS}


@dataclass(frozen=True)
class ErrorRule:
    """What an error means when it stopped the check of one key."""

    result: str  # one or two words for the report's key table
    rule: Rule


# The checks weighed by ERROR_RULES: the error that stopped them decides.
ERROR_CHECKS = frozenset({"probe.keys.okx", "audit.auth"})

# Most specific first: the first row whose class the error is an instance of decides.
ERROR_RULES: tuple[tuple[type[BaseException], ErrorRule], ...] = (
    (
        KeyInOtherRegionError,
        ErrorRule("wrong region", r(H, FAIL, "another OKX region's host knows the key: its secret names another")),
    ),
    (KeyGoneError, ErrorRule("key gone", r(C, FAIL, "OKX does not know this key: deleted, revoked, or wrong region"))),
    (IpNotAllowedError, ErrorRule("not bound", r(H, FAIL, "OKX saw the call from an IP not bound to the key"))),
    (InvalidSignatureError, ErrorRule("rejected", r(H, FAIL, "OKX rejected the API secret"))),
    (PassphraseError, ErrorRule("rejected", r(H, FAIL, "OKX rejected the passphrase"))),
    (EnvironmentMismatchError, ErrorRule("rejected", r(H, FAIL, "the key is for the other environment (demo/live)"))),
    (RateLimitedError, ErrorRule("not checked", NOT_CHECKED)),
    (ServiceBusyError, ErrorRule("not checked", NOT_CHECKED)),
    (OkxTransportError, ErrorRule("not checked", NOT_CHECKED)),
    (ProxyError, ErrorRule("not checked", r(H, ERROR, "the Shield proxy could not carry the call"))),
    (InvalidInputError, ErrorRule("bad secret", r(H, ERROR, "the key's secret cannot be read or is malformed"))),
    (OkxApiError, ErrorRule("error", r(H, ERROR, "OKX answered with an error code"))),
    (OkxShieldError, ErrorRule("error", r(H, ERROR, "the check failed"))),
    (
        Exception,
        ErrorRule(
            "error",
            r(
                H,
                ERROR,
                "the check stopped on an unexpected error",
                "See the function's log; check the state table and the function's permissions.",
            ),
        ),
    ),
)


def rule(key: str) -> Rule:
    """The rule for a check id (with its variant). A key that is not in the table is a programming error."""
    return RULES[key]


def error_rule(error: BaseException | type[BaseException]) -> ErrorRule:
    cls = error if isinstance(error, type) else type(error)
    for base, found in ERROR_RULES:
        if issubclass(cls, base):
            return found
    raise LookupError(f"no rule for {cls.__name__}")  # BaseException outside Exception: not a check's error


def check_id(key: str) -> str:
    return key.partition(":")[0]


def _weighed(check: str, found: Rule, resource: str, message: str, observed: str, expected: str, fix: str) -> Finding:
    return Finding(
        check_id=check,
        severity=found.severity,
        status=found.status,
        resource=resource,
        message=message or found.wording,
        observed=observed,
        expected=expected,
        remediation=fix,
        fails_run=found.fails_run,
    )


def finding(
    key: str,
    resource: str,
    message: str = "",
    *,
    observed: str = "",
    expected: str = "",
    remediation: str | None = None,
    check: str | None = None,
) -> Finding:
    """A finding weighed by the table. `remediation=None` takes the table's fix; "" means none. `check` names
    the check shown, for a row that stands for a family (rotation.<step>)."""
    found = RULES[key]
    fix = found.fix if remediation is None else remediation
    return _weighed(check or check_id(key), found, resource, message, observed, expected, fix)


def error_finding(
    check: str,
    error: BaseException,
    resource: str,
    message: str = "",
    *,
    observed: str = "",
    expected: str = "",
    remediation: str | None = None,
) -> Finding:
    """A finding for an error that stopped a check, weighed by ERROR_RULES. The default fix is the error's
    own hint (typed errors carry one), else the table's."""
    if check not in ERROR_CHECKS:
        raise KeyError(f"{check} is not weighed by ERROR_RULES")
    found = error_rule(error).rule
    if remediation is None:
        hint = error.hint if isinstance(error, OkxShieldError) else ""
        remediation = hint or found.fix
    return _weighed(check, found, resource, message, observed, expected, remediation)
