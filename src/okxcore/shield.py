"""The Shield proxy endpoint: the one place a proxy URL is parsed, validated and shown.

Accepted forms (what users paste from QuotaGuard's dashboard and articles):
- `https://USER:PASS@HOST:9294`       TLS to the proxy, then HTTP CONNECT (Shield's dashboard URL)
- `socks5h+tls://USER:PASS@HOST:1081` TLS to the proxy, then SOCKS5 with username/password
- `socks5h://USER:PASS@HOST:9293`     plain SOCKS5, OKX's host name resolved by the proxy

`socks5://` is refused: it means "resolve the OKX host locally" (a DNS leak, and a different answer
than the proxy would get). Failing closed with the fix named beats silently changing its meaning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import unquote, urlsplit

from okxcore.errors import ShieldUrlError
from okxcore.ips import normalise_ips


class ProxyScheme(StrEnum):
    SOCKS5H = "socks5h"
    SOCKS5H_TLS = "socks5h+tls"
    HTTPS = "https"

    @property
    def tls_to_proxy(self) -> bool:
        return self is not ProxyScheme.SOCKS5H

    @property
    def uses_socks(self) -> bool:
        return self is not ProxyScheme.HTTPS


_SCHEME_FIXES = {
    "socks5": "socks5:// resolves OKX's host name locally (a DNS leak): use socks5h:// instead.",
    "http": "http:// would send the proxy password in clear text: Shield's URL is https://...:9294.",
    "socks5+tls": "use socks5h+tls:// (the proxy resolves OKX's host name).",
    "socks4": "SOCKS4 has no password authentication: use Shield's https:// or socks5h:// URL.",
    "socks4a": "SOCKS4 has no password authentication: use Shield's https:// or socks5h:// URL.",
}

_MAX_CREDENTIAL_LENGTH = 255  # RFC 1929 carries each in one length byte


@dataclass(frozen=True)
class ShieldEndpoint:
    scheme: ProxyScheme
    host: str
    port: int
    username: str
    password: str = field(repr=False)
    expected_ips: tuple[str, ...] = ()

    @classmethod
    def parse(cls, url: str, *, expected_ips: tuple[str, ...] | list[str] = ()) -> ShieldEndpoint:
        """Parse a Shield URL. Errors name the problem and the fix, never the password or the URL."""
        if not isinstance(url, str) or not url:
            raise ShieldUrlError("is empty", hint="Set the Shield Connection URL from QuotaGuard's dashboard.")
        if url != url.strip():
            raise ShieldUrlError(
                "has leading or trailing whitespace (often a pasted newline)",
                hint="Remove the whitespace around the URL.",
            )
        if any(ch.isspace() or ord(ch) < 0x20 for ch in url):
            raise ShieldUrlError("contains whitespace or control characters", hint="Paste the URL again.")
        if "://" not in url:
            raise ShieldUrlError(
                "has no scheme", hint="Write it as https://USER:PASS@HOST:9294 (or socks5h://, socks5h+tls://)."
            )
        scheme_text = url.split("://", 1)[0].lower()
        try:
            scheme = ProxyScheme(scheme_text)
        except ValueError:
            fix = _SCHEME_FIXES.get(scheme_text, "use https://, socks5h+tls:// or socks5h://.")
            raise ShieldUrlError(f"scheme '{scheme_text}' is not supported", hint=fix) from None
        _check_encoded_credentials(url.split("://", 1)[1])
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise ShieldUrlError(
                "has an invalid port (must be a number from 1 to 65535)",
                hint="Check the port (https: 9294, socks5h+tls: 1081, socks5h: 9293). Special characters in "
                "the password must be percent-encoded.",
            ) from None
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ShieldUrlError("must not have a path, query or fragment", hint="Use scheme://USER:PASS@HOST:PORT.")
        if not parts.hostname:
            raise ShieldUrlError("has no host", hint="Use scheme://USER:PASS@HOST:PORT.")
        if port is None or port == 0:
            raise ShieldUrlError("has no port", hint="Add the port: https: 9294, socks5h+tls: 1081, socks5h: 9293.")
        if parts.username is None or parts.password is None or not parts.username or not parts.password:
            raise ShieldUrlError(
                "has no username and password",
                hint="Shield needs both: copy the full Connection URL (USER:PASS@HOST:PORT) from the dashboard.",
            )
        username, password = unquote(parts.username), unquote(parts.password)
        if len(username.encode()) > _MAX_CREDENTIAL_LENGTH or len(password.encode()) > _MAX_CREDENTIAL_LENGTH:
            raise ShieldUrlError("has a username or password longer than 255 bytes", hint="Paste the URL again.")
        return cls(
            scheme=scheme,
            host=parts.hostname,
            port=port,
            username=username,
            password=password,
            expected_ips=normalise_ips(expected_ips, source="Shield secret"),
        )

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def redacted_url(self) -> str:
        return f"{self.scheme.value}://{self.username}:***@{self.address}"

    def __str__(self) -> str:
        return self.redacted_url()

    def __repr__(self) -> str:
        return f"ShieldEndpoint({self.redacted_url()!r}, expected_ips={self.expected_ips!r})"


# Characters that end the credentials early when a URL carries them unencoded (the rest would read as a path,
# query or fragment, or the port); the dashboard's URL has them percent-encoded.
_URL_DELIMITERS = {"#": "%23", "?": "%3F", "/": "%2F"}


def _check_encoded_credentials(after_scheme: str) -> None:
    """A '#', '?' or '/' in the username or password (before the last '@') must be percent-encoded. Names the
    character, never the password."""
    if "@" not in after_scheme:
        return
    credentials = after_scheme.rsplit("@", 1)[0]
    found = [char for char in _URL_DELIMITERS if char in credentials]
    if found:
        chars = ", ".join(f"'{char}'" for char in found)
        encoded = ", ".join(f"{char} as {_URL_DELIMITERS[char]}" for char in found)
        raise ShieldUrlError(
            f"has {chars} in its username or password, not percent-encoded",
            hint=f"Percent-encode it in the URL ({encoded}), or copy the Connection URL again from the dashboard.",
        )
