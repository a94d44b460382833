"""Which key secrets the probe checks: those under the key prefix (and tag), via the fleet listing.

ListSecrets returns names, ARNs and tags, never secret values. The IAM action cannot be scoped to a
resource (see aws.md), so the function's role needs `secretsmanager:ListSecrets` on "*".
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from okxcore.aws.fleet_secrets import SecretListingError, TagSelector, list_secrets
from okxcore.errors import OkxShieldError


class KeyListingError(OkxShieldError):
    hint = (
        "Allow secretsmanager:ListSecrets for the function, or list the key secrets explicitly in "
        "KEY_SECRET_NAMES (or the event's key_secret_names)."
    )


def list_key_secret_names(
    prefix: str, *, tag: str = "", exclude: Iterable[str] = (), secrets_client: Any = None
) -> list[str]:
    """Names of the secrets whose name starts with `prefix` (case-sensitive), sorted; `exclude` left out."""
    if not prefix:
        raise KeyListingError("KEY_SECRET_PREFIX is empty: refusing to treat every secret as an OKX key")
    selector = (
        TagSelector.parse(tag, source="function environment", field_name="KEY_SECRET_TAG") if tag.strip() else None
    )
    try:
        found = list_secrets(tag=selector, prefix=prefix, client=secrets_client)
    except SecretListingError as exc:
        raise KeyListingError(f"listing the key secrets named {prefix}* failed ({exc.message})") from None
    skipped = set(exclude)
    return [meta.name for meta in found if meta.name not in skipped]
