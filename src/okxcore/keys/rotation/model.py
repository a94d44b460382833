"""The rotation's vocabulary: its events, its errors, and the few derivations every step agrees on.

Secrets Manager invokes the rotation function with {"SecretId", "ClientRequestToken", "Step"}; the hourly
schedule invokes it with {"cleanup": true, "scheduled_time": ...} to delete old keys whose grace period ended.

Derivations, in one place so that a retry computes the same thing as the first attempt:
- `rotation_label`: the OKX label of the key created for (secret, token). A key left behind by a failed
  attempt is found again by it; its prefix says which secret a rotated key belongs to.
- `new_permissions`: the old key's permissions minus what the secret's `allowed_permissions` does not allow
  (and never `withdraw`, which OKX refuses on sub-account keys).
- `new_passphrase`: fresh randomness that meets OKX's passphrase rules, never derived from anything.
"""

from __future__ import annotations

import hashlib
import secrets
import string
from collections.abc import Iterable
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from okxcore.errors import OkxShieldError
from okxcore.inputs import Flag
from okxcore.slot import OptionalScheduledTime, Slot, slot_of

PENDING = "AWSPENDING"
CURRENT = "AWSCURRENT"
LABEL_PREFIX = "okxs"
OKX_MAX_IPS_PER_KEY = 20
OKX_MAX_KEYS_PER_ACCOUNT = 50


class Step(StrEnum):
    CREATE = "createSecret"
    SET = "setSecret"
    TEST = "testSecret"
    FINISH = "finishSecret"
    CLEANUP = "cleanup"  # not a Secrets Manager step: the scheduled deletion of keys past their grace period


class RotationStepEvent(BaseModel):
    # Secrets Manager may add fields (it added RotationToken in 2024): ignore what this code does not use.
    model_config = ConfigDict(extra="ignore", frozen=True)

    secret_id: str = Field(alias="SecretId", min_length=1)
    token: str = Field(alias="ClientRequestToken", min_length=32, max_length=64)
    step: Literal["createSecret", "setSecret", "testSecret", "finishSecret"] = Field(alias="Step")


class CleanupEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cleanup: Literal[True]
    scheduled_time: OptionalScheduledTime = None  # the hourly schedule's slot (its correlation id)
    dry_run: Flag = False

    @property
    def slot(self) -> Slot | None:
        return slot_of(self.scheduled_time)


class RotateEvent(RootModel[RotationStepEvent | CleanupEvent]):
    """What the rotation function accepts: a Secrets Manager rotation step, or the scheduled cleanup."""


class RotationError(OkxShieldError):
    """A step could not complete. Names the secret and the step, never a credential."""

    hint = "See the report's fix line; the rotation is retried by Secrets Manager, or start a new one."

    def __init__(self, secret: str, step: Step | str, message: str, *, hint: str | None = None) -> None:
        self.secret = secret
        self.step = str(step)
        self.problem = message
        super().__init__(f"rotation of {secret} failed at {step}: {message}", hint=hint)


class MasterKeyRotationRefused(RotationError):
    """OKX cannot create, rebind or delete a main account's own keys through the API."""


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def secret_label_prefix(secret_name: str) -> str:
    return f"{LABEL_PREFIX}-{_digest(secret_name, 8)}-"


def rotation_label(secret_name: str, token: str) -> str:
    """okxs-<secret digest>-<token digest>: 26 characters, letters, digits and '-' only."""
    return secret_label_prefix(secret_name) + _digest(token, 12)


def new_permissions(old: Iterable[str], allowed: Iterable[str]) -> frozenset[str]:
    return (frozenset(old) & (frozenset(allowed) | {"read_only"})) - {"withdraw"} | {"read_only"}


def perm_text(perms: Iterable[str]) -> str:
    order = ("read_only", "trade")
    return ",".join(p for p in order if p in set(perms))


PASSPHRASE_SPECIALS = "!@#$%^&*()-_=+"  # noqa: S105 - an alphabet, not a password
PASSPHRASE_LENGTH = 28


def new_passphrase(length: int = PASSPHRASE_LENGTH) -> str:
    """OKX: 8-32 characters with upper- and lower-case letters, a digit and a special character."""
    if not 8 <= length <= 32:
        raise ValueError("OKX passphrases are 8 to 32 characters long")
    classes = (string.ascii_uppercase, string.ascii_lowercase, string.digits, PASSPHRASE_SPECIALS)
    alphabet = "".join(classes)
    chars = [secrets.choice(group) for group in classes]
    chars += [secrets.choice(alphabet) for _ in range(length - len(classes))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


def bind_list(shield_ips: Iterable[str], old_ips: Iterable[str]) -> list[str]:
    """Both Shield IPs first, then the old key's other IPs (a user's own), within OKX's 20 per key."""
    out: list[str] = []
    for ip in [*shield_ips, *old_ips]:
        if ip not in out:
            out.append(ip)
    return out[:OKX_MAX_IPS_PER_KEY]


def describe_error(exc: Exception) -> str:
    if isinstance(exc, RotationError):
        return exc.problem
    if isinstance(exc, OkxShieldError):
        return exc.message
    return type(exc).__name__


def master_refused(name: str, step: Step | str) -> MasterKeyRotationRefused:
    return MasterKeyRotationRefused(
        name,
        step,
        "this secret holds a main (master) account's own key, which OKX's API cannot create, rebind or delete",
        hint=(
            "Rotate it by hand: 1) in OKX's web API management of the main account, create a new key with the same "
            "permissions and bind both Shield IPs; 2) store it as a new version of this secret "
            "(`aws secretsmanager put-secret-value`); 3) run the probe to check it; 4) after an hour, delete the "
            "old key in OKX; 5) turn automatic rotation off for this secret (`aws secretsmanager "
            "cancel-rotate-secret`)."
        ),
    )
