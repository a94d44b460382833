"""The audit's findings about the fleet rather than one key: account key limits, the master key's listing,
the selection of secrets, the Shield secret's IPs, the event. How much each weighs is decided in
okxcore.findings; the per-key checks are in rules.py."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from okxcore.audit.models import OKX_MAX_KEYS_PER_ACCOUNT, Thresholds
from okxcore.errors import OkxShieldError
from okxcore.findings import finding
from okxcore.report import Finding
from okxcore.subaccounts import SubAccountListing


def keys_per_account(listed_sub_accts: Iterable[str], held: Iterable[tuple[str, str, str]]) -> Counter[str]:
    """How many of OKX's 50 keys each account uses. The master's listing counts every key of a sub-account
    (`listed_sub_accts`: one entry per listed key); any other account is known only by the keys held here
    (`held`: origin, uid and budget account of each judged key), a lower bound still worth a warning."""
    per_sub_acct = Counter(listed_sub_accts)
    counts: Counter[str] = Counter({f"subaccount:{name}": n for name, n in per_sub_acct.items()})
    listed = set(per_sub_acct)
    for origin, uid, account in held:
        if origin != "sub-account" and uid and account not in listed:
            counts[f"account uid {uid}"] += 1
    return counts


def account_limit_findings(keys_per_account: Mapping[str, int], thresholds: Thresholds) -> list[Finding]:
    """Accounts whose key count nears OKX's 50 (the master's listing counts every key, ours included)."""
    findings: list[Finding] = []
    for account, count in sorted(keys_per_account.items()):
        if count < thresholds.keys_per_account_warn:
            continue
        at_limit = count >= OKX_MAX_KEYS_PER_ACCOUNT
        findings.append(
            finding(
                "audit.limits.keys:at" if at_limit else "audit.limits.keys:near",
                account,
                f"{count} of OKX's {OKX_MAX_KEYS_PER_ACCOUNT} API keys per account are in use"
                + (": no key can be created (59501), so no rotation either" if at_limit else ""),
                observed=f"{count} keys",
                expected=f"fewer than {thresholds.keys_per_account_warn}",
            )
        )
    return findings


def master_finding(resource: str, *, listed_subaccounts: int, listed_keys: int) -> Finding:
    return finding(
        "audit.master:ok",
        resource,
        f"listed {listed_keys} key(s) in {listed_subaccounts} sub-account(s)",
    )


def master_error_finding(resource: str, problem: str, error: Exception | None = None) -> Finding:
    """The master key could not list sub-account keys: those keys went unaudited."""
    observed = ""
    remediation = (
        "Check the master key's secret and that it is the main account's key (read permission suffices for "
        "the audit; IP-binding repair and rotation need trade)."
    )
    if isinstance(error, OkxShieldError):
        observed = error.message
        remediation = error.hint or remediation
    elif error is not None:
        observed = type(error).__name__
    return finding(
        "audit.master:failed",
        resource,
        f"sub-account keys not audited: {problem}",
        observed=observed,
        expected="the master key lists its sub-accounts' keys",
        remediation=remediation,
    )


def master_truncation_finding(resource: str, listing: SubAccountListing) -> Finding:
    return finding(
        "audit.master:truncated",
        resource,
        f"the sub-account listing stopped after {len(listing.accounts)} sub-accounts in {listing.pages} page(s), "
        f"because {listing.stopped_early}: sub-accounts past them were not audited",
    )


def no_keys_finding(selection: str) -> Finding:
    return finding(
        "audit.fleet:no_keys",
        "fleet",
        f"no key secrets matched {selection}: nothing was audited",
        expected="at least one key secret",
    )


def listing_error_finding(error: Exception) -> Finding:
    observed = error.message if isinstance(error, OkxShieldError) else type(error).__name__
    hint = error.hint if isinstance(error, OkxShieldError) else ""
    return finding(
        "audit.fleet:listing_failed",
        "fleet",
        "the key secrets could not be listed: the fleet was not audited",
        observed=observed,
        remediation=hint or "Check the function's permission secretsmanager:ListSecrets.",
    )


def no_expected_ips_finding() -> Finding:
    return finding(
        "audit.fleet:no_expected_ips",
        "fleet",
        "the Shield secret lists no expected_ips: bound IPs were not compared with Shield's",
    )
