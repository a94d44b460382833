"""The CA certificates okx-shield trusts, stated explicitly: certifi's bundle, or a configured file.

Never the system default store. `ssl.create_default_context()` reads it through OpenSSL, which follows the
SSL_CERT_FILE and SSL_CERT_DIR environment variables: anything that can set an environment variable could
then add a CA that a man in the middle controls. So each context loads exactly one bundle and nothing else,
and a configured bundle that cannot be read is an error naming the setting and the file, found when the
session is built rather than on the first call.
"""

from __future__ import annotations

import ssl

import certifi

from okxcore.errors import InvalidInputError


class TrustStoreError(InvalidInputError):
    """A configured CA bundle is missing, unreadable or holds no certificate."""


def ca_bundle_path(configured: str | None, *, setting: str) -> str:
    """The bundle to trust: the configured file (checked now), else certifi's."""
    if not configured:
        return certifi.where()
    _load(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), configured, setting)
    return configured


def client_context(configured: str | None, *, setting: str) -> ssl.SSLContext:
    """A TLS 1.2+ client context that verifies certificates and host names against one bundle only."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname by default
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _load(context, configured or certifi.where(), setting)
    return context


def _load(context: ssl.SSLContext, path: str, setting: str) -> None:
    try:
        context.load_verify_locations(cafile=path)
    except FileNotFoundError:
        problem = "names a file that does not exist"
    except PermissionError:
        problem = "names a file that cannot be read (permission denied)"
    except IsADirectoryError:
        problem = "names a directory, not a PEM file"
    except (ssl.SSLError, UnicodeDecodeError, ValueError):
        problem = "is not a PEM file of CA certificates"
    except OSError as exc:
        problem = f"cannot be read ({exc.strerror or exc.__class__.__name__})"
    else:
        if context.cert_store_stats().get("x509", 0):
            return
        problem = "holds no CA certificate"
    raise TrustStoreError("CA bundle", setting, f"{problem}: {path}", hint="Point it at a readable PEM CA bundle.")
