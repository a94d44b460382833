"""moto's Secrets Manager reading AWSCURRENT, as Secrets Manager does, when a read names no version.

moto answers a read without VersionId or VersionStage with the secret's "default version", which it moves on
PutSecretValue but not when UpdateSecretVersionStage moves AWSCURRENT (the last step of a rotation). Its
GetSecretValue API names AWSCURRENT itself, so it is right; its BatchGetSecretValue names nothing, and after a
rotation it kept answering the old key. Real Secrets Manager answers AWSCURRENT in both. The local stack holds
this for its whole life; tests/rotation/test_rotation_cycle.py shows a probe picking up the rotated key.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

CURRENT = "AWSCURRENT"


@contextlib.contextmanager
def reads_current_version() -> Iterator[None]:
    from moto.secretsmanager.models import SecretsManagerBackend  # loaded when a stack starts (okxlocal/__init__.py)

    original = SecretsManagerBackend.get_secret_value
    if getattr(original, "__okx_shield_current__", False):
        yield  # an enclosing stack holds it
        return

    @functools.wraps(original)
    def get_secret_value(self: Any, secret_id: str, version_id: str, version_stage: str) -> Any:
        return original(self, secret_id, version_id, version_stage or ("" if version_id else CURRENT))

    get_secret_value.__okx_shield_current__ = True  # type: ignore[attr-defined]
    SecretsManagerBackend.get_secret_value = get_secret_value  # type: ignore[method-assign]
    try:
        yield
    finally:
        SecretsManagerBackend.get_secret_value = original  # type: ignore[method-assign]
