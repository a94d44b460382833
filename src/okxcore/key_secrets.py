"""A fleet's key secrets as the domain sees them, without their values: which are selected (`TagSelector`) and
what Secrets Manager knows of one (`SecretMetadata`). Listed by okxcore.aws.fleet_secrets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from okxcore.errors import InvalidInputError


@dataclass(frozen=True)
class TagSelector:
    """`key=value` (that exact tag) or `key` (the tag with any value)."""

    key: str
    value: str | None = None

    @classmethod
    def parse(cls, text: str, *, source: str = "audit event", field_name: str = "key_secret_tag") -> TagSelector:
        key, sep, value = text.strip().partition("=")
        key = key.strip()
        if not key:
            raise InvalidInputError(
                source, field_name, "has no tag key", hint='Write the tag as "key=value" (or "key" for any value).'
            )
        return cls(key=key, value=value.strip() if sep else None)

    def matches(self, tags: Mapping[str, str]) -> bool:
        if self.key not in tags:
            return False
        return self.value is None or tags[self.key] == self.value

    def __str__(self) -> str:
        return self.key if self.value is None else f"{self.key}={self.value}"


@dataclass(frozen=True)
class SecretMetadata:
    """What Secrets Manager knows about a secret, without its value. Dates are timezone-aware."""

    name: str
    arn: str = ""
    created: datetime | None = None
    last_changed: datetime | None = None
    # Secrets Manager keeps only the date of the last read, and every GetSecretValue counts (the audit's
    # own reads included), so this is a weak signal of use.
    last_accessed: datetime | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    # Rotation as Secrets Manager has it configured (ListSecrets and DescribeSecret both return it).
    rotation_enabled: bool = False
    rotation_days: int | None = None
    last_rotated: datetime | None = None
    next_rotation: datetime | None = None
