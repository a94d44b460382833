"""Listing the Secrets Manager secrets that hold a fleet's OKX keys, selected by tag and/or name prefix.

Only metadata is read here (ListSecrets never returns a secret's value). Filters are applied by Secrets
Manager and then again exactly here, because the service's filters are looser than a selection should be:
`tag-key` and `tag-value` may match two different tags of one secret, and `name` matching rules are the
service's, not ours. Secrets scheduled for deletion are left out (ListSecrets' default).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from okxcore.aws.clients import aws_client
from okxcore.errors import OkxShieldError
from okxcore.key_secrets import SecretMetadata, TagSelector

# What a ListSecrets filter value may be (AWS's documented pattern, length 1..512).
_FILTER_VALUE = re.compile(r"^[a-zA-Z0-9 :_@/+=.\-]{1,512}$")


class SecretListingError(OkxShieldError):
    hint = "Check that the function's role may call secretsmanager:ListSecrets (it cannot be scoped to a resource)."


def list_secrets(
    *, tag: TagSelector | None = None, prefix: str = "", client: Any = None, page_size: int = 100
) -> list[SecretMetadata]:
    """Every secret carrying the tag and/or whose name starts with the prefix (both must hold when both are
    given), sorted by name. With neither, nothing is selected: listing every secret of an account is never
    what an audit of OKX keys means."""
    if tag is None and not prefix:
        return []
    if client is None:
        client = aws_client("secretsmanager")
    # Server-side filters only narrow the listing; a value ListSecrets cannot take (or that it would read as a
    # negation, "!...") is matched here alone.
    filters: list[dict[str, Any]] = []
    for filter_key, value in (
        ("name", prefix),
        ("tag-key", tag.key if tag else ""),
        ("tag-value", tag.value if tag and tag.value is not None else ""),
    ):
        if value and _FILTER_VALUE.fullmatch(value):
            filters.append({"Key": filter_key, "Values": [value]})
    found: list[SecretMetadata] = []
    try:
        for page in client.get_paginator("list_secrets").paginate(
            Filters=filters, IncludePlannedDeletion=False, PaginationConfig={"PageSize": page_size}
        ):
            for entry in page.get("SecretList", []):
                meta = _metadata(entry)
                if prefix and not meta.name.startswith(prefix):
                    continue
                if tag is not None and not tag.matches(meta.tags):
                    continue
                found.append(meta)
    except Exception as exc:  # botocore's messages name the error code and ARNs, never a secret value
        raise SecretListingError(f"listing secrets failed: {str(exc)[:300]}") from None
    return sorted({meta.name: meta for meta in found}.values(), key=lambda meta: meta.name)


def describe_secret(name: str, *, client: Any = None) -> SecretMetadata:
    """One secret's metadata by name or ARN (for a secret named outright rather than selected)."""
    if client is None:
        client = aws_client("secretsmanager")
    try:
        return _metadata(client.describe_secret(SecretId=name))
    except Exception as exc:
        raise SecretListingError(
            f"describing secret {name} failed: {str(exc)[:300]}",
            hint="Check the secret's name and that the function may call secretsmanager:DescribeSecret on it.",
        ) from None


def _metadata(entry: Mapping[str, Any]) -> SecretMetadata:
    tags = {str(t.get("Key", "")): str(t.get("Value", "")) for t in entry.get("Tags") or []}
    return SecretMetadata(
        name=str(entry.get("Name", "")),
        arn=str(entry.get("ARN", "")),
        created=entry.get("CreatedDate"),
        last_changed=entry.get("LastChangedDate"),
        last_accessed=entry.get("LastAccessedDate"),
        tags=tags,
        rotation_enabled=bool(entry.get("RotationEnabled", False)),
        rotation_days=(entry.get("RotationRules") or {}).get("AutomaticallyAfterDays") or None,
        last_rotated=entry.get("LastRotatedDate"),
        next_rotation=entry.get("NextRotationDate"),
    )
