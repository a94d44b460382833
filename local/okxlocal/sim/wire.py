"""What every API area of the simulator shares: request, response, route and OKX's number forms."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

ZERO = Decimal(0)
TIMESTAMP_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


def fmt(value: Decimal) -> str:
    """Decimal as OKX writes numbers: plain notation, no trailing zeros, "0" for zero."""
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def sign(secret: str, timestamp: str, method: str, request_path: str, body: bytes | str = b"") -> str:
    """OKX signature: Base64(HMAC-SHA256(secret, timestamp + METHOD + requestPath + body))."""
    raw_body = body.encode("utf-8") if isinstance(body, str) else body
    msg = (timestamp + method.upper() + request_path).encode("utf-8") + raw_body
    return base64.b64encode(hmac.new(secret.encode("utf-8"), msg, hashlib.sha256).digest()).decode("ascii")


def parse_okx_timestamp(text: str) -> int | None:
    """``2020-12-08T09:08:57.715Z`` -> epoch ms; None unless exactly that form (3 digits, Z)."""
    if not TIMESTAMP_RE.fullmatch(text):
        return None
    try:
        parsed = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    return round(parsed.timestamp() * 1000)


def ip_allowed(peer: str, allowlist: list[str]) -> bool:
    """Is ``peer`` in the allowlist (plain IPs or CIDR blocks, IPv4 or IPv6)?"""
    try:
        addr: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(peer)
    except ValueError:
        return peer in allowlist
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    for entry in allowlist:
        entry = entry.strip()
        try:
            if addr in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            if entry == peer:
                return True
    return False


def positive_decimal(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not number.is_finite() or number <= 0:
        return None
    return number


def round_down(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


def is_multiple(value: Decimal, step: Decimal) -> bool:
    return step <= 0 or value % step == 0


@dataclass
class ApiRequest:
    method: str
    raw_path: str  # request-target as received, with ?query (what OKX signs)
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    peer_ip: str
    region: str | None = None  # the regional host it came to (www, eea, us; None: the seed's, the main listener)

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


@dataclass
class ApiResponse:
    http_status: int
    payload: dict[str, Any]
    drop: bool = False  # close the connection without answering

    @property
    def code(self) -> str:
        return str(self.payload.get("code", ""))


@dataclass(frozen=True)
class Route:
    name: str
    handler: str
    private: bool
    limit: int | None = None
    window_s: float | None = None  # None: the limiter's (OKX's usual 2 s); sub-account key changes are 1 per 1 s
    per_inst: bool = False
    need_trade: bool = False
    need_master: bool = False
    need_ip_bound: bool = False


def merge_routes(*tables: dict[str, dict[str, Route]]) -> dict[str, dict[str, Route]]:
    """One path may be served by two areas (GET trade/order reads, POST trade/order writes)."""
    merged: dict[str, dict[str, Route]] = {}
    for table in tables:
        for path, methods in table.items():
            merged.setdefault(path, {}).update(methods)
    return merged
