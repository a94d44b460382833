"""The Secrets Manager calls of a rotation: describe, read a version, put AWSPENDING, move AWSCURRENT.

Reads here bypass the Powertools cache on purpose: a rotation step must see the versions as they are now.
Errors name the secret and botocore's error code, never a value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from okxcore.aws.clients import aws_client
from okxcore.keys.rotation.model import CURRENT, PENDING
from okxcore.keys.rotation.ports import SecretGoneError, SecretStoreError, SecretVersions


def versions_from(entry: Mapping[str, Any]) -> SecretVersions:
    """DescribeSecret's answer (or a ListSecrets entry) as SecretVersions."""
    rules = entry.get("RotationRules") or {}
    days = rules.get("AutomaticallyAfterDays")
    return SecretVersions(
        arn=str(entry.get("ARN", "")),
        name=str(entry.get("Name", "")),
        rotation_enabled=bool(entry.get("RotationEnabled", False)),
        stages={str(v): tuple(labels) for v, labels in (entry.get("VersionIdsToStages") or {}).items()},
        rotation_lambda_arn=str(entry.get("RotationLambdaARN", "") or ""),
        rotation_days=int(days) if days else None,
        last_rotated=entry.get("LastRotatedDate"),
        next_rotation=entry.get("NextRotationDate"),
        deleted=entry.get("DeletedDate") is not None,
    )


class SecretsManagerVersions:
    def __init__(self, *, client: Any = None) -> None:
        if client is None:
            client = aws_client("secretsmanager")
        self._client = client

    def describe(self, secret_id: str) -> SecretVersions:
        try:
            return versions_from(self._client.describe_secret(SecretId=secret_id))
        except Exception as exc:
            if _code(exc) == "ResourceNotFoundException":
                raise SecretGoneError(f"secret {secret_id} does not exist (deleted)") from None
            raise SecretStoreError(f"describing secret {secret_id} failed: {_cause(exc)}") from None

    def value(self, secret_id: str, *, stage: str, version_id: str | None = None) -> str | None:
        """The version's text, or None when that version (with that label) has no value."""
        kwargs: dict[str, str] = {"SecretId": secret_id, "VersionStage": stage}
        if version_id:
            kwargs["VersionId"] = version_id
        try:
            answer = self._client.get_secret_value(**kwargs)
        except self._client.exceptions.ResourceNotFoundException:
            return None
        except Exception as exc:
            if _code(exc) in {"ResourceNotFoundException", "InvalidRequestException"} and version_id:
                return None  # the version exists without a value, or no longer carries the label
            raise SecretStoreError(f"reading {stage} of secret {secret_id} failed: {_cause(exc)}") from None
        text = answer.get("SecretString")
        return str(text) if text is not None else None

    def put_pending(self, secret_id: str, token: str, text: str) -> None:
        try:
            self._client.put_secret_value(
                SecretId=secret_id, ClientRequestToken=token, SecretString=text, VersionStages=[PENDING]
            )
        except Exception as exc:
            raise SecretStoreError(f"storing the new version of secret {secret_id} failed: {_cause(exc)}") from None

    def promote(self, secret_id: str, token: str, from_version: str) -> None:
        """AWSCURRENT moves to the token's version; Secrets Manager gives the old one AWSPREVIOUS."""
        self._move(secret_id, CURRENT, move_to=token, remove_from=from_version)

    def drop_pending(self, secret_id: str, token: str) -> None:
        self._move(secret_id, PENDING, move_to=None, remove_from=token)

    def _move(self, secret_id: str, stage: str, *, move_to: str | None, remove_from: str | None) -> None:
        kwargs: dict[str, str] = {"SecretId": secret_id, "VersionStage": stage}
        if move_to:
            kwargs["MoveToVersionId"] = move_to
        if remove_from:
            kwargs["RemoveFromVersionId"] = remove_from
        try:
            self._client.update_secret_version_stage(**kwargs)
        except Exception as exc:
            raise SecretStoreError(f"moving {stage} of secret {secret_id} failed: {_cause(exc)}") from None


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _cause(exc: Exception) -> str:
    # botocore's messages name the error code, the secret and the version id, never the value.
    return str(exc)[:300]
