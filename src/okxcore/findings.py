"""Every finding's severity, status, wording and fix, in one table: where a finding's weight is decided.

Two tables, read the same way by probe, audit and trade (and the key-lifecycle work):

- `RULES`: check id (with a variant after ":" where one check has several outcomes) -> the rule. The
  check id is what the report shows; the variant only picks the row.
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
- LOW: a gap in what the check can see. INFO: passes.

Status: PASS (fine), WARN (watch it), FAIL (wrong, fix it), ERROR (the check could not run; fix what
stopped it).

Unified here (they used to disagree): an invalid event is CRITICAL/ERROR in every function (probe and
audit said HIGH, trade said CRITICAL/FAIL); a key not checked because OKX rate-limited, was busy or was
unreachable is MEDIUM/WARN in probe and audit (the audit said HIGH/ERROR); a bound IP that is not
Shield's is MEDIUM/WARN in both (the probe said LOW).
"""

from __future__ import annotations

from dataclasses import dataclass

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
    ServiceBusyError,
)
from okxcore.report import Finding, Severity, Status


@dataclass(frozen=True)
class Rule:
    severity: Severity
    status: Status
    wording: str  # what the finding means, in one line; the message when the caller has no observation
    fix: str = ""  # the remediation when the caller has none more specific

    @property
    def is_problem(self) -> bool:
        return self.status is not Status.PASS


def _r(severity: Severity, status: Status, wording: str, fix: str = "") -> Rule:
    return Rule(severity, status, wording, fix)


C, H, M, L, I = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO  # noqa: E741
PASS, WARN, FAIL, ERROR = Status.PASS, Status.WARN, Status.FAIL, Status.ERROR

_INVALID_EVENT = _r(C, ERROR, "the function did not run: its event is invalid", "Fix the schedule's Input.")
_NOT_CHECKED = _r(
    M,
    WARN,
    "not checked in this run: OKX rate-limited the call, was busy, or could not be reached",
    "Nothing to fix if it passes: the next run checks again. If it persists, check OKX's status and how "
    "often the schedules call OKX.",
)
_EXTRA_IPS = _r(
    M,
    WARN,
    "bound to IPs that are not Shield's: anyone calling from there with the key's credentials is let in",
    "Remove IPs that are no longer used (old proxies, home or office IPs): each one is a place the key works from.",
)
_SHIELD_IP_MISSING = _r(
    H,
    FAIL,
    "not bound to every Shield static IP: calls leaving from the other one fail with 50110",
    "Bind both Shield static IPs to the key in OKX's API management.",
)

RULES: dict[str, Rule] = {
    # --- the probe ---------------------------------------------------------------------------------
    "probe.event": _INVALID_EVENT,
    "probe.config": _r(H, ERROR, "the probe did not run: the function's configuration is invalid"),
    "probe.run": _r(
        C,
        ERROR,
        "the probe stopped before it finished",
        "Run it locally (okx-shield invoke probe) to see the traceback; report it if it persists.",
    ),
    "probe.shield_secret": _r(C, ERROR, "the Shield secret cannot be used, so no call can leave through Shield"),
    "probe.proxy": _r(C, ERROR, "the Shield proxy could not carry the call; nothing reached OKX"),
    "probe.egress.echo": _r(
        L,
        WARN,
        "an echo service gave no usable answer through Shield",
        "Usually the echo service's own trouble; if it persists, replace it in ECHO_URLS.",
    ),
    "probe.egress.expected_ips": _r(
        H,
        FAIL,
        "no expected static IPs are configured, so the probe cannot tell whether traffic leaves through Shield",
        'Add "expected_ips": ["IP1", "IP2"] (both static IPs from the Shield dashboard) to the Shield secret, '
        "or set the stack parameter ExpectedStaticIps (SHIELD_EXPECTED_IPS).",
    ),
    "probe.egress.consensus:unknown": _r(
        H,
        FAIL,
        "no echo service answered through Shield: the egress IP is unknown",
        "Check the echo services in ECHO_URLS and Shield's status; trading was not paused for this alone "
        "(nothing proves the egress wrong).",
    ),
    "probe.egress.consensus:mismatch": _r(
        C,
        FAIL,
        "the egress IP is not a Shield static IP",
        "Traffic is not leaving through Shield's static IPs: check the Shield URL in the secret (copy the "
        "Connection URL again) and that expected_ips lists the dashboard's static IPs.",
    ),
    "probe.egress.consensus:single": _r(
        M,
        WARN,
        "the egress is a Shield static IP, but only one echo service confirmed it",
        "Replace echo services that keep failing in ECHO_URLS.",
    ),
    "probe.egress.consensus:match": _r(I, PASS, "the egress is a Shield static IP"),
    "probe.egress.disagreement": _r(
        M,
        WARN,
        "the echo services disagree about the egress IP",
        "If one service keeps disagreeing, replace it in ECHO_URLS; if the answers include a non-Shield IP, "
        "some traffic is leaving another way.",
    ),
    "probe.egress.okx_seen": _r(
        C,
        FAIL,
        "OKX saw calls from an IP that is not a Shield static IP",
        "Traffic to OKX is not leaving through Shield's static IPs: check the Shield URL in the secret (host "
        "and port from the dashboard) and expected_ips.",
    ),
    "probe.keys.discovery:none_configured": _r(
        L,
        WARN,
        "no OKX keys are configured for the probe, so no key binding was checked",
        "Set KEY_SECRET_NAMES (comma-separated secret names) or KEY_SECRET_PREFIX, or list key_secret_names in "
        "the schedule's Input.",
    ),
    "probe.keys.discovery:none_found": _r(
        L,
        WARN,
        "no key secrets were found, so no key binding was checked",
        "Store each OKX key as a secret under that prefix, or fix KEY_SECRET_PREFIX / KEY_SECRET_TAG.",
    ),
    "probe.keys.discovery:failed": _r(H, ERROR, "the key secrets could not be listed"),
    "probe.keys.discovery:too_many": _r(
        M,
        WARN,
        "more key secrets than one run checks",
        "Split the keys over several schedules with key_secret_names.",
    ),
    "probe.keys.budget": _r(
        M,
        WARN,
        "some keys were not checked: the run used up its time budget",
        "OKX or Shield answered slowly; if it persists, split the keys over several schedules with key_secret_names.",
    ),
    "probe.keys.secret": _r(H, ERROR, "the key secret cannot be read or is malformed"),
    "probe.keys.binding:unbound_risky": _r(
        C,
        FAIL,
        "a trade/withdraw key bound to no IP: OKX deletes such keys (deletion risk)",
        "Bind both Shield static IPs to the key in OKX's API management.",
    ),
    "probe.keys.binding:unbound_safe": _r(
        L,
        WARN,
        "a key bound to no IP that OKX does not delete (read-only or demo), usable from anywhere",
        "Bind both Shield static IPs to the key in OKX's API management.",
    ),
    "probe.keys.binding:unverified": _r(
        M,
        WARN,
        "the key's binding could not be verified: no expected_ips and no echo answer to compare with",
        'Add "expected_ips" (both Shield static IPs) to the Shield secret.',
    ),
    "probe.keys.binding:missing": _SHIELD_IP_MISSING,
    "probe.keys.binding:ip_not_allowed": _r(
        H,
        FAIL,
        "OKX rejected the call with 50110: the IP it came from is not bound to the key",
        "Bind both Shield static IPs to the key in OKX's API management.",
    ),
    "probe.keys.binding:ok": _r(I, PASS, "the key is bound to every Shield static IP"),
    "probe.keys.extra_ips": _EXTRA_IPS,
    "probe.guard:set": _r(
        C,
        ERROR,
        "the trading guard could not be set",
        "Check the state table's name and the function's DynamoDB permissions.",
    ),
    "probe.guard:read": _r(
        H,
        ERROR,
        "the trading guard could not be read",
        "Check the state table's name and the function's DynamoDB permissions.",
    ),
    # --- the audit ---------------------------------------------------------------------------------
    "audit.event": _INVALID_EVENT,
    "audit.secret": _r(
        H,
        ERROR,
        "not audited: the secret cannot be read or is malformed",
        "Check the secret and the function's permission to read it.",
    ),
    "audit.auth:ok": _r(I, PASS, "authenticated through Shield"),
    "audit.ip_binding:exempt": _r(I, PASS, "not bound to an IP; OKX does not delete such keys"),
    "audit.ip_binding:bound": _r(I, PASS, "bound to IPs"),
    "audit.ip_binding:countdown_unknown": _r(
        H, WARN, "a trade/withdraw key bound to no IP, and neither its creation nor its last use is known"
    ),
    "audit.ip_binding:countdown_critical": _r(C, FAIL, "a trade/withdraw key bound to no IP, days from deletion"),
    "audit.ip_binding:countdown_high": _r(H, WARN, "a trade/withdraw key bound to no IP, a week from deletion"),
    "audit.ip_binding:countdown_medium": _r(M, WARN, "a trade/withdraw key bound to no IP: OKX's countdown runs"),
    "audit.shield_ips.missing": _SHIELD_IP_MISSING,
    "audit.shield_ips.unknown": _EXTRA_IPS,
    "audit.permissions.withdraw:allowed": _r(
        I, PASS, "has withdraw permission, explicitly allowed by the secret's allowed_permissions"
    ),
    "audit.permissions.withdraw:risk": _r(
        C,
        FAIL,
        "has withdraw permission: whoever holds the key can move funds out",
        "Permissions cannot be edited: create a new key without withdraw, bound to both Shield IPs, store it in "
        "the secret, and delete this one.",
    ),
    "audit.permissions.withdraw:none": _r(I, PASS, "no withdraw permission"),
    "audit.permissions.purpose": _r(
        M,
        WARN,
        "has more permission than its declared purpose needs",
        "Replace it with a key that has only what the purpose needs (permissions cannot be edited), or correct "
        "'purpose' in the secret.",
    ),
    "audit.key_age:ok": _r(I, PASS, "young enough"),
    "audit.key_age:unknown": _r(I, PASS, "age unknown"),
    "audit.key_age:due": _r(M, WARN, "rotation due"),
    "audit.key_age:overdue": _r(H, WARN, "rotation overdue"),
    "audit.dormancy:ok": _r(I, PASS, "used recently"),
    "audit.dormancy:new": _r(I, PASS, "new key, no use recorded yet"),
    "audit.dormancy:dormant_risky": _r(M, WARN, "dormant trade/withdraw key"),
    "audit.dormancy:dormant_safe": _r(L, WARN, "dormant read-only key"),
    "audit.limits.ips:near": _r(
        M,
        WARN,
        "the key nears OKX's 20 IPs",
        "Remove bound IPs that are no longer used, so that a new Shield IP can still be added.",
    ),
    "audit.limits.ips:at": _r(
        H,
        WARN,
        "the key has OKX's 20 IPs",
        "Remove bound IPs that are no longer used, so that a new Shield IP can still be added.",
    ),
    "audit.limits.keys:near": _r(
        M,
        WARN,
        "the account nears OKX's 50 keys",
        "Delete keys that are no longer used, so that a rotation can still create a new one.",
    ),
    "audit.limits.keys:at": _r(
        H,
        WARN,
        "the account has OKX's 50 keys",
        "Delete keys that are no longer used, so that a rotation can still create a new one.",
    ),
    "audit.master:ok": _r(I, PASS, "listed the sub-accounts' keys"),
    "audit.master:failed": _r(
        H,
        ERROR,
        "sub-account keys not audited: the master key could not list them",
        "Check the master key's secret and that it is the main account's key (read permission suffices).",
    ),
    "audit.master:truncated": _r(
        L,
        WARN,
        "sub-accounts past OKX's first page were not audited",
        "Audit the remaining sub-accounts' keys through their own secrets (tag or prefix).",
    ),
    "audit.fleet:no_keys": _r(
        M,
        WARN,
        "no key secrets matched: nothing was audited",
        "Check the tag/prefix in the event (or KEY_SECRET_TAG / KEY_SECRET_PREFIX) against your secrets.",
    ),
    "audit.fleet:listing_failed": _r(
        H,
        ERROR,
        "the key secrets could not be listed: the fleet was not audited",
        "Check the function's permission secretsmanager:ListSecrets.",
    ),
    "audit.shard": _r(H, ERROR, "a shard of the fanned-out audit left no result: its keys were not audited"),
    "audit.fleet:no_expected_ips": _r(
        L,
        WARN,
        "the Shield secret lists no expected_ips: bound IPs were not compared with Shield's",
        'Add "expected_ips": [the two Shield static IPs] to the Shield secret.',
    ),
    # --- trade -------------------------------------------------------------------------------------
    "trade.plan:invalid": _INVALID_EVENT,
    "trade.plan:rejected": _r(C, FAIL, "the plan failed a pre-check: nothing was sent"),
    "trade.run:crashed": _r(
        C,
        ERROR,
        "the run stopped on an unexpected error",
        "See the function's log for the traceback; the retry looks orders up before sending.",
    ),
    "trade.run:not_started": _r(C, ERROR, "the run could not start, so no order was sent"),
    "trade.guard": _r(
        C,
        FAIL,
        "trading is paused: no order of this slot was sent",
        "The probe pauses trading when the egress is unsafe and resumes it once healthy; this slot is skipped, "
        "not queued.",
    ),
    "trade.slot": _r(
        C,
        FAIL,
        "the delivery came too late for its slot",
        "Nothing to fix if this was a one-off delay; otherwise check the schedule's retry policy and the "
        "function's errors.",
    ),
    "trade.slot:conflicting_plan": _r(
        C, FAIL, "the slot already ran with a different plan: this delivery was refused and nothing was sent"
    ),
    "trade.order:ok": _r(I, PASS, "the order is at OKX (or would be, in a dry run), or had nothing to do"),
    "trade.order:canceled_unfilled": _r(M, WARN, "OKX canceled the order without a fill"),
    "trade.order:not_sent": _r(H, FAIL, "the order was not sent"),
    "trade.order:failed": _r(C, FAIL, "the order definitely does not exist at OKX"),
    "trade.order:cancel_failed": _r(
        H,
        FAIL,
        "an expired limit order could not be canceled",
        "The next run tries again; to cancel it now: okx-shield orders --key-secret NAME --plan PLAN_ID "
        "--cancel-expired.",
    ),
    "trade.order:unknown": _r(C, ERROR, "the order was sent and whether OKX has it could not be established"),
    # --- key lifecycle (okxcore/keys) ----------------------------------------------------------------
    "audit.key_age:managed": _r(I, PASS, "rotated by okx-shield"),
    "audit.rotation:refused": _r(
        H,
        FAIL,
        "rotation refused: a main account's key",
        "This is a main account's key: rotate it by hand (the rotation report lists the steps) and turn automatic "
        "rotation off for the secret.",
    ),
    "audit.rotation:failed": _r(
        H,
        FAIL,
        "the last rotation failed",
        "Read the rotation report for the cause, fix it, then rotate again (`okx-shield keys rotate --secret NAME "
        "--real`, or `aws secretsmanager rotate-secret`).",
    ),
    # Shown as rotation.<step> (createSecret, setSecret, testSecret, finishSecret): `check=` names the step.
    "rotation.step:failed": _r(H, FAIL, "the rotation step failed"),
    "rotation.step:error": _r(H, ERROR, "the rotation step stopped on an error"),
    "rotation.master_key": _r(H, FAIL, "rotation refused: a main account's key is never rotated automatically"),
    "rotation.finishSecret": _r(I, PASS, "rotated"),
    "rotation.cleanup:failed": _r(H, ERROR, "deleting old keys failed"),
    "rotation.cleanup:ok": _r(I, PASS, "old keys deleted"),
    "keys.repair.master": _r(H, ERROR, "IP-binding repair could not use the master key"),
    "keys.repair.ip_binding:unchanged": _r(I, PASS, "already bound to every Shield static IP"),
    "keys.repair.ip_binding:applied": _r(I, PASS, "bound to every Shield static IP by the repair"),
    "keys.repair.ip_binding:planned": _r(L, WARN, "the repair would change the key's IP list (plan mode)"),
    "keys.repair.ip_binding:manual": _r(L, WARN, "the key needs a manual step to be bound"),
    "keys.repair.ip_binding:over_limit": _r(H, FAIL, "not changed: the new list would pass OKX's 20 IPs"),
    "keys.repair.ip_binding:unconfirmed": _r(H, FAIL, "changed, but OKX's list read afterwards does not show it"),
    "keys.repair.ip_binding:failed": _r(H, ERROR, "the repair failed"),
}


@dataclass(frozen=True)
class ErrorRule:
    """What an error means when it stopped the check of one key."""

    result: str  # one or two words for the report's key table
    rule: Rule


# The checks weighed by ERROR_RULES: the error that stopped them decides.
ERROR_CHECKS = frozenset({"probe.keys.okx", "audit.auth"})

# Most specific first: the first row whose class the error is an instance of decides.
ERROR_RULES: tuple[tuple[type[BaseException], ErrorRule], ...] = (
    (KeyGoneError, ErrorRule("key gone", _r(C, FAIL, "OKX does not know this key: deleted, revoked, or wrong region"))),
    (IpNotAllowedError, ErrorRule("not bound", _r(H, FAIL, "OKX saw the call from an IP not bound to the key"))),
    (InvalidSignatureError, ErrorRule("rejected", _r(H, FAIL, "OKX rejected the API secret"))),
    (PassphraseError, ErrorRule("rejected", _r(H, FAIL, "OKX rejected the passphrase"))),
    (EnvironmentMismatchError, ErrorRule("rejected", _r(H, FAIL, "the key is for the other environment (demo/live)"))),
    (RateLimitedError, ErrorRule("not checked", _NOT_CHECKED)),
    (ServiceBusyError, ErrorRule("not checked", _NOT_CHECKED)),
    (OkxTransportError, ErrorRule("not checked", _NOT_CHECKED)),
    (ProxyError, ErrorRule("not checked", _r(H, ERROR, "the Shield proxy could not carry the call"))),
    (InvalidInputError, ErrorRule("bad secret", _r(H, ERROR, "the key's secret cannot be read or is malformed"))),
    (OkxApiError, ErrorRule("error", _r(H, ERROR, "OKX answered with an error code"))),
    (OkxShieldError, ErrorRule("error", _r(H, ERROR, "the check failed"))),
    (
        Exception,
        ErrorRule(
            "error",
            _r(
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
    return Finding(
        check_id=check or check_id(key),
        severity=found.severity,
        status=found.status,
        resource=resource,
        message=message or found.wording,
        observed=observed,
        expected=expected,
        remediation=found.fix if remediation is None else remediation,
    )


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
    return Finding(
        check_id=check,
        severity=found.severity,
        status=found.status,
        resource=resource,
        message=message or found.wording,
        observed=observed,
        expected=expected,
        remediation=remediation,
    )
