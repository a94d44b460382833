"""Secrets Manager's side of a rotation, on the local stack (moto cannot invoke a Lambda without Docker).

What the service does around the rotation function, and only that: turn rotation on for a secret
(what `AWS::SecretsManager::RotationSchedule` configures), start a rotation (a new version id carrying
AWSPENDING and no value yet), invoke the function once per step in order, stop at the first failing step
(after its retries), and record the rotation date. The function itself is the real handler.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from okxlocal.stack import AWS_REGION

STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
LOCAL_ROTATION_ARN = f"arn:aws:lambda:{AWS_REGION}:000000000000:function:okx-shield-rotate"

StepInvoker = Callable[[dict[str, Any]], dict[str, Any]]


def _secret(secret_id: str) -> Any:
    # moto is running already (a stack started it); imported here, not at module level (okxlocal/__init__.py)
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.secretsmanager.models import secretsmanager_backends

    return secretsmanager_backends[DEFAULT_ACCOUNT_ID][AWS_REGION].secrets[secret_id]


def enable_rotation(secret_id: str, *, days: int = 90, lambda_arn: str = LOCAL_ROTATION_ARN) -> None:
    secret = _secret(secret_id)
    secret.rotation_requested = True
    secret.rotation_enabled = True
    secret.rotation_lambda_arn = lambda_arn
    secret.auto_rotate_after_days = days
    secret.next_rotation_date = int(time.time()) + days * 86400


def begin_rotation(secret_id: str, token: str | None = None) -> str:
    """A new version with AWSPENDING and no value, as RotateSecret makes before invoking createSecret."""
    token = token or str(uuid.uuid4())
    secret = _secret(secret_id)
    secret.remove_version_stages_from_old_versions(["AWSPENDING"])
    secret.versions[token] = {"createdate": int(time.time()), "version_id": token, "version_stages": ["AWSPENDING"]}
    return token


def step_event(secret_id: str, token: str, step: str) -> dict[str, Any]:
    return {"SecretId": _secret(secret_id).arn, "ClientRequestToken": token, "Step": step}


@dataclass
class LocalRotation:
    secret_id: str
    token: str
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed_step: str = ""
    error: Exception | None = None

    @property
    def succeeded(self) -> bool:
        return self.error is None and len(self.results) == len(STEPS)


def rotate(secret_id: str, invoke: StepInvoker, *, retries: int = 0, token: str | None = None) -> LocalRotation:
    """One rotation, step by step; a failing step is retried `retries` times, then the rotation stops."""
    rotation = LocalRotation(secret_id, begin_rotation(secret_id, token))
    for step in STEPS:
        for attempt in range(retries + 1):
            try:
                rotation.results[step] = invoke(step_event(secret_id, rotation.token, step))
                rotation.error = None
                break
            except Exception as exc:  # what Secrets Manager records as the rotation's failure
                rotation.failed_step, rotation.error = step, exc
                if attempt == retries:
                    return rotation
    secret = _secret(secret_id)
    secret.last_rotation_date = int(time.time())
    secret.next_rotation_date = int(time.time()) + secret.auto_rotate_after_days * 86400
    return rotation
