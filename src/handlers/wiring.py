"""Builds what a handler needs from its settings: the Shield session, OKX clients, state store, publisher.

Sessions are cached per process so that warm invocations reuse their pooled tunnels.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from handlers.observability import add_metrics, logger
from handlers.settings import RuntimeSettings
from okxcore.aws.order_ledger import DynamoOrderLedger
from okxcore.aws.secretstore import load_okx_key, load_okx_keys, load_shield
from okxcore.aws.sns import publish_report
from okxcore.aws.state import DynamoStateStore
from okxcore.client import OkxClient
from okxcore.credentials import OkxKeySecret
from okxcore.errors import InvalidInputError
from okxcore.ips import normalise_ips
from okxcore.report import MetricPoint, Report, report_metrics
from okxcore.shield import ShieldEndpoint
from okxcore.transport import DEFAULT_POOL_SIZE, RequestTally, ShieldSession, shared_session, start_tally


@dataclass
class Wiring:
    settings: RuntimeSettings
    _state: DynamoStateStore | None = field(default=None, init=False)
    _orders: DynamoOrderLedger | None = field(default=None, init=False)
    _shield: ShieldEndpoint | None = field(default=None, init=False)
    # The requests this invocation sends through Shield, whichever thread sends them (see RequestTally).
    _tally: RequestTally = field(default_factory=start_tally, init=False)

    @classmethod
    def from_environ(cls) -> Wiring:
        return cls(RuntimeSettings.from_environ())

    @property
    def state(self) -> DynamoStateStore:
        if self._state is None:
            self._state = DynamoStateStore(self.settings.state_table_name)
        return self._state

    @property
    def orders(self) -> DynamoOrderLedger:
        """The order ledger (okxcore/trading/ledger.py) in the state table."""
        if self._orders is None:
            self._orders = DynamoOrderLedger(self.settings.state_table_name)
        return self._orders

    def shield(self) -> ShieldEndpoint:
        """The Shield endpoint; a malformed secret raises an error naming the field.

        Every path to OKX starts here, so the OKX target is checked here too: a base URL that is not OKX's (or a
        local override in a deployed function) stops the run before any secret is read, and is reported.
        """
        if self._shield is None:
            self.settings.okx_target()
            self.settings.region_urls()
            endpoint = load_shield(self.settings.shield_secret_name)
            fallback_ips = RuntimeSettings.split(self.settings.shield_expected_ips)
            if not endpoint.expected_ips and fallback_ips:
                endpoint = replace(endpoint, expected_ips=normalise_ips(fallback_ips, source="function environment"))
            self._shield = endpoint
        return self._shield

    def session(self, *, pool_maxsize: int = DEFAULT_POOL_SIZE) -> ShieldSession:
        """The process-wide session for the Shield endpoint; pool_maxsize bounds connections per host."""
        endpoint = self.shield()
        return shared_session(
            endpoint,
            ca_bundle=self.settings.okx_ca_bundle,
            proxy_ca_bundle=self.settings.shield_ca_bundle,
            pool_maxsize=pool_maxsize,
            connect_timeout=self.settings.shield_connect_timeout_s,
            handshake_timeout=self.settings.shield_handshake_timeout_s,
        )

    def shield_requests(self) -> int:
        """Requests this invocation has sent through Shield so far."""
        return self._tally.count

    def load_key(self, secret_name: str) -> OkxKeySecret:
        return load_okx_key(secret_name, defaults=self._key_defaults())

    def load_keys(self, secret_names: list[str], *, client: Any = None) -> dict[str, OkxKeySecret | InvalidInputError]:
        """Many key secrets in batched reads; each maps to its key or to the error naming it."""
        return load_okx_keys(secret_names, client=client, defaults=self._key_defaults())

    def _key_defaults(self) -> dict[str, Any]:
        return {"region": self.settings.okx_default_region, "demo": self.settings.okx_default_demo}

    def client(
        self,
        key: OkxKeySecret | None,
        *,
        key_name: str = "",
        record_use: bool = True,
        pool_maxsize: int = DEFAULT_POOL_SIZE,
    ) -> OkxClient:
        """An OKX client through Shield, to the host of the key's region; every authenticated call is recorded as
        the key's last use.

        `pool_maxsize`: the session's (see session()); concurrent callers pass their worker count."""

        def remember(_label: str) -> None:
            self.state.record_key_use(key_name, client.now_ms())

        client = OkxClient(
            self.session(pool_maxsize=pool_maxsize),
            key=key,
            base_url=self.settings.base_url_for(key.region if key else self.settings.okx_default_region),
            allow_other_hosts=self.settings.local_overrides,
            on_authenticated=remember if (record_use and key is not None and key_name) else None,
        )
        return client

    def publish(self, report: Report) -> str:
        """Publish to SNS. The full report is always logged first, so an SNS failure loses nothing."""
        self.count_requests(report)
        return self.send(report)

    def count_requests(self, report: Report) -> None:
        """Put the requests this run sent through Shield into the report (and the ShieldRequests metric)."""
        # A fanned-out audit's shards and a rotation's earlier steps ran in other invocations: their requests
        # reach the report with it.
        earlier = sum(int(report.details.get(name, 0)) for name in EARLIER_REQUESTS)
        sent = self.shield_requests() + earlier
        report.details["shield_requests"] = sent
        report.summary.append(f"Requests sent through Shield by this run: {sent}.")
        add_metrics([MetricPoint("ShieldRequests", "Count", sent)])

    def send(self, report: Report) -> str:
        """publish() without counting the requests: for a report that count_requests() completed already."""
        log_report(report)
        add_metrics(report_metrics(report))
        return publish_report(report, self.settings.report_topic_arn)


EARLIER_REQUESTS = ("shield_requests_by_shards", "shield_requests_by_earlier_steps")
LOG_EVENT_BUDGET_BYTES = 200 * 1024  # CloudWatch Logs takes at most 256 KB per event


def log_report(report: Report) -> None:
    """The full report in the structured log, split into numbered parts when it exceeds one log event."""
    # as_result() as JSON text, serialised straight from the model: a 10,000-key report as a dict would be a
    # second copy of every finding, ~70 MB of a 256 MB function.
    head = report.verdict()
    text = json.dumps(head, separators=(",", ":"))[:-1] + "," + report.model_dump_json()[1:]
    if len(text) <= LOG_EVENT_BUDGET_BYTES:
        logger.info("report", extra={"report": json.loads(text)})
        return
    report_id = uuid.uuid4().hex
    size = len(text)
    count = -(-size // LOG_EVENT_BUDGET_BYTES)
    summary = {"report_type": report.report_type, "environment": report.environment, "title": report.title, **head}
    logger.info("report", extra={"report": summary, "report_id": report_id, "parts": count})
    for number, start in enumerate(range(0, size, LOG_EVENT_BUDGET_BYTES), start=1):
        # Concatenating json_part of parts 1..n in order gives the full report JSON back.
        part = text[start : start + LOG_EVENT_BUDGET_BYTES]
        logger.info("report part", extra={"report_id": report_id, "part": number, "of": count, "json_part": part})


def result_for(report: Report, **extra: Any) -> dict[str, Any]:
    return {**report.as_result(), **extra}
