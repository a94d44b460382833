"""The OKX client's own HTTP exchange (ShieldSession.fetch, okxcore.wire) changes nothing in what the audit and
the probe report: the same fleet, audited and probed once through it and once through requests' full path (the
reference HTTP implementation, on the same session and tunnels), gives the same findings, key by key, and the
same report otherwise (less what a second run changes anyway: times, ages to 3 decimals, rate-limit retries).

The fleet has one key of each case a report distinguishes: healthy, unbound and about to be deleted, withdraw
permission, deleted at OKX, bound to one Shield IP of two, a wrong passphrase, a malformed secret, a demo key,
and the master's sub-account listing.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from handlers.audit import handler as audit_handler
from handlers.probe import handler as probe_handler
from okxcore.transport import ShieldSession
from okxlocal.demo_fleet import DEMO_MASTER_SECRET, demo_seed
from okxlocal.seeds import new_key, seed_with
from okxlocal.stack import KEY_SECRET_PREFIX

BOTH = ["127.0.0.2", "127.0.0.3"]
_VOLATILE_LINES = re.compile(r"^(Rate limits:|Requests sent through Shield|Echo)")


def through_requests(
    self: ShieldSession, method: str, url: str, *, body: bytes = b"", headers: Any, timeout: Any
) -> requests.Response:
    """The reference: the same request through requests' Session.request on the same session."""
    return self.request(method, url, data=body or None, headers=dict(headers), timeout=timeout)


def comparable(result: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in result.items() if k != "generated_at"}
    out["summary"] = [line for line in result["summary"] if not _VOLATILE_LINES.match(line)]
    details = {k: v for k, v in result["details"].items() if k not in {"fleet", "shield_requests", "key_checks"}}
    if "keys" in details:
        details["keys"] = [
            {k: round(v, 1) if k.endswith("_days") and isinstance(v, float) else v for k, v in key.items()}
            for key in details["keys"]
        ]
    out["details"] = details
    out["tables"] = {  # the echo services' milliseconds are timing
        name: [[c for c, head in zip(row, rows[0], strict=False) if head != "ms"] for row in rows]
        for name, rows in result["tables"].items()
    }
    out["findings"] = sorted(result["findings"], key=lambda f: (f["resource"], f["check_id"], f["message"]))
    return out


@pytest.fixture
def varied_fleet(local_stack):
    seed = demo_seed()
    extra = [
        new_key("2001", "wrong-passphrase", ips=BOTH, created_days_ago=10),
        new_key("2002", "malformed", ips=BOTH),
        new_key("2003", "healthy-2", ips=BOTH, created_days_ago=3),
    ]
    seed = seed_with([*seed.keys, *extra], [*seed.accounts, *seed_with(extra).accounts])
    return local_stack(
        seed,
        master_key=("master", DEMO_MASTER_SECRET),
        key_secret_extras={"wrong-passphrase": {"passphrase": "Pp-not-the-right-one"}, "malformed": {"demo": "maybe"}},
    )


def test_audit_and_probe_report_the_same_through_fetch_and_through_requests(varied_fleet, lambda_context, monkeypatch):
    audit_event = {"scheduled_time": "2026-01-15T06:00:00Z", "master_secret": DEMO_MASTER_SECRET}
    probe_event = {"scheduled_time": "2026-01-15T06:00:00Z"}
    fetched = (audit_handler(audit_event, lambda_context), probe_handler(probe_event, lambda_context))

    monkeypatch.setattr(ShieldSession, "fetch", through_requests)
    referenced = (audit_handler(audit_event, lambda_context), probe_handler(probe_event, lambda_context))

    for ours, reference in zip(fetched, referenced, strict=True):
        assert comparable(ours) == comparable(reference)
    # The fleet did produce the cases it was built for (a comparison of two empty reports proves nothing)
    audit_checks = {
        (f["resource"], f["check_id"].split(":")[0]) for f in fetched[0]["findings"] if f["status"] != "PASS"
    }
    for label in ("wrong-passphrase", "malformed", "deleted-bot", "withdraw-key", "expiring-bot", "half-bound-bot"):
        assert any(resource.startswith(KEY_SECRET_PREFIX + label) for resource, _check in audit_checks), label
    assert fetched[1]["findings"] and any(f["status"] != "PASS" for f in fetched[1]["findings"])
