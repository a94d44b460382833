"""The audit at fleet scale: hundreds of keys, OKX's per-user rate limits, bounded concurrency through Shield."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import pytest

from handlers.audit import handler
from okxcore.report import SNS_MESSAGE_LIMIT_BYTES
from okxcore.transport import ShieldSession
from okxlocal.seeds import new_key, seed_with
from okxlocal.stack import KEY_SECRET_PREFIX

BOTH = ["127.0.0.2", "127.0.0.3"]
CONFIG_PATH = "/api/v5/account/config"


class InFlight:
    """Counts HTTP requests in flight through every ShieldSession (outside the code under test)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.max = 0
        self.total = 0


@pytest.fixture
def in_flight(monkeypatch):
    counter = InFlight()

    def counted(original):
        def counting(self, *args, **kwargs):
            with counter.lock:
                counter.now += 1
                counter.total += 1
                counter.max = max(counter.max, counter.now)
            try:
                return original(self, *args, **kwargs)
            finally:
                with counter.lock:
                    counter.now -= 1

        return counting

    # request(): requests' full path (the echoes); fetch(): the OKX client's.
    for method in ("request", "fetch"):
        monkeypatch.setattr(ShieldSession, method, counted(getattr(ShieldSession, method)))
    return counter


def config_answers(stack):
    return [r for r in stack.sim.stats.requests if r.path.startswith(CONFIG_PATH)]


def emf_blobs(stdout: str) -> list[dict]:
    blobs = []
    for line in stdout.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            blobs.append(json.loads(line))
    return blobs


def test_210_keys_sharing_users_are_all_audited_within_the_bound_and_every_rate_limit_is_retried(
    local_stack, lambda_context, in_flight, capsys
):
    # Given 210 healthy keys: 40 of them share 4 OKX users (10 each, listed next to each other, so that
    # account/config's 5 per 2 s per user is exceeded), the other 170 have a user each
    keys = [new_key(f"7{u:03d}", f"fleet-u{u:03d}-k{k:02d}", ips=BOTH) for u in range(4) for k in range(10)]
    keys += [new_key(f"8{u:03d}", f"fleet-v{u:03d}", ips=BOTH) for u in range(170)]
    stack = local_stack(seed_with(keys))

    # When the audit runs with 8 workers
    started = time.monotonic()
    result = handler({"scheduled_time": "2026-01-15T06:00:00Z", "max_workers": 8}, lambda_context)
    elapsed = time.monotonic() - started

    # Then every key was audited and found healthy
    passed_auth = {f["resource"] for f in result["findings"] if f["check_id"] == "audit.auth" and f["status"] == "PASS"}
    assert passed_auth == {KEY_SECRET_PREFIX + k.label for k in keys}
    assert [f for f in result["findings"] if f["status"] != "PASS"] == []

    # And OKX did rate limit the shared users, and every 50011 was retried until the key's call succeeded
    answers = config_answers(stack)
    assert any(r.code == "50011" for r in answers)
    succeeded = Counter(r.api_key for r in answers if r.code == "0")
    assert set(succeeded) == {k.api_key for k in keys}
    assert set(succeeded.values()) == {1}
    assert result["details"]["fleet"]["rate_limited_unretried"] == 0

    # And never more than 8 requests were in flight, over at most 8 tunnels through the proxy
    assert 0 < in_flight.max <= 8
    assert in_flight.total == len(answers)
    assert stack.sim.stats.connections_from("127.0.0.2") <= 8
    assert stack.sim.stats.requests_from("127.0.0.1") == 0

    # And one report fits one SNS message
    [message] = stack.reports()
    assert len(message.body.encode()) < SNS_MESSAGE_LIMIT_BYTES
    assert "210 key(s)" in message.text
    assert elapsed < 30

    # And the per-key metrics are dimension-free values, in EMF blobs within CloudWatch's limits
    blobs = emf_blobs(capsys.readouterr().out)
    ages = []
    for blob in blobs:
        [directive] = blob["_aws"]["CloudWatchMetrics"]
        assert len(directive["Metrics"]) <= 100
        names = {metric["Name"] for metric in directive["Metrics"]}
        for name in names:
            values = blob[name] if isinstance(blob[name], list) else [blob[name]]
            assert len(values) <= 100
        if "KeyAgeDays" in names:
            ages += blob["KeyAgeDays"] if isinstance(blob["KeyAgeDays"], list) else [blob["KeyAgeDays"]]
            # no per-key dimension: one metric, whatever the fleet size
            assert [sorted(group) for group in directive["Dimensions"]] == [["service"]]
    assert len(ages) == 210


def test_a_rate_limit_storm_outlasting_the_clients_retries_is_retried_by_the_fleet(
    local_stack, lambda_context, in_flight
):
    # Given 30 keys of 30 users, and OKX answering 50011 to the next 90 private calls whoever makes them
    keys = [new_key(f"6{u:03d}", f"storm-{u:03d}", ips=BOTH) for u in range(30)]
    stack = local_stack(seed_with(keys))
    stack.sim.faults.rate_limit_storm = 90

    # When the audit runs with 12 workers (more than the shared session's pool of 10)
    result = handler({"scheduled_time": "2026-01-15T07:00:00Z", "max_workers": 12}, lambda_context)

    # Then some keys were still rate limited after the client's 4 attempts and the fleet retried them
    fleet = result["details"]["fleet"]
    assert fleet["rate_limited_retried"] > 0
    assert fleet["rate_limited_unretried"] == 0
    assert stack.sim.faults.rate_limit_storm == 0
    # And every key was audited in the end
    assert [f for f in result["findings"] if f["status"] != "PASS"] == []
    assert sum(1 for r in config_answers(stack) if r.code == "0") == 30
    # And concurrency stayed within 12 requests and 12 tunnels (the audit's own pool was sized to its workers)
    assert in_flight.max <= 12
    assert stack.sim.stats.connections_from("127.0.0.2") <= 12
    assert "retried again; 0 left unretried" in stack.reports()[0].text
