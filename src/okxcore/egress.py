"""Where okx-shield's traffic leaves from, and whether a key allows it: the probe's building blocks.

- Echo URLs: https only, a host name (never a bare IP), never an OKX or OKEx host (the one direct call of
  the product goes to an echo URL).
- Echo answers are parsed by their content (JSON `{"ip": ..}`, a JSON string, or a bare IP in text), never
  by trusting the URL or the Content-Type: services change both.
- `ask_echo` asks through the ShieldSession that talks to OKX, and only through it;
  `direct_echo_for_contrast` is the single, opt-in exception.
- `judge_egress` compares the answers with Shield's static IPs; `compare_binding` compares a key's IP
  allowlist (IPs or CIDR blocks) with them.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import requests

from okxcore.errors import InvalidInputError, OkxShieldError, ProxyError, ProxyTunnelError
from okxcore.ips import canonical_ip
from okxcore.transport import ShieldSession

DEFAULT_ECHO_URLS: tuple[str, ...] = (
    "https://ip.quotaguard.com",  # JSON {"ip": ".."}: QuotaGuard's own check
    "https://api.ipify.org?format=json",  # JSON {"ip": ".."}
    "https://checkip.amazonaws.com",  # text: the IP and a newline
)
MIN_ECHO_SERVICES = 2  # one service alone could be wrong or lying; two independent ones cross-check
MAX_ECHO_SERVICES = 6
MAX_ECHO_BODY_BYTES = 4096
ECHO_TIMEOUT_S = 5.0


class EchoUrlError(InvalidInputError):
    """An echo URL is unusable (not https, no host, an OKX host...)."""


def validate_echo_urls(urls: Iterable[str], *, source: str, field: str) -> tuple[str, ...]:
    """At least two distinct https URLs, none of them an OKX host."""
    cleaned = tuple(dict.fromkeys(str(url).strip() for url in urls if str(url).strip()))
    if len(cleaned) < MIN_ECHO_SERVICES:
        raise EchoUrlError(
            source,
            field,
            f"needs at least {MIN_ECHO_SERVICES} distinct echo URLs, got {len(cleaned)}",
            hint=_ECHO_URL_HINT,
        )
    if len(cleaned) > MAX_ECHO_SERVICES:
        raise EchoUrlError(source, field, f"lists more than {MAX_ECHO_SERVICES} echo URLs", hint=_ECHO_URL_HINT)
    for index, url in enumerate(cleaned):
        check_echo_url(url, source=source, field=f"{field}[{index}]")
    return cleaned


_ECHO_URL_HINT = "List at least two https IP-echo URLs, e.g. " + ", ".join(DEFAULT_ECHO_URLS) + "."


def check_echo_url(url: str, *, source: str, field: str) -> str:
    """One echo URL: https, a host, no credentials, and never an OKX host."""
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        raise EchoUrlError(source, field, "is not a valid URL", hint=_ECHO_URL_HINT) from None
    if parts.scheme != "https":
        # The Shield transport only speaks https; a plain-http echo could also be answered by anyone on the path.
        raise EchoUrlError(source, field, "must start with https://", hint=_ECHO_URL_HINT)
    if not parts.hostname:
        raise EchoUrlError(source, field, "has no host", hint=_ECHO_URL_HINT)
    if parts.username is not None or parts.password is not None:
        raise EchoUrlError(source, field, "must not contain credentials", hint=_ECHO_URL_HINT)
    host = parts.hostname.rstrip(".").lower()
    if _is_ip_literal(host):
        # An IP is no echo *service*: it could be OKX's own address, and nothing shows whose it is.
        raise EchoUrlError(source, field, "must name an echo service by host name, not a bare IP", hint=_ECHO_URL_HINT)
    if not _HOST_NAME.fullmatch(host):
        raise EchoUrlError(source, field, "must be a plain ASCII host name", hint=_ECHO_URL_HINT)
    if "okx" in host or "okex" in host:
        # The direct contrast call goes to an echo URL: an OKX host there (okx.com, okex.com, their mirrors)
        # would be a direct call to OKX. Refused by name, so that no list of OKX's domains can be incomplete.
        raise EchoUrlError(source, field, "must not be an OKX or OKEx host", hint=_ECHO_URL_HINT)
    return url


_HOST_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")


def _is_ip_literal(host: str) -> bool:
    """Any spelling the resolver would read as an address: 1.2.3.4, ::1, and inet_aton's 127.1 or 2130706433."""
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        pass
    try:
        socket.inet_aton(host)
    except OSError:
        return False
    return True


def echo_label(url: str) -> str:
    """A short name for an echo service: host[:port][/path], no query (e.g. "api.ipify.org")."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    try:
        port = parts.port
    except ValueError:
        port = None
    label = f"{host}:{port}" if port and port != 443 else host
    path = parts.path.rstrip("/")
    return label + path


# --- echo answers -------------------------------------------------------------------------------

_JSON_IP_FIELDS = ("ip", "origin")


def parse_echo_answer(body: bytes) -> tuple[str | None, str]:
    """(ip, "") or (None, problem). Decides JSON vs text by the body itself: services change their
    Content-Type, and some answer JSON to `?format=json` only."""
    text = body.decode("utf-8", errors="replace").strip().lstrip("\ufeff").strip()
    if not text:
        return None, "empty answer"
    if text[0] in '{["':
        try:
            data = json.loads(text)
        except ValueError:
            return None, "the answer looks like JSON but does not parse"
        candidate = _ip_in_json(data)
        if candidate is None:
            return None, "a JSON answer without an 'ip' field holding one IP address"
        ip = canonical_ip(candidate)
        return (ip, "") if ip else (None, "the JSON 'ip' field is not an IP address")
    if len(text.split()) != 1:
        return None, f"a text answer that is not a bare IP address ({len(body)} bytes)"
    ip = canonical_ip(text)
    return (ip, "") if ip else (None, f"a text answer that is not an IP address ({len(body)} bytes)")


def _ip_in_json(data: Any) -> str | None:
    if isinstance(data, str):
        return data
    if isinstance(data, list) and len(data) == 1:
        return _ip_in_json(data[0])
    if isinstance(data, dict):
        lowered = {str(k).lower(): v for k, v in data.items()}
        for name in _JSON_IP_FIELDS:
            value = lowered.get(name)
            if isinstance(value, str):
                return value
    return None


@dataclass(frozen=True)
class EchoResult:
    service: str
    url: str
    ip: str | None = None
    problem: str = ""
    latency_ms: float | None = None
    proxied: bool = True

    @property
    def answered(self) -> bool:
        return self.ip is not None


def ask_echo(
    session: ShieldSession, url: str, *, timeout_s: float = ECHO_TIMEOUT_S, clock: Callable[[], float] = time.monotonic
) -> EchoResult:
    """One echo question through Shield. A ProxyError other than a refused tunnel propagates: it means the
    proxy itself is broken, which ends the run. Everything else becomes the echo's problem."""
    if not isinstance(session, ShieldSession):
        # Fail closed: an echo through anything but the OKX transport proves nothing about OKX's view.
        raise TypeError("the probe's echo calls must go through the ShieldSession that talks to OKX")
    return _ask(session, url, timeout_s=timeout_s, clock=clock, proxied=True)


def direct_echo_for_contrast(
    url: str,
    *,
    ca_bundle: str | None = None,
    timeout_s: float = ECHO_TIMEOUT_S,
    clock: Callable[[], float] = time.monotonic,
) -> EchoResult:
    """THE ONLY non-proxied request in okx-shield, and only when the event asks for it.

    It shows the rotating Lambda IP next to Shield's, so the user sees what a bypass would look like. It
    goes to an echo URL only (check_echo_url refuses OKX hosts), in a fresh plain session that ignores
    HTTP(S)_PROXY (trust_env off) and carries no credentials, headers or cookies of any OKX call.
    """
    check_echo_url(url, source="direct echo", field="url")
    with requests.Session() as plain:
        plain.trust_env = False
        plain.proxies = {}
        plain.verify = ca_bundle if ca_bundle else True
        plain.max_redirects = 0
        return _ask(plain, url, timeout_s=timeout_s, clock=clock, proxied=False)


def _ask(
    session: requests.Session, url: str, *, timeout_s: float, clock: Callable[[], float], proxied: bool
) -> EchoResult:
    service = echo_label(url)
    started = clock()

    def failed(problem: str) -> EchoResult:
        return EchoResult(service, url, problem=problem, proxied=proxied)

    try:
        response = session.get(
            url,
            headers={"Accept": "application/json, text/plain;q=0.9, */*;q=0.1"},
            timeout=(timeout_s, timeout_s),
            stream=True,
            allow_redirects=False,
        )
    except ProxyTunnelError as exc:
        return failed(f"the proxy would not open a tunnel to it: {exc.message}")
    except ProxyError:
        raise
    except requests.exceptions.SSLError:
        return failed("TLS to the echo service failed (its certificate was not trusted)")
    except requests.Timeout:
        return failed(f"no answer within {timeout_s:g} s")
    except requests.RequestException as exc:
        return failed(f"the request failed ({exc.__class__.__name__})")
    except OkxShieldError as exc:
        return failed(exc.message)
    try:
        body = bytearray()
        for chunk in response.iter_content(1024):
            body.extend(chunk)
            if len(body) > MAX_ECHO_BODY_BYTES:
                return failed(f"the answer is larger than {MAX_ECHO_BODY_BYTES} bytes: not an IP echo")
    except requests.RequestException as exc:
        return failed(f"the answer broke off ({exc.__class__.__name__})")
    finally:
        response.close()
    latency_ms = round((clock() - started) * 1000, 1)
    if response.status_code != 200:
        return EchoResult(
            service, url, problem=f"answered HTTP {response.status_code}", latency_ms=latency_ms, proxied=proxied
        )
    ip, problem = parse_echo_answer(bytes(body))
    return EchoResult(service, url, ip=ip, problem=problem, latency_ms=latency_ms, proxied=proxied)


# --- judging the egress -------------------------------------------------------------------------


class EgressState(StrEnum):
    MATCH = "match"  # every answer is a Shield static IP
    MISMATCH = "mismatch"  # at least one answer is not
    UNKNOWN = "unknown"  # no echo answered
    UNCONFIGURED = "unconfigured"  # no expected IPs to compare with


def consensus(ips: Sequence[str]) -> str | None:
    """The IP most answers agree on (a unique plurality), or None (no answers, or a tie at the top)."""
    if not ips:
        return None
    (top, votes), *rest = Counter(ips).most_common()
    return None if rest and rest[0][1] == votes else top


@dataclass(frozen=True)
class EgressVerdict:
    state: EgressState
    consensus_ip: str | None
    answers: dict[str, str]  # service -> ip, answered services only
    unanswered: dict[str, str]  # service -> problem
    expected_ips: tuple[str, ...]
    outside: tuple[str, ...]  # distinct answered IPs that are not Shield's

    @property
    def distinct_ips(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.answers.values()))

    @property
    def split(self) -> bool:
        return len(self.distinct_ips) > 1


def judge_egress(results: Sequence[EchoResult], expected_ips: Sequence[str]) -> EgressVerdict:
    """`expected_ips` in canonical form, as ShieldEndpoint holds them (normalised once, where they are read)."""
    expected = tuple(expected_ips)
    answers = {r.service: r.ip for r in results if r.ip is not None}
    unanswered = {r.service: r.problem or "no answer" for r in results if r.ip is None}
    top = consensus(list(answers.values()))
    outside = tuple(dict.fromkeys(ip for ip in answers.values() if ip not in expected)) if expected else ()
    if not expected:
        state = EgressState.UNCONFIGURED
    elif not answers:
        state = EgressState.UNKNOWN
    elif outside:
        state = EgressState.MISMATCH
    else:
        state = EgressState.MATCH
    return EgressVerdict(state, top, answers, unanswered, expected, outside)


# --- comparing a key's binding ------------------------------------------------------------------


@dataclass(frozen=True)
class BindingComparison:
    bound: tuple[str, ...]
    missing: tuple[str, ...]  # expected IPs the key does not allow
    extra: tuple[str, ...]  # bound entries that cover no expected IP (old proxies, home IPs...)
    compared: bool = True  # False: there was nothing to compare with (no expected IP, no echo answer)

    @property
    def unbound(self) -> bool:
        return not self.bound

    @property
    def complete(self) -> bool:
        return self.compared and bool(self.bound) and not self.missing


# A fleet's keys are bound to the same few entries (the two Shield IPs): parsed once, not once per key (the
# parsing was a sixth of a probe's CPU per key). The objects are immutable; lru_cache is thread-safe.
@functools.lru_cache(maxsize=4096)
def _network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return None


@functools.lru_cache(maxsize=256)
def _address(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(ip)


def compare_binding(bound: Iterable[str], expected_ips: Iterable[str]) -> BindingComparison:
    """Which expected IPs a key's allowlist covers. Entries may be IPs or CIDR blocks (OKX accepts both).
    `expected_ips` in canonical form, as ShieldEndpoint holds them (or as the echo answers were parsed)."""
    entries = tuple(dict.fromkeys(entry.strip() for entry in bound if entry and entry.strip()))
    expected = tuple(dict.fromkeys(expected_ips))
    networks = [(entry, _network(entry)) for entry in entries]
    used: set[str] = set()
    missing: list[str] = []
    for ip in expected:
        address = _address(ip)
        covering = [entry for entry, net in networks if net is not None and address in net]
        if covering:
            used.update(covering)
        else:
            missing.append(ip)
    extra = tuple(entry for entry in entries if entry not in used)
    return BindingComparison(entries, tuple(missing), extra, compared=bool(expected))
