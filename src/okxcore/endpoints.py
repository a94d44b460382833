"""Where a signed OKX call may go: OKX's own hosts, and nothing else in a deployed function.

A signed request carries the API key and the passphrase in its headers. Were the base URL any https host, a
misconfigured stack (a typo, a pasted test value, a hostile template change) would hand both to that host.
So the base URL is one of OKX's regional hosts, unless the explicit local/test setting allows another (the
local simulator), and that setting itself is refused in a deployed function. The same holds for a CA bundle
for OKX's certificate: trusting another CA is what a man in the middle needs.

Deployed means running in Lambda (AWS_LAMBDA_FUNCTION_NAME is set) and not under `sam local`
(AWS_SAM_LOCAL=true), which is a developer's machine.
"""

from __future__ import annotations

import functools
from typing import Literal
from urllib.parse import urlsplit

from okxcore.errors import InvalidInputError

Region = Literal["www", "eea", "us"]

OKX_HOSTS: dict[Region, str] = {"www": "www.okx.com", "eea": "eea.okx.com", "us": "us.okx.com"}
REGION_BASE_URLS: dict[Region, str] = {region: f"https://{host}" for region, host in OKX_HOSTS.items()}

LOCAL_SETTING = "OKX_SHIELD_LOCAL"
_SOURCE = "function environment"
_HINT_HOSTS = (
    "Leave OKX_BASE_URL unset (the key's region picks the host) or set one of "
    + ", ".join(REGION_BASE_URLS.values())
    + f". Another host (the local simulator) needs {LOCAL_SETTING}=true, which only a local run accepts."
)


class NotAnOkxHostError(InvalidInputError):
    """A signed call would go to a host that is not OKX's."""


def is_deployed(*, lambda_function_name: str, sam_local: str) -> bool:
    return bool(lambda_function_name) and sam_local.strip().lower() != "true"


# Every OKX client checks its base URL (one client per key in a fleet run): the answer for a URL is cached.
@functools.lru_cache(maxsize=64)
def okx_base_url(url: str, *, allow_other_hosts: bool, source: str = _SOURCE, field: str = "OKX_BASE_URL") -> str:
    """The base URL in canonical form (https://host[:port]), or NotAnOkxHostError naming the field."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise NotAnOkxHostError(source, field, "is not a valid URL", hint=_HINT_HOSTS) from None
    if parts.scheme != "https" or not parts.hostname:
        raise NotAnOkxHostError(source, field, "must be https://HOST", hint=_HINT_HOSTS)
    if parts.username is not None or parts.password is not None:
        raise NotAnOkxHostError(source, field, "must not contain credentials", hint=_HINT_HOSTS)
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise NotAnOkxHostError(source, field, "must not have a path, query or fragment", hint=_HINT_HOSTS)
    host = parts.hostname.rstrip(".").lower()
    if host in OKX_HOSTS.values() and port in (None, 443):
        return f"https://{host}"
    if not allow_other_hosts:
        raise NotAnOkxHostError(
            source, field, "is not one of OKX's hosts (www.okx.com, eea.okx.com, us.okx.com)", hint=_HINT_HOSTS
        )
    netloc = f"[{host}]" if ":" in host else host
    return f"https://{netloc}" + (f":{port}" if port else "")


def check_local_overrides(
    *, local: bool, deployed: bool, base_url: str | None, okx_ca_bundle: str | None
) -> str | None:
    """The deployment's OKX base URL (None: the key's region), after the rules above; raises naming the field."""
    if local and deployed:
        raise NotAnOkxHostError(
            _SOURCE,
            LOCAL_SETTING,
            "is a local/test setting and is refused in a deployed function",
            hint=f"Remove {LOCAL_SETTING}, OKX_BASE_URL and OKX_CA_BUNDLE from the function's environment.",
        )
    checked = okx_base_url(base_url, allow_other_hosts=local) if base_url else None
    if okx_ca_bundle and not local:
        raise NotAnOkxHostError(
            _SOURCE,
            "OKX_CA_BUNDLE",
            "is set: trusting another CA for OKX's certificate is only for the local simulator",
            hint=f"Remove OKX_CA_BUNDLE (OKX's certificate is public), or set {LOCAL_SETTING}=true in a local run.",
        )
    return checked


REGION_URLS_SETTING = "OKX_REGION_BASE_URLS"


def region_base_urls(text: str | None, *, local: bool, deployed: bool) -> dict[Region, str]:
    """Each OKX region's base URL: OKX's own hosts, or (local only) the simulator's regional hosts named in
    OKX_REGION_BASE_URLS as "www=URL,eea=URL,us=URL". Refused in a deployed function, as OKX_BASE_URL's other
    hosts are; NotAnOkxHostError names the setting."""
    urls: dict[Region, str] = dict(REGION_BASE_URLS)
    if not text:
        return urls
    if not local or deployed:
        raise NotAnOkxHostError(
            _SOURCE,
            REGION_URLS_SETTING,
            "is a local/test setting (the simulator's regional hosts) and needs "
            f"{LOCAL_SETTING}=true outside a deployed function",
            hint=f"Remove {REGION_URLS_SETTING}: deployed, each key's region picks OKX's own host.",
        )
    for part in text.split(","):
        name, sep, url = part.partition("=")
        region = name.strip()
        if not sep or region not in OKX_HOSTS:
            raise NotAnOkxHostError(
                _SOURCE,
                REGION_URLS_SETTING,
                "must be region=URL pairs, comma-separated, for the regions www, eea and us",
                hint="e.g. www=https://localhost:8443,eea=https://localhost:8444,us=https://localhost:8445",
            )
        urls[region] = okx_base_url(url, allow_other_hosts=True, field=REGION_URLS_SETTING)
    return urls
