"""Builds what a handler needs from its settings: the Shield session, OKX clients, state store, publisher.

Sessions are cached per process so that warm invocations reuse their pooled tunnels.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from handlers.observability import logger, metrics
from handlers.settings import RuntimeSettings
from okxcore.aws.sns import publish_report
from okxcore.aws.state import DynamoStateStore
from okxcore.client import OkxClient
from okxcore.credentials import OkxKeySecret, ShieldSecret
from okxcore.report import Report
from okxcore.secretstore import load_okx_key, load_shield
from okxcore.shield import ShieldEndpoint, normalise_ips
from okxcore.transport import ShieldSession, shared_session


@dataclass
class Wiring:
    settings: RuntimeSettings
    _state: DynamoStateStore | None = field(default=None, init=False)
    _shield: tuple[ShieldSecret, ShieldEndpoint] | None = field(default=None, init=False)

    @classmethod
    def from_environ(cls) -> Wiring:
        return cls(RuntimeSettings.from_environ())

    @property
    def state(self) -> DynamoStateStore:
        if self._state is None:
            self._state = DynamoStateStore(self.settings.state_table_name)
        return self._state

    def shield(self) -> tuple[ShieldSecret, ShieldEndpoint]:
        """The Shield secret and endpoint; a malformed secret raises an error naming the field."""
        if self._shield is None:
            secret, endpoint = load_shield(self.settings.shield_secret_name)
            fallback_ips = RuntimeSettings.split(self.settings.shield_expected_ips)
            if not endpoint.expected_ips and fallback_ips:
                endpoint = replace(endpoint, expected_ips=normalise_ips(fallback_ips, source="function environment"))
            self._shield = (secret, endpoint)
        return self._shield

    def session(self) -> ShieldSession:
        _secret, endpoint = self.shield()
        return shared_session(
            endpoint, ca_bundle=self.settings.okx_ca_bundle, proxy_ca_bundle=self.settings.shield_ca_bundle
        )

    def load_key(self, secret_name: str) -> OkxKeySecret:
        defaults = {"region": self.settings.okx_default_region, "demo": self.settings.okx_default_demo}
        return load_okx_key(secret_name, defaults=defaults)

    def client(self, key: OkxKeySecret | None, *, key_name: str = "", record_use: bool = True) -> OkxClient:
        """An OKX client through Shield; every authenticated call is recorded as the key's last use."""

        def remember(_label: str) -> None:
            self.state.record_key_use(key_name, client.now_ms())

        client = OkxClient(
            self.session(),
            key=key,
            base_url=self.settings.okx_base_url,
            on_authenticated=remember if (record_use and key is not None and key_name) else None,
        )
        return client

    def publish(self, report: Report) -> str:
        """Publish to SNS. The full report is always logged first, so an SNS failure loses nothing."""
        logger.info("report", extra={"report": report.as_result()})
        counts = report.counts()
        metrics.add_metric(name="CriticalFindings", unit=MetricUnit.Count, value=counts["CRITICAL"] + counts["HIGH"])
        return publish_report(report, self.settings.report_topic_arn)


def result_for(report: Report, **extra: Any) -> dict[str, Any]:
    return {**report.as_result(), **extra}
