"""IP addresses in canonical text form: Shield's static IPs as configured, what the echo services and OKX saw.

The egress verdict, the binding check and the trading pause compare these as text, so they are made
canonical in one place.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from okxcore.errors import ShieldUrlError


def canonical_ip(text: str) -> str | None:
    """The IP in canonical text form (IPv4-mapped IPv6 as IPv4), or None when it is not one IP."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def normalise_ips(ips: Iterable[str], *, source: str) -> tuple[str, ...]:
    """Shield's static IPs as configured (the Shield secret, SHIELD_EXPECTED_IPS): each canonical, duplicates
    dropped, the first one's order kept. An entry that is not one IP is an error naming
    `expected_ips` and the entry's position, never its value."""
    out: list[str] = []
    for index, text in enumerate(ips):
        try:
            out.append(str(ipaddress.ip_address(str(text).strip())))
        except ValueError:
            raise ShieldUrlError(
                f"entry {index} is not an IP address",
                source=source,
                field="expected_ips",
                hint="List Shield's static IPs, e.g. 52.1.2.3.",
            ) from None
    return tuple(dict.fromkeys(out))
