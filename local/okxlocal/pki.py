"""A throwaway certificate authority for the local stack: the simulator and the proxy stand-ins.

Nothing here is long-lived: the CA is generated at run time, written to a scratch folder and
thrown away with it, so no private key is ever committed.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

import trustme

LOCAL_NAMES = ("localhost", "127.0.0.1")


def local_okx_hostname() -> str:
    """The name the product uses for the local OKX simulator.

    "localhost" when it resolves to IPv4 only, so that SOCKS5 sends a host NAME to the proxy (as with
    www.okx.com) and socks5h's remote resolution is exercised; otherwise 127.0.0.1, because microsocks
    binds its outgoing address (127.0.0.2) for IPv4 targets only and tries just the first address.
    """
    try:
        families = {info[0] for info in socket.getaddrinfo("localhost", 443, proto=socket.IPPROTO_TCP)}
    except OSError:
        return "127.0.0.1"
    return "localhost" if families == {socket.AF_INET} else "127.0.0.1"


@dataclass(frozen=True)
class ServerCert:
    cert_chain_path: Path
    key_path: Path
    combined_pem_path: Path  # cert chain + key in one file, the form stunnel wants


@dataclass
class LocalPKI:
    folder: Path

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._ca = trustme.CA(organization_name="okx-shield local CA")
        self.ca_path = self.folder / "ca.pem"
        self._ca.cert_pem.write_to_path(str(self.ca_path))
        self._issued: dict[str, ServerCert] = {}

    def server_cert(self, name: str, hostnames: tuple[str, ...] = LOCAL_NAMES) -> ServerCert:
        """Issue (once per name) a server certificate valid for the given host names and IPs."""
        if name in self._issued:
            return self._issued[name]
        leaf = self._ca.issue_cert(*hostnames)
        chain = self.folder / f"{name}.crt"
        key = self.folder / f"{name}.key"
        combined = self.folder / f"{name}.pem"
        chain.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
        key.write_bytes(leaf.private_key_pem.bytes())
        combined.write_bytes(chain.read_bytes() + key.read_bytes())
        for secret_file in (key, combined):
            secret_file.chmod(0o600)
        issued = ServerCert(cert_chain_path=chain, key_path=key, combined_pem_path=combined)
        self._issued[name] = issued
        return issued
