"""Which key secrets the probe checks (those under the key prefix and tag, via the fleet listing), and reading
them in batches.

ListSecrets returns names, ARNs and tags, never secret values. The IAM action cannot be scoped to a
resource (see aws.md), so the function's role needs `secretsmanager:ListSecrets` on "*"; likewise
`secretsmanager:BatchGetSecretValue`, while GetSecretValue is still checked for every secret of a batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from okxcore.aws.clients import aws_client
from okxcore.aws.fleet_secrets import SecretListingError, list_secrets
from okxcore.errors import OkxShieldError
from okxcore.key_secrets import TagSelector

if TYPE_CHECKING:
    from okxcore.credentials import OkxKeySecret
    from okxcore.errors import InvalidInputError


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


class _BatchReader(Protocol):
    def load_keys(
        self, secret_names: list[str], *, client: Any = None
    ) -> Mapping[str, OkxKeySecret | InvalidInputError]: ...


class SecretBatches:
    """The probe's key secrets, 20 per BatchGetSecretValue (via the wiring, which applies the key defaults),
    over one Secrets Manager client made on first use, in the one thread that reads them."""

    def __init__(self, wiring: _BatchReader) -> None:
        self._wiring = wiring
        self._client: Any = None

    def __call__(self, names: list[str]) -> Mapping[str, OkxKeySecret | InvalidInputError]:
        if self._client is None:
            self._client = aws_client("secretsmanager")
        return self._wiring.load_keys(names, client=self._client)
