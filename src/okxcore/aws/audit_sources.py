"""The audit's sources in AWS: key secrets from Secrets Manager, use and rotation records from the state table,
OKX through the Shield session. The handler's wiring satisfies AuditWiring as it is."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

from okxcore.audit.sources import AuditSources
from okxcore.aws.fleet_secrets import SecretMetadata, TagSelector, describe_secret, list_secrets
from okxcore.aws.rotation_state import DynamoRotationLedger
from okxcore.client import OkxClient
from okxcore.transport import DEFAULT_POOL_SIZE

if TYPE_CHECKING:
    from okxcore.aws.state import DynamoStateStore
    from okxcore.credentials import OkxKeySecret
    from okxcore.errors import InvalidInputError
    from okxcore.shield import ShieldEndpoint
    from okxcore.transport import ShieldSession


class AuditWiringSettings(Protocol):
    @property
    def state_table_name(self) -> str: ...
    @property
    def local_overrides(self) -> bool: ...
    def okx_target(self) -> str | None: ...


class AuditWiring(Protocol):
    @property
    def settings(self) -> AuditWiringSettings: ...
    @property
    def state(self) -> DynamoStateStore: ...
    def shield(self) -> ShieldEndpoint: ...
    def session(self, *, pool_maxsize: int = DEFAULT_POOL_SIZE) -> ShieldSession: ...
    def load_key(self, secret_name: str) -> OkxKeySecret: ...
    def load_keys(
        self, secret_names: list[str], *, client: Any = None
    ) -> dict[str, OkxKeySecret | InvalidInputError]: ...


@contextmanager
def audit_sources(wiring: AuditWiring, workers: int) -> Iterator[AuditSources]:
    """What the audit reads and calls, built in this thread: boto3 clients are created here, before the pool's
    threads share them (creating them concurrently is not thread-safe)."""
    import boto3

    endpoint = wiring.shield()
    settings = wiring.settings
    # A pool smaller than the workers would open and drop tunnels; the pooled session outlives the invocation.
    session = wiring.session(pool_maxsize=max(workers, DEFAULT_POOL_SIZE))
    state = wiring.state
    secrets_client = boto3.client("secretsmanager")
    base_url = settings.okx_target()
    ledger = DynamoRotationLedger(settings.state_table_name)

    def client_for(key: OkxKeySecret, _secret_name: str) -> OkxClient:
        # Not recorded as the key's use: the record must show the bots' use, or a daily audit would hide a dead
        # bot from every later audit. (OKX does count this call as use; the report says so.)
        return OkxClient(session, key=key, base_url=base_url, allow_other_hosts=settings.local_overrides)

    def selected(tag: TagSelector | None, prefix: str) -> list[SecretMetadata]:
        return list_secrets(tag=tag, prefix=prefix, client=secrets_client)

    yield AuditSources(
        list_secrets=selected,
        describe_secret=lambda name: describe_secret(name, client=secrets_client),
        load_key=wiring.load_key,
        client_for=client_for,
        last_key_use_ms=state.last_key_use,
        rotation_record=ledger.load,
        rotation_records=ledger.load_many,
        load_keys=lambda names: wiring.load_keys(names, client=secrets_client),
        last_key_uses_ms=state.last_key_uses,
        expected_ips=endpoint.expected_ips,  # the secret's, or SHIELD_EXPECTED_IPS when it lists none
        repair_recorder=state,
    )
