"""Reading the product's secrets from AWS Secrets Manager (through Powertools Parameters, cached).

The only module of okxcore that knows where secrets live (a secret in a file, for the CLI, is read by
okxcore.credentials). Powertools is imported on first use so that code paths which never read a secret do not
pay for it at cold start.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from okxcore.aws.clients import aws_client
from okxcore.credentials import OkxKeySecret, parse_okx_key_secret, parse_shield_secret
from okxcore.errors import InvalidInputError, SecretUnavailableError
from okxcore.shield import ShieldEndpoint

DEFAULT_MAX_AGE_S = 300
# BatchGetSecretValue takes at most 20 secret ids per call.
BATCH_SECRETS = 20
_PROVIDER_LOCK = threading.Lock()
_READ_HINT = "Check the secret's name/ARN, its region, and that the function's role may read it."


def fetch_secret_text(name: str, *, max_age_s: int = DEFAULT_MAX_AGE_S, fresh: bool = False) -> str:
    """The secret's AWSCURRENT text, from the cache while it is younger than max_age_s; `fresh` reads it past the
    cache (and caches what it read)."""
    from aws_lambda_powertools.utilities import parameters

    _install_secrets_provider()
    try:
        # AWSCURRENT is GetSecretValue's default; named because a rotation moves it (and moto needs the name).
        value = parameters.get_secret(name, max_age=max_age_s, force_fetch=fresh, VersionStage="AWSCURRENT")
    except parameters.exceptions.GetParameterError as exc:
        # botocore's message names the error code (ResourceNotFound, AccessDenied), never a value.
        raise _unreadable(name, str(exc.__cause__ or exc)) from None
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


def _install_secrets_provider() -> None:
    """get_secret reads through Powertools' default Secrets Manager provider, which holds the cache: it is built
    here over the factory's client. Powertools' clear_caches() drops it, and the next read builds it again, as
    get_secret itself would (with a client of its own, outside the factory)."""
    from aws_lambda_powertools.utilities import parameters
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

    with _PROVIDER_LOCK:  # boto3 clients must not be built concurrently; key checks may read secrets in threads
        if "secrets" not in DEFAULT_PROVIDERS:
            DEFAULT_PROVIDERS["secrets"] = parameters.SecretsProvider(boto3_client=aws_client("secretsmanager"))


def clear_secret_cache() -> None:
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()  # type: ignore[no-untyped-call]  # Powertools leaves it unannotated


def load_okx_key(
    name: str, *, max_age_s: int = DEFAULT_MAX_AGE_S, fresh: bool = False, defaults: Mapping[str, Any] | None = None
) -> OkxKeySecret:
    return parse_okx_key_secret(name, fetch_secret_text(name, max_age_s=max_age_s, fresh=fresh), defaults=defaults)


def load_okx_keys(
    names: Sequence[str], *, client: Any = None, defaults: Mapping[str, Any] | None = None
) -> dict[str, OkxKeySecret | InvalidInputError]:
    """Many key secrets, 20 per BatchGetSecretValue call: a fleet of 10,000 keys costs 500 calls, not 10,000.

    Each name maps to its key or to the error naming the secret (and the field, for a malformed one); one
    unreadable secret never fails the others. Not cached: the audit reads each secret once per run.
    """
    if client is None:
        client = aws_client("secretsmanager")
    out: dict[str, OkxKeySecret | InvalidInputError] = {}
    for start in range(0, len(names), BATCH_SECRETS):
        chunk = list(dict.fromkeys(names[start : start + BATCH_SECRETS]))
        try:
            answer = client.batch_get_secret_value(SecretIdList=chunk)
        except Exception as exc:  # botocore's message names the error code, never a value
            for name in chunk:
                out[name] = _unreadable(name, str(exc))
            continue
        wanted = set(chunk)
        for value in answer.get("SecretValues", []):
            found = next((str(v) for v in (value.get("Name"), value.get("ARN")) if v in wanted), None)
            if found is None:
                continue
            string = value.get("SecretString")
            raw = str(string) if string is not None else bytes(value.get("SecretBinary", b"")).decode(errors="replace")
            try:
                out[found] = parse_okx_key_secret(found, raw, defaults=defaults)
            except InvalidInputError as exc:
                out[found] = exc
        for error in answer.get("Errors", []):
            name = str(error.get("SecretId", ""))
            if name in wanted:
                out[name] = _unreadable(name, f"{error.get('ErrorCode', '')}: {error.get('Message', '')}")
        for name in chunk:
            out.setdefault(name, _unreadable(name, "Secrets Manager returned neither its value nor an error"))
    return out


def secret_not_found(name: str) -> SecretUnavailableError:
    """The one error for a secret that does not exist, whichever command or function looked for it."""
    return SecretUnavailableError(
        name,
        "(whole secret)",
        "does not exist in Secrets Manager",
        hint="Check the secret's name (or ARN) and the AWS region it is in.",
    )


def _unreadable(name: str, cause: str) -> SecretUnavailableError:
    if "ResourceNotFoundException" in cause:  # the one cause a person fixes by the name, not by permissions
        return secret_not_found(name)
    return SecretUnavailableError(
        name, "(whole secret)", f"cannot be read from Secrets Manager ({cause[:300]})", hint=_READ_HINT
    )


def load_shield(name: str, *, max_age_s: int = DEFAULT_MAX_AGE_S) -> ShieldEndpoint:
    """The Shield endpoint from its secret. Every caller needs the endpoint alone, so the parsed secret goes
    no further than this function."""
    _secret, endpoint = parse_shield_secret(name, fetch_secret_text(name, max_age_s=max_age_s))
    return endpoint
