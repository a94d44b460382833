"""The two secret formats (an OKX key, the Shield proxy), their validation, and reading one from a file.

Secret values are SecretStr: repr, str and model dumps show '**********'. Validation errors are
re-raised as SecretFormatError by okxcore.inputs in its secret-safe mode: the secret and the known field are
named, never a value, and never an unknown field's name (it may be a secret pasted as a key).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from okxcore.endpoints import Region
from okxcore.errors import SecretFormatError, SecretUnavailableError, ShieldUrlError
from okxcore.inputs import Flag, IsoTimeText, input_error
from okxcore.shield import ShieldEndpoint

Permission = Literal["read_only", "trade", "withdraw"]
Purpose = Literal["read_only", "trade"]

# What each declared purpose needs; more than this is an audit finding.
PURPOSE_PERMISSIONS: dict[str, frozenset[str]] = {
    "read_only": frozenset({"read_only"}),
    "trade": frozenset({"read_only", "trade"}),
}


class _SecretModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True, str_strip_whitespace=False)


class OkxKeySecret(_SecretModel):
    """One OKX API key, as stored in a Secrets Manager secret (JSON)."""

    api_key: SecretStr
    api_secret: SecretStr
    passphrase: SecretStr
    label: str = Field(default="", max_length=128)
    demo: Flag = False
    region: Region = "www"
    created_at: Annotated[datetime, IsoTimeText] | None = None
    purpose: Purpose = "trade"
    allowed_permissions: frozenset[Permission] = frozenset({"read_only", "trade"})

    @field_validator("api_key", "api_secret", "passphrase")
    @classmethod
    def _not_blank(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value()
        if not text:
            raise ValueError("must not be empty")
        if text != text.strip():
            raise ValueError("has leading or trailing whitespace (a pasted newline?)")
        return value

    @field_validator("created_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @model_validator(mode="after")
    def _purpose_fits(self) -> OkxKeySecret:
        if not PURPOSE_PERMISSIONS[self.purpose] <= self.allowed_permissions | {"read_only"}:
            raise ValueError("allowed_permissions must include what the purpose needs")
        return self

    def display_name(self, secret_name: str) -> str:
        return self.label or secret_name

    def signing_values(self) -> tuple[str, str, str]:
        """(api key, secret, passphrase) as text, for a client library that signs with them itself."""
        return self.api_key.get_secret_value(), self.api_secret.get_secret_value(), self.passphrase.get_secret_value()


class ShieldSecret(_SecretModel):
    """The Shield proxy, as stored in a Secrets Manager secret (JSON). Its URL and expected_ips are text here;
    `endpoint()` checks both and makes the IPs canonical, once (ShieldEndpoint.parse, okxcore.ips)."""

    url: SecretStr
    expected_ips: tuple[str, ...] = ()

    def endpoint(self, *, source: str = "Shield secret") -> ShieldEndpoint:
        try:
            return ShieldEndpoint.parse(self.url.get_secret_value(), expected_ips=self.expected_ips)
        except ShieldUrlError as exc:
            raise ShieldUrlError(exc.problem, hint=exc.hint, source=source, field=exc.field) from None


def _load(
    model: type[_SecretModel],
    secret_name: str,
    raw: str | bytes | Mapping[str, Any],
    defaults: Mapping[str, Any] | None = None,
) -> Any:
    if isinstance(raw, str | bytes):
        try:
            raw = json.loads(raw)
        except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested past the parser's depth
            raise SecretFormatError(
                secret_name, "(whole secret)", "is not valid JSON", hint="Store the secret as a JSON object."
            ) from None
    if not isinstance(raw, Mapping):
        raise SecretFormatError(secret_name, "(whole secret)", "is not a JSON object", hint="Store a JSON object.")
    if defaults:
        raw = {**defaults, **raw}
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise input_error(
            exc,
            source=secret_name,
            hint=_FORMAT_HINTS[model.__name__],
            secret=True,
            known_fields=model.model_fields,
            error_class=SecretFormatError,
        ) from None


_FORMAT_HINTS = {
    "OkxKeySecret": 'Expected {"api_key", "api_secret", "passphrase", optional "label", "demo", "region", '
    '"created_at", "purpose", "allowed_permissions"}; see docs/secrets.md.',
    "ShieldSecret": 'Expected {"url": "https://USER:PASS@HOST:9294", "expected_ips": ["IP1", "IP2"]}; '
    'see docs/secrets.md.',
}


def parse_okx_key_secret(
    secret_name: str, raw: str | bytes | Mapping[str, Any], *, defaults: Mapping[str, Any] | None = None
) -> OkxKeySecret:
    """defaults fill fields the secret does not set (the deployment's region and demo mode)."""
    result: OkxKeySecret = _load(OkxKeySecret, secret_name, raw, defaults)
    return result


def parse_shield_secret(secret_name: str, raw: str | bytes | Mapping[str, Any]) -> tuple[ShieldSecret, ShieldEndpoint]:
    """The Shield secret and its validated endpoint (a bad URL is an error naming the secret and field)."""
    secret: ShieldSecret = _load(ShieldSecret, secret_name, raw)
    return secret, secret.endpoint(source=secret_name)


def read_secret_file(path: Path) -> str:
    """A secret's JSON from a file; any problem is a SecretUnavailableError naming the file (never its bytes)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SecretUnavailableError(
            str(path),
            "(whole secret)",
            f"cannot be read ({exc.strerror or exc.__class__.__name__})",
            hint="Check the file path and its permissions.",
        ) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SecretUnavailableError(
            str(path),
            "(whole secret)",
            f"is not UTF-8 text (a byte at offset {exc.start} is not)",
            hint="Save the secret as UTF-8 JSON.",
        ) from None
