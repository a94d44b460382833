"""The audit's sources in AWS: key secrets from Secrets Manager, use and rotation records from the state table,
OKX through the Shield session. The handler's wiring satisfies AuditWiring as it is."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

from okxcore.audit.sources import AuditSources, BatchReads
from okxcore.aws.clients import aws_client
from okxcore.aws.fleet_secrets import describe_secret, list_secrets
from okxcore.aws.rotation_state import DynamoRotationLedger
from okxcore.client import OkxClient
from okxcore.key_secrets import SecretMetadata, TagSelector
from okxcore.keys.rotation.record import RotationRecord
from okxcore.transport import DEFAULT_POOL_SIZE

if TYPE_CHECKING:
    from okxcore.aws.state import DynamoStateStore
    from okxcore.credentials import OkxKeySecret
    from okxcore.endpoints import Region
    from okxcore.errors import InvalidInputError
    from okxcore.keys.repair.binding import RepairRecorder
    from okxcore.shield import ShieldEndpoint
    from okxcore.transport import ShieldSession


class AuditWiringSettings(Protocol):
    @property
    def state_table_name(self) -> str: ...
    @property
    def local_overrides(self) -> bool: ...
    def base_url_for(self, region: Region) -> str | None: ...
    def other_regions_reachable(self) -> bool: ...


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


class AwsAuditSources(AuditSources):
    """The audit's sources in AWS; also its batched readers (BatchGetSecretValue, BatchGetItem)."""

    def __init__(
        self,
        wiring: AuditWiring,
        *,
        expected_ips: tuple[str, ...],
        session: ShieldSession,
        secrets_client: Any,
        selection: list[SecretMetadata] | None,
    ) -> None:
        self._wiring = wiring
        self._expected_ips = expected_ips
        self._session = session
        self._state = wiring.state
        self._secrets = secrets_client
        self._ledger = DynamoRotationLedger(wiring.settings.state_table_name)
        self._selection = selection

    @property
    def expected_ips(self) -> tuple[str, ...]:
        return self._expected_ips

    def list_secrets(self, tag: TagSelector | None, prefix: str) -> list[SecretMetadata]:
        if self._selection is not None:
            return self._selection
        return list_secrets(tag=tag, prefix=prefix, client=self._secrets)

    def describe_secret(self, name: str) -> SecretMetadata | None:
        return describe_secret(name, client=self._secrets)

    def load_key(self, name: str) -> OkxKeySecret:
        return self._wiring.load_key(name)

    def client_for(self, key: OkxKeySecret, name: str) -> OkxClient:
        # Not recorded as the key's use: the record must show the bots' use, or a daily audit would hide a dead
        # bot from every later audit. (OKX does count this call as use; the report says so.)
        allow = self._wiring.settings.local_overrides
        base_url = self._wiring.settings.base_url_for(key.region)
        return OkxClient(self._session, key=key, base_url=base_url, allow_other_hosts=allow)

    def other_regions_reachable(self) -> bool:
        return self._wiring.settings.other_regions_reachable()

    def last_key_use_ms(self, name: str) -> int | None:
        return self._state.last_key_use(name)

    def rotation_record(self, name: str) -> RotationRecord | None:
        return self._ledger.load(name)

    @property
    def batch(self) -> BatchReads:
        return self

    def load_keys(self, names: list[str]) -> Mapping[str, OkxKeySecret | Exception]:
        return self._wiring.load_keys(names, client=self._secrets)

    def last_key_uses_ms(self, names: list[str]) -> Mapping[str, int | None]:
        return self._state.last_key_uses(names)

    def rotation_records(self, names: list[str]) -> Mapping[str, RotationRecord]:
        return self._ledger.load_many(names)

    @property
    def repair_recorder(self) -> RepairRecorder:
        return self._state


@contextmanager
def audit_sources(
    wiring: AuditWiring, workers: int, *, selection: list[SecretMetadata] | None = None
) -> Iterator[AwsAuditSources]:
    """What the audit reads and calls, built in this thread: boto3 clients are created here, before the pool's
    threads share them (creating them concurrently is not thread-safe). `selection`: the secrets to audit as
    already listed (a fan-out shard's), instead of listing them."""
    endpoint = wiring.shield()
    # A pool smaller than the workers would open and drop tunnels; the pooled session outlives the invocation.
    session = wiring.session(pool_maxsize=max(workers, DEFAULT_POOL_SIZE))
    yield AwsAuditSources(
        wiring,
        expected_ips=endpoint.expected_ips,  # the secret's, or SHIELD_EXPECTED_IPS when it lists none
        session=session,
        secrets_client=aws_client("secretsmanager"),
        selection=selection,
    )
