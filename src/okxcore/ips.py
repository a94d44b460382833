"""IP addresses in one canonical text form: Shield's static IPs, what the echo services saw, what OKX saw.

The egress verdict, the binding check and the trading pause compare these as text, so all of them must be
written the same way or a Shield IP is taken for a stranger (and trading paused). One rule for all: Python's
`ipaddress` text (IPv6 lower case and compressed), and an IPv4-mapped IPv6 address (`::ffff:52.1.2.3`, how a
dual-stack socket or a copied dashboard value may show it) as the IPv4 address it is.
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
    (in any spelling) dropped, the first spelling's order kept. An entry that is not one IP is an error naming
    `expected_ips` and the entry's position, never its value."""
    out: list[str] = []
    for index, text in enumerate(ips):
        ip = canonical_ip(str(text))
        if ip is None:
            raise ShieldUrlError(
                f"entry {index} is not an IP address",
                source=source,
                field="expected_ips",
                hint="List Shield's static IPs, e.g. 52.1.2.3.",
            )
        out.append(ip)
    return tuple(dict.fromkeys(out))
