"""A finding's rule, and the shorthand the table's rows are written in."""

from __future__ import annotations

from dataclasses import dataclass

from okxcore.report import Severity, Status


@dataclass(frozen=True)
class Rule:
    severity: Severity
    status: Status
    wording: str  # what the finding means, in one line; the message when the caller has no observation
    fix: str = ""  # the remediation when the caller has none more specific
    # Whether the run did not do its job because of it: every ERROR does; a FAIL only where the row says so.
    fails_run: bool = False

    @property
    def is_problem(self) -> bool:
        return self.status is not Status.PASS


def r(severity: Severity, status: Status, wording: str, fix: str = "", *, fails_run: bool = False) -> Rule:
    return Rule(severity, status, wording, fix, fails_run=fails_run or status is Status.ERROR)


C, H, M, L, I = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO  # noqa: E741
PASS, WARN, FAIL, ERROR = Status.PASS, Status.WARN, Status.FAIL, Status.ERROR

INVALID_EVENT = r(C, ERROR, "the function did not run: its event is invalid", "Fix the schedule's Input.")
NOT_CHECKED = r(
    M,
    WARN,
    "not checked in this run: OKX rate-limited the call, was busy, or could not be reached",
    "Nothing to fix if it passes: the next run checks again. If it persists, check OKX's status and how "
    "often the schedules call OKX.",
)
EXTRA_IPS = r(
    M,
    WARN,
    "bound to IPs that are not Shield's: anyone calling from there with the key's credentials is let in",
    "Remove IPs that are no longer used (old proxies, home or office IPs): each one is a place the key works from.",
)
# One judgement for a key OKX does not delete (read-only or demo) that is bound to no IP, in the probe and the audit.
UNBOUND_KEPT = r(
    L,
    WARN,
    "bound to no IP: OKX does not delete it (read-only or demo), but whoever holds it can use it from anywhere",
    "Bind both Shield static IPs to the key in OKX's API management, unless something outside Shield uses it "
    "(the IP-binding repair leaves such keys to you).",
)
SHIELD_IP_MISSING = r(
    H,
    FAIL,
    "not bound to every Shield static IP: calls leaving from the other one fail with 50110",
    "Bind both Shield static IPs to the key in OKX's API management.",
)
