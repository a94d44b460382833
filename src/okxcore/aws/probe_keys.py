"""Finding the managed OKX key secrets by name prefix (and optionally a tag) in Secrets Manager.

ListSecrets returns names, ARNs and tags, never secret values. The IAM action cannot be scoped to a
resource (see aws.md), so the function's role needs `secretsmanager:ListSecrets` on "*".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from okxcore.errors import OkxShieldError

# What ListSecrets accepts as a filter value; a leading "!" would turn the filter into a negation.
_FILTER_VALUE = re.compile(r"^[a-zA-Z0-9 :_@/+=.\-]{1,512}$")


class KeyListingError(OkxShieldError):
    hint = (
        "Allow secretsmanager:ListSecrets for the function, or list the key secrets explicitly in "
        "KEY_SECRET_NAMES (or the event's key_secret_names)."
    )


def parse_tag_filter(tag: str) -> tuple[str, str | None] | None:
    """KEY_SECRET_TAG: "key=value" (both must match) or "key" (any value); "" means no tag filter."""
    text = tag.strip()
    if not text:
        return None
    name, sep, value = text.partition("=")
    return name.strip(), (value.strip() if sep else None)


def list_key_secret_names(
    prefix: str, *, tag: str = "", exclude: Iterable[str] = (), secrets_client: Any = None
) -> list[str]:
    """Names of the secrets whose name starts with `prefix` (case-sensitive), sorted; `exclude` left out."""
    if not prefix:
        raise KeyListingError("KEY_SECRET_PREFIX is empty: refusing to treat every secret as an OKX key")
    if secrets_client is None:
        import boto3

        secrets_client = boto3.client("secretsmanager")
    wanted_tag = parse_tag_filter(tag)
    skipped = set(exclude)
    names: set[str] = set()
    # AWS's name filter is a case-sensitive prefix match; a prefix it cannot take is matched here only.
    filters = [{"Key": "name", "Values": [prefix]}] if _FILTER_VALUE.fullmatch(prefix) else []
    try:
        pages = secrets_client.get_paginator("list_secrets").paginate(Filters=filters, IncludePlannedDeletion=False)
        for page in pages:
            for entry in page.get("SecretList", []):
                name = str(entry.get("Name", ""))
                if not name.startswith(prefix) or name in skipped:
                    continue
                if wanted_tag is not None and not _has_tag(entry.get("Tags") or [], *wanted_tag):
                    continue
                names.add(name)
    except Exception as exc:  # botocore's messages name the operation and error code, never secret values
        raise KeyListingError(f"listing the key secrets named {prefix}* failed ({_aws_error(exc)})") from None
    return sorted(names)


def _has_tag(tags: list[dict[str, str]], key: str, value: str | None) -> bool:
    return any(t.get("Key") == key and (value is None or t.get("Value") == value) for t in tags)


def _aws_error(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return exc.__class__.__name__
