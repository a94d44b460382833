"""Local stand-ins for QuotaGuard Shield, the static-IP egress proxy, built from real Debian programs.

Three forms, matching the Shield URLs users paste:

- ``socks5h://``     plain SOCKS5 with RFC 1929 user/pass auth: ``microsocks``.
- ``socks5h+tls://`` SOCKS5 inside TLS (Shield's port 1081 form): ``stunnel`` terminating TLS in front
  of ``microsocks``.
- ``https://``       HTTP CONNECT proxy inside TLS (Shield's port 9294 form): ``stunnel`` terminating
  TLS in front of ``tinyproxy`` with ``BasicAuth``.

Clients reach every proxy on 127.0.0.1; the proxies' outgoing connections leave from ``egress_ip``
(127.0.0.2 by default, the "static IP"), so a simulator can tell proxied calls from direct ones.

Every program runs as a foreground child in its own process group, logs into the work folder and is
killed by :meth:`RunningProxy.stop` (and, as a last resort, at interpreter exit).

Quirks of the Debian programs worth knowing (microsocks 1.0.3, stunnel 5.68, tinyproxy 1.11.1):

- microsocks binds its outgoing socket to ``-b`` only when the target's address family matches, and
  it dials only the first address a name resolves to. A target that resolves to IPv6 first
  (``localhost`` wherever /etc/hosts lists ``::1 localhost``, as Debian's default file does) is
  dialled from ``::1``, not from the egress IP (or refused if nothing listens on ::1). Point clients
  at ``127.0.0.1`` or a name that resolves to IPv4 only. tinyproxy does not leak this way: with
  ``Bind`` set, its outgoing IPv6 attempts fail (checked with ``[::1]``) and it moves on to the next
  address of the name.
- tinyproxy 1.11.1 answers a CONNECT without credentials with 407, but one with *wrong* credentials
  with ``401 Unauthorized`` + ``WWW-Authenticate`` (upstream bug tinyproxy#532, fixed in later
  releases). Clients must treat 401 and 407 on CONNECT alike.
- tinyproxy's ``BasicAuth`` only parses ``[-A-Za-z0-9._]`` credentials, so all kinds accept only
  those characters (``secrets.token_urlsafe`` output qualifies).
- With no ``ConnectPort`` line tinyproxy allows CONNECT to any port.
- microsocks has no quiet flag; it logs one line per connection to stderr (our log file).
"""

from okxlocal.proxies.children import LISTEN_HOST
from okxlocal.proxies.programs import DEFAULT_EGRESS_IP, ProxyKind, ProxyStack, RunningProxy, start_proxy
from okxlocal.proxies.stalled import StalledListener

__all__ = [
    "DEFAULT_EGRESS_IP",
    "LISTEN_HOST",
    "ProxyKind",
    "ProxyStack",
    "RunningProxy",
    "StalledListener",
    "start_proxy",
]
