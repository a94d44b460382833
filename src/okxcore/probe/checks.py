"""The per-key checks: which keys, account/config through Shield for each, and the binding findings.

Running them over a fleet (concurrently, within the time budget) is okxcore.probe.fleet's job."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from okxcore.egress import (
    BindingComparison,
    compare_binding,
)
from okxcore.errors import (
    InvalidInputError,
    IpNotAllowedError,
    KeyGoneError,
    KeyInOtherRegionError,
    OkxApiError,
    OkxShieldError,
    ProxyError,
    SecretFormatError,
)
from okxcore.findings import error_finding, error_rule
from okxcore.ips import canonical_ip
from okxcore.probe.event import MAX_KEYS_PER_RUN
from okxcore.probe.reporting import FindingSink
from okxcore.regions import locate_key
from okxcore.report import Finding
from okxcore.transport import DEFAULT_POOL_SIZE

if TYPE_CHECKING:
    from okxcore.client import OkxClient
    from okxcore.credentials import OkxKeySecret
    from okxcore.models import AccountConfig
    from okxcore.probe.ports import KeyLister, ProbeWiring
    from okxcore.probe.reporting import ProbeRun

# How one key's account/config is asked for: the fleet runner paces and retries it (okxcore.probe.fleet).
ConfigCall = Callable[["OkxClient"], "AccountConfig"]


@dataclass
class KeyCheck(FindingSink):
    """One key's check and the findings it produced (the run takes them in the keys' order)."""

    secret_name: str
    label: str
    checked: bool = False  # account/config answered
    perm: frozenset[str] = frozenset()
    binding: BindingComparison | None = None
    okx_seen_ip: str | None = None
    result: str = ""  # a short word for the table
    resource: str = ""  # how the findings name the key
    config: AccountConfig | None = None  # what account/config answered
    needs_binding: bool = False  # unbound with trade/withdraw, a Shield IP missing, or 50110 from a Shield IP
    findings: list[Finding] = field(default_factory=list)

    @property
    def correctly_bound(self) -> bool:
        return self.binding is not None and self.binding.complete


def resolve_key_names(run: ProbeRun, list_key_secrets: KeyLister) -> list[str]:
    """The key secrets this run checks, in the order the report lists them (the lister's: sorted names)."""
    config = run.config
    if config.key_secret_names:
        run.details["keys_from"] = config.key_names_source
        return list(config.key_secret_names)
    if not config.key_secret_prefix:
        run.add(
            "probe.keys.discovery:none_configured",
            "keys",
            "No OKX keys are configured for the probe, so no key binding was checked.",
        )
        return []
    run.details["keys_from"] = f"secrets named {config.key_secret_prefix}*"
    try:
        names = list_key_secrets(
            config.key_secret_prefix, tag=config.key_secret_tag, exclude=(config.shield_secret_name,)
        )
    except OkxShieldError as exc:
        run.add("probe.keys.discovery:failed", "keys", exc.message, remediation=exc.hint)
        return []
    if not names:
        run.add(
            "probe.keys.discovery:none_found",
            "keys",
            f"No secrets named {config.key_secret_prefix}* were found, so no key binding was checked.",
        )
    if len(names) > MAX_KEYS_PER_RUN:
        run.add(
            "probe.keys.discovery:too_many",
            "keys",
            f"{len(names)} key secrets found; only the first {MAX_KEYS_PER_RUN} were checked in this run.",
        )
        names = names[:MAX_KEYS_PER_RUN]
    return names


def keys_table(checks: list[KeyCheck]) -> list[list[str]]:
    rows = [["key", "permissions", "bound IPs", "result"]]
    for check in checks:
        bound = ", ".join(check.binding.bound) if check.binding and check.binding.bound else "-"
        if check.binding is not None and check.binding.unbound:
            bound = "(none)"
        rows.append([check.label, ",".join(sorted(check.perm)) or "-", bound, check.result])
    return rows


def check_key(
    wiring: ProbeWiring,
    secret_name: str,
    yardstick: tuple[str, ...],
    configured: bool,
    *,
    loaded: OkxKeySecret | Exception | None = None,
    call: ConfigCall = lambda client: client.account_config(),
    pool_maxsize: int = DEFAULT_POOL_SIZE,
) -> KeyCheck:
    """One key: its secret (`loaded` by a batch read, else read here), account/config through Shield, and the
    findings (on the check, not the run)."""
    check = KeyCheck(secret_name=secret_name, label=secret_name)
    try:
        if isinstance(loaded, Exception):
            raise loaded
        key = loaded if loaded is not None else wiring.load_key(secret_name)
    except SecretFormatError as exc:
        check.result = "bad secret"
        check.add(
            "probe.keys.secret",
            secret_name,
            f"The key secret is malformed: {exc.message}",
            remediation=exc.hint,
        )
        return check
    except InvalidInputError as exc:
        check.result = "unreadable"
        check.add("probe.keys.secret", secret_name, exc.message, remediation=exc.hint)
        return check
    label = key.display_name(secret_name)
    check.label = label
    resource = label if label == secret_name else f"{label} ({secret_name})"
    check.resource = resource
    def client_for(region_key: OkxKeySecret) -> OkxClient:
        # A health check is not the bot's use: recording it would hide a dead bot from the audit's dormancy
        # check. OKX still counts it as use; the audit's countdown reads the bot's own record (conservative).
        return wiring.client(region_key, key_name=secret_name, record_use=False, pool_maxsize=pool_maxsize)

    try:
        config = call(client_for(key))
    except ProxyError:
        raise
    except IpNotAllowedError as exc:
        _ip_not_allowed(check, exc, resource, yardstick, configured)
        return check
    except Exception as exc:  # any failure (OKX, the state table recording use) is this key's, not the run's
        error = _located(exc, wiring, key, lambda other: call(client_for(other)))
        check.result = error_rule(error).result
        observed = error.message if isinstance(error, OkxShieldError) else ""
        check.findings.append(error_finding("probe.keys.okx", error, resource, _okx_words(error), observed=observed))
        return check
    check.checked = True
    check.config = config
    check.perm = config.perm
    check.binding = compare_binding(config.ip, yardstick)
    _binding_findings(check, key, config, resource, yardstick, configured)
    return check


def _located(
    error: Exception, wiring: ProbeWiring, key: OkxKeySecret, ask: Callable[[OkxKeySecret], object]
) -> Exception:
    """A 50119 after the key was tried at the other regions' hosts (okxcore.regions), when they can be reached:
    the wrong region, or no region knows the key. Any other error as it is."""
    if not isinstance(error, KeyGoneError) or not wiring.settings.other_regions_reachable():
        return error
    return locate_key(error, key.region, lambda region: ask(key.model_copy(update={"region": region})))


def _ip_not_allowed(
    check: KeyCheck, exc: IpNotAllowedError, resource: str, yardstick: tuple[str, ...], configured: bool
) -> None:
    check.okx_seen_ip = canonical_ip(exc.seen_ip) if exc.seen_ip else None
    seen = check.okx_seen_ip or "an unnamed IP"
    if check.okx_seen_ip and configured and check.okx_seen_ip not in yardstick:
        check.result = "50110 (egress)"
        message = f"OKX rejected the call from {seen} (50110), which is not a Shield static IP."
        remediation = "Egress is wrong (see the egress finding); the key's binding could not be read."
    else:
        check.result = "not bound"
        check.needs_binding = True
        message = (
            f"OKX rejected the call from Shield IP {seen} (50110): the key is not bound to it, so calls leaving "
            "from it fail."
        )
        remediation = (
            f"Bind BOTH Shield static IPs ({', '.join(yardstick) or seen}) to the key in OKX's API management."
        )
    check.add(
        "probe.keys.binding:ip_not_allowed",
        resource,
        message,
        observed=f"OKX saw {seen}",
        expected=", ".join(yardstick),
        remediation=remediation,
    )


def _binding_findings(
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
    if binding.unbound:
        _unbound(check, key, config, resource, expected_text)
    elif not binding.compared:
        check.result = "unverified"
        check.add(
            "probe.keys.binding:unverified",
            resource,
            "The key's binding could not be verified: no expected_ips are configured and no echo service answered.",
            observed=", ".join(binding.bound),
        )
        return
    elif binding.missing:
        check.result = "missing " + ", ".join(binding.missing)
        check.needs_binding = True
        check.add(
            "probe.keys.binding:missing",
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
        check.add(
            "probe.keys.binding:ok",
            resource,
            f"The key is bound to every Shield static IP{note}.",
            observed=", ".join(binding.bound),
            expected=expected_text,
        )
    if binding.extra and not binding.unbound:
        check.add(
            "probe.keys.extra_ips",
            resource,
            f"The key also allows {', '.join(binding.extra)}, which is not a Shield static IP.",
            observed=", ".join(binding.bound),
            expected=expected_text,
        )


def _unbound(check: KeyCheck, key: OkxKeySecret, config: AccountConfig, resource: str, expected_text: str) -> None:
    check.result = "UNBOUND"
    bind_fix = f"Bind both Shield static IPs ({expected_text}) to the key in OKX's API management."
    if config.can_trade_or_withdraw and not key.demo:
        check.needs_binding = True
        risky = " and ".join(sorted(config.perm & {"trade", "withdraw"}))
        check.add(
            "probe.keys.binding:unbound_risky",
            resource,
            f"The key has {risky} permission and is bound to no IP: OKX deletes such keys (after 14 days "
            "of inactivity, or 14 days after creation by QuotaGuard's reading). Deletion risk.",
            observed="no IP bound",
            expected=expected_text,
            remediation=bind_fix,
        )
        return
    kind = "a demo key (not deleted by OKX)" if key.demo else "read-only (not deleted by OKX)"
    check.add(
        "probe.keys.binding:unbound_safe",
        resource,
        f"The key is bound to no IP; it is {kind}, but anyone holding it can use it from anywhere.",
        observed="no IP bound",
        expected=expected_text,
    )


def _okx_words(error: Exception) -> str:
    """What the probe says when account/config did not answer; the table (okxcore.findings) weighs it."""
    code = getattr(error, "code", "")
    result = error_rule(error).result
    if isinstance(error, KeyInOtherRegionError):
        return f"OKX's {error.host} knows this key, not the host its secret names ({code}): wrong region."
    if isinstance(error, KeyGoneError) and error.regions_asked:
        return f"No OKX region knows this key ({code} at {', '.join(error.regions_asked)}): it was deleted."
    if result == "key gone":
        return f"OKX does not know this key ({code})."
    if result == "rejected":
        return f"OKX rejected the key ({code}): every call with it fails."
    if result == "not checked":
        return "The binding could not be checked in this run (OKX busy, rate-limited or unreachable)."
    if isinstance(error, OkxApiError):
        return f"account/config failed ({code})."
    return f"The check stopped on an unexpected {error.__class__.__name__}."
