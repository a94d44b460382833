"""Builds the Rotator from the function's settings: Secrets Manager, the state table, OKX through Shield."""

from __future__ import annotations

from dataclasses import dataclass

from handlers.wiring import Wiring
from okxcore.aws.rotation_secrets import SecretsManagerVersions
from okxcore.aws.rotation_state import DynamoRotationLedger
from okxcore.client import OkxClient
from okxcore.credentials import OkxKeySecret
from okxcore.errors import InvalidInputError
from okxcore.keys.rotation.ports import RotationSettings
from okxcore.keys.rotation.rotator import Rotator


@dataclass
class WiredClients:
    wiring: Wiring

    def key_client(self, key: OkxKeySecret) -> OkxClient:
        # The rotation's own signed calls are not the bot's use of the key: not recorded as use.
        return self.wiring.client(key, record_use=False)

    def master_client(self) -> OkxClient:
        name = self.wiring.settings.master_key_secret_name
        if not name:
            raise InvalidInputError(
                "function environment",
                "MASTER_KEY_SECRET_NAME",
                "is empty: only the master key can create and delete sub-account keys",
                hint="Set the stack parameter MasterKeySecretName.",
            )
        return self.wiring.client(self.wiring.load_key(name), key_name=name)


def rotator_for(wiring: Wiring) -> Rotator:
    settings = wiring.settings
    endpoint = wiring.shield()
    return Rotator(
        versions=SecretsManagerVersions(),
        ledger=DynamoRotationLedger(settings.state_table_name),
        clients=WiredClients(wiring),
        settings=RotationSettings(
            shield_ips=tuple(endpoint.expected_ips),
            grace_period_s=settings.rotation_grace_period_s,
            master_secret_name=settings.master_key_secret_name,
            key_defaults={"region": settings.okx_default_region, "demo": settings.okx_default_demo},
        ),
    )
