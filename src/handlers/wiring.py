"""Builds what a handler needs from its settings: the Shield session, OKX clients, state store, publisher.

Sessions are cached per process so that warm invocations reuse their pooled tunnels.
"""

from __future__ import annotations

import json
import uuid
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
from okxcore.transport import DEFAULT_POOL_SIZE, ShieldSession, shared_session


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
        """The Shield secret and endpoint; a malformed secret raises an error naming the field.

        Every path to OKX starts here, so the OKX target is checked here too: a base URL that is not OKX's (or a
        local override in a deployed function) stops the run before any secret is read, and is reported.
        """
        if self._shield is None:
            self.settings.okx_target()
            secret, endpoint = load_shield(self.settings.shield_secret_name)
            fallback_ips = RuntimeSettings.split(self.settings.shield_expected_ips)
            if not endpoint.expected_ips and fallback_ips:
                endpoint = replace(endpoint, expected_ips=normalise_ips(fallback_ips, source="function environment"))
            self._shield = (secret, endpoint)
        return self._shield

    def session(self, *, pool_maxsize: int = DEFAULT_POOL_SIZE) -> ShieldSession:
        """The process-wide session for the Shield endpoint; pool_maxsize bounds connections per host."""
        _secret, endpoint = self.shield()
        return shared_session(
            endpoint,
            ca_bundle=self.settings.okx_ca_bundle,
            proxy_ca_bundle=self.settings.shield_ca_bundle,
            pool_maxsize=pool_maxsize,
            connect_timeout=self.settings.shield_connect_timeout_s,
            handshake_timeout=self.settings.shield_handshake_timeout_s,
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
            base_url=self.settings.okx_target(),
            allow_other_hosts=self.settings.local_overrides,
            on_authenticated=remember if (record_use and key is not None and key_name) else None,
        )
        return client

    def publish(self, report: Report) -> str:
        """Publish to SNS. The full report is always logged first, so an SNS failure loses nothing."""
        log_report(report)
        counts = report.counts()
        metrics.add_metric(name="CriticalFindings", unit=MetricUnit.Count, value=counts["CRITICAL"] + counts["HIGH"])
        return publish_report(report, self.settings.report_topic_arn)


LOG_EVENT_BUDGET_BYTES = 200 * 1024  # CloudWatch Logs takes at most 256 KB per event


def log_report(report: Report) -> None:
    """The full report in the structured log, split into numbered parts when it exceeds one log event."""
    result = report.as_result()
    text = json.dumps(result, default=str, separators=(",", ":"))
    if len(text) <= LOG_EVENT_BUDGET_BYTES:
        logger.info("report", extra={"report": result})
        return
    report_id = uuid.uuid4().hex
    parts = [text[i : i + LOG_EVENT_BUDGET_BYTES] for i in range(0, len(text), LOG_EVENT_BUDGET_BYTES)]
    summary = {k: result[k] for k in ("report_type", "environment", "title", "overall", "counts")}
    logger.info("report", extra={"report": summary, "report_id": report_id, "parts": len(parts)})
    for number, part in enumerate(parts, start=1):
        # Concatenating json_part of parts 1..n in order gives the full report JSON back.
        logger.info("report part", extra={"report_id": report_id, "part": number, "of": len(parts), "json_part": part})


def result_for(report: Report, **extra: Any) -> dict[str, Any]:
    return {**report.as_result(), **extra}
