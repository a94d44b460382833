"""Rotation test helpers: a master account and one sub-account on the simulator, a real proxy, moto for AWS.

The rotation handler runs in-process; `okxlocal.rotation` plays Secrets Manager's part (it starts a
rotation and invokes the steps), because moto cannot invoke a Lambda without Docker.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import boto3

from handlers.rotate import handler
from okxcore.aws.rotation_state import DynamoRotationLedger
from okxcore.credentials import parse_okx_key_secret
from okxcore.keys.rotation.record import RotationRecord
from okxlocal import rotation as sm
from okxlocal.seeds import new_key, seed_with
from okxlocal.sim import SimAccount, SimKey
from okxlocal.stack import AWS_REGION, EGRESS_IP, SECOND_SHIELD_IP, TABLE_NAME, LocalStack, key_secret_name

MASTER_UID, SUB_UID, SUB_ACCT = "9000", "9001", "desk-1"
BOTH = [EGRESS_IP, SECOND_SHIELD_IP]
SUB_SECRETS = ("bot-sub", "bot-ro")  # the sub-account keys held in secrets


def rotation_seed() -> Any:
    funds = {"USDT": Decimal("1000")}
    accounts = [
        SimAccount(uid=MASTER_UID, label="main", balances=dict(funds)),
        SimAccount(uid=SUB_UID, label="desk", main_uid=MASTER_UID, sub_acct=SUB_ACCT, balances=dict(funds)),
    ]
    keys = [
        new_key(MASTER_UID, "master", ips=[EGRESS_IP], created_days_ago=200),
        new_key(SUB_UID, "bot-sub", ips=[*BOTH, "203.0.113.9"], created_days_ago=100),
        new_key(SUB_UID, "bot-ro", ips=BOTH, created_days_ago=100),
        new_key(SUB_UID, "manual-key", ips=BOTH, created_days_ago=10),  # a key nobody rotates: never touched
    ]
    return seed_with(keys, accounts)


@dataclass
class RotationHarness:
    stack: LocalStack
    context: Any

    @property
    def sim(self) -> Any:
        return self.stack.sim

    def secret(self, label: str) -> str:
        return key_secret_name(next(k for k in self.stack.seed.keys if k.label == label))

    def seeded(self, label: str) -> SimKey:
        return next(k for k in self.stack.seed.keys if k.label == label)

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        return handler(event, self.context)

    def rotate(self, label: str, *, invoke: Callable[[dict[str, Any]], dict[str, Any]] | None = None, **kw: Any):
        return sm.rotate(self.secret(label), invoke or self.invoke, **kw)

    def value(self, label: str, stage: str = "AWSCURRENT", version: str | None = None) -> dict[str, Any]:
        client = boto3.client("secretsmanager", region_name=AWS_REGION)
        kwargs = {"SecretId": self.secret(label), "VersionStage": stage, **({"VersionId": version} if version else {})}
        return json.loads(client.get_secret_value(**kwargs)["SecretString"])

    def stages(self, label: str) -> dict[str, list[str]]:
        client = boto3.client("secretsmanager", region_name=AWS_REGION)
        return client.describe_secret(SecretId=self.secret(label))["VersionIdsToStages"]

    def record(self, label: str) -> RotationRecord:
        return DynamoRotationLedger(TABLE_NAME).load(self.secret(label))

    def live_sub_keys(self) -> list[SimKey]:
        with self.sim.exchange.lock:
            return [k.model_copy() for k in self.sim.state.keys if k.uid == SUB_UID and not k.deleted]

    def works(self, body: dict[str, Any]) -> bool:
        """A signed account/config with this key secret through the real proxy, as a bot would make it."""
        from handlers.wiring import Wiring

        try:
            Wiring.from_environ().client(parse_okx_key_secret("test", body), record_use=False).account_config()
        except Exception:
            return False
        return True

    def assert_one_usable_key_per_secret(self, *labels: str) -> None:
        """Each secret's AWSCURRENT works; every other live sub-account key is a user's own or recorded for
        deletion after its grace period: nothing unaccounted for (no orphan)."""
        live = self.live_sub_keys()
        accounted = {"manual-key"}
        for label in SUB_SECRETS:
            current = self.value(label)
            if label in labels:
                assert self.works(current), f"{label}: AWSCURRENT does not work"
            holders = [k for k in live if k.api_key == current["api_key"]]
            assert len(holders) == 1
            accounted.add(holders[0].label)
            pending = {p.fingerprint for p in self.record(label).pending_deletions}
            accounted |= {k.label for k in live if _fp(k.api_key) in pending}
        orphans = [k.label for k in live if k.label not in accounted]
        assert orphans == [], f"orphaned keys at the simulator: {orphans}"


def _fp(api_key: str) -> str:
    from okxcore.models import fingerprint

    return fingerprint(api_key)


class FakeClock:
    """The rotation's clock in a test: starts at the real time, moves only when told (or when the code sleeps),
    so that grace periods pass without waiting for them."""

    def __init__(self) -> None:
        import time

        self.ms = int(time.time() * 1000)

    def now_ms(self) -> int:
        return self.ms

    def sleep(self, seconds: float) -> None:
        self.ms += int(seconds * 1000)

    def advance(self, seconds: float) -> None:
        self.ms += int(seconds * 1000)


def run_on_clock(monkeypatch: Any, clock: FakeClock) -> None:
    """The real rotation handler, with its Rotator's clock and sleep replaced by `clock`."""
    import dataclasses

    import handlers.rotate
    from handlers.rotation_wiring import rotator_for

    def clocked(wiring: Any) -> Any:
        return dataclasses.replace(rotator_for(wiring), now_ms=clock.now_ms, sleep=clock.sleep)

    monkeypatch.setattr(handlers.rotate, "rotator_for", clocked)
