"""`okx-shield demo` and `okx-shield invoke`: the Lambdas run in-process on the embedded local stack.

The demo seeds a small fleet that shows each interesting case, runs the probe, the audit and a DCA trade
exactly as EventBridge Scheduler would invoke them, and prints the SNS reports as a subscriber gets them.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import sys
import textwrap
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from okxlocal.demo_fanout import fanout_step
from okxlocal.demo_keys import show_ip_repair
from okxlocal.demo_orders import show_limit_expiry
from okxlocal.demo_rotation import show_rotation
from okxlocal.proxies import ProxyKind
from okxlocal.seeds import new_key, seed_with
from okxlocal.sim import SimAccount, SimSeed
from okxlocal.stack import (
    EGRESS_IP,
    KEY_SECRET_PREFIX,
    SECOND_SHIELD_IP,
    TABLE_NAME,
    LocalStack,
    patched_environ,
    running_stack,
)

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
FUNCTIONS = ("probe", "audit", "trade", "rotate")


# The desk's main account key: it manages the sub-account keys (IP-binding repair). Bound to both Shield IPs, with
# trade permission, as OKX requires for modify-apikey; new, so it is not yet dormant.
# Kept outside the key prefix, as in a deployment: the trade function cannot read it.
DEMO_MASTER_SECRET = "okx-shield/master"
MASTER_UID = "1000"
SUB_ACCOUNTS = {"1003": "expiringdesk", "1006": "halfbounddesk"}  # uid -> sub-account name under the master


def demo_stack(proxy_kind: ProxyKind = ProxyKind.HTTPS) -> contextlib.AbstractContextManager[LocalStack]:
    """The local stack with the demo fleet, its master key in DEMO_MASTER_SECRET (MASTER_KEY_SECRET_NAME)."""
    return running_stack(demo_seed(), proxy_kind=proxy_kind, master_key=("master", DEMO_MASTER_SECRET))


def demo_seed() -> SimSeed:
    """A fleet with one of each case a user meets: healthy, about to be deleted, withdraw, deleted, half bound.

    The healthy keys carry the names the files in events/ use, so `okx-shield invoke` runs any of them. The
    expiring and the half-bound keys live on sub-accounts of the master, which can rebind them.
    """
    both = [EGRESS_IP, SECOND_SHIELD_IP]
    keys = [
        new_key(MASTER_UID, "master", ips=both, created_days_ago=2),
        new_key("1001", "bot-main", ips=both, created_days_ago=30),
        new_key("1002", "bot-dca", ips=both, created_days_ago=20),
        new_key("1007", "bot-demo", ips=[], created_days_ago=60, demo=True),  # OKX never deletes demo keys
        new_key("1003", "expiring-bot", ips=[], created_days_ago=13),
        new_key("1004", "withdraw-key", perm={"read_only", "trade", "withdraw"}, ips=both, created_days_ago=45),
        new_key("1005", "deleted-bot", ips=[], created_days_ago=40, deleted=True),
        new_key("1006", "half-bound-bot", ips=[EGRESS_IP], created_days_ago=5),
    ]
    funds = {"USDT": Decimal("5000"), "BTC": Decimal("0.05"), "ETH": Decimal("1")}
    accounts = [
        SimAccount(
            uid=key.uid,
            label=f"demo account {key.uid}",
            balances=dict(funds),
            main_uid=MASTER_UID if key.uid in SUB_ACCOUNTS else None,
            sub_acct=SUB_ACCOUNTS.get(key.uid),
        )
        for key in keys
    ]
    return seed_with(keys, accounts)


# The healthy bots have been trading: the state store holds their last authenticated use, as the trade
# function records it. The others never traded through okx-shield, which the audit flags.
RECENTLY_TRADING = ("bot-main", "bot-dca", "bot-demo")


def _bots_traded_recently(stack: LocalStack) -> None:
    from okxcore.aws.state import DynamoStateStore

    state = DynamoStateStore(TABLE_NAME)
    an_hour_ago_ms = int(datetime.now(UTC).timestamp() * 1000) - 3_600_000
    for label in RECENTLY_TRADING:
        state.record_key_use(KEY_SECRET_PREFIX + label, an_hour_ago_ms)


def lambda_context(function: str) -> Any:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    context = LambdaContext()
    context._function_name = f"okx-shield-{function}"
    context._function_version = "$LATEST"
    context._invoked_function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:okx-shield-{function}"
    context._memory_limit_in_mb = 256
    context._aws_request_id = str(uuid.uuid4())
    context._log_group_name = f"/okx-shield/local/{function}"
    context._log_stream_name = "local"
    return context


def scheduled_now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def load_event(path: Path) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(path.read_text())
    if "scheduled_time" in event:  # a fresh slot, as the Scheduler would give
        event["scheduled_time"] = scheduled_now()
    return event


def invoke(function: str, event: dict[str, Any]) -> dict[str, Any]:
    """Run one handler in-process, the Docker-free counterpart of `sam local invoke`."""
    if function not in FUNCTIONS:
        raise SystemExit(f"unknown function {function!r}; choose one of {', '.join(FUNCTIONS)}")
    module = importlib.import_module(f"handlers.{function}")
    handler: Callable[[dict[str, Any], Any], dict[str, Any]] = module.handler
    return handler(event, lambda_context(function))


def print_reports(stack: LocalStack, out: TextIO) -> None:
    for message in stack.reports():
        attributes = ", ".join(f"{k}={v}" for k, v in sorted(message.attributes.items()))
        out.write("\n" + "=" * 100 + "\n")
        out.write(f"SNS  Subject: {message.subject}\n     Attributes: {attributes}\n")
        out.write("-" * 100 + "\n")
        out.write(textwrap.indent(message.body, "  ") + "\n")


def _quiet_logs() -> contextlib.AbstractContextManager[None]:
    """The structured logs go to CloudWatch in AWS; in the demo the reports are what a user reads."""
    return patched_environ({"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"})


def run_demo(out: TextIO = sys.stdout, proxy_kind: ProxyKind = ProxyKind.HTTPS) -> int:
    with _quiet_logs():
        return _run_demo(out, proxy_kind)


def _run_demo(out: TextIO, proxy_kind: ProxyKind) -> int:
    out.write(
        "okx-shield demo: the Lambdas on the embedded local stack\n"
        f"  OKX simulator (HTTPS, throwaway CA), a real {proxy_kind.value} proxy standing in for Shield with\n"
        f"  egress {EGRESS_IP}, moto for Secrets Manager, SNS and DynamoDB. Shield's static IPs: "
        f"{EGRESS_IP} and {SECOND_SHIELD_IP}.\n"
    )
    failures = 0
    with demo_stack(proxy_kind) as stack:
        _bots_traded_recently(stack)
        plan = [
            ("probe", EVENTS / "probe.json"),
            ("audit", EVENTS / "audit.json"),
            ("trade", EVENTS / "trade-dca.json"),
        ]
        for function, path in plan:
            event = load_event(path)
            out.write(f"\n>>> invoking {function} with {path.relative_to(ROOT)}\n")
            try:
                # Logs and EMF metrics go to CloudWatch in AWS; here the reports are what a user reads.
                with contextlib.redirect_stdout(io.StringIO()):
                    invoke(function, event)
            except Exception as error:  # the demo shows failures the way Lambda would record them
                failures += 1
                out.write(f"    the invocation failed: {error}\n")
            print_reports(stack, out)
        failures += show_ip_repair(stack, out)
        failures += show_limit_expiry(stack, out)
        failures += show_rotation(stack, out)
        failures += fanout_step(stack, out)
        peers = {record.peer_ip for record in stack.sim.stats.requests}
        out.write(
            f"\nThe OKX simulator received {stack.sim.stats.total_requests()} requests, from: "
            f"{', '.join(sorted(peers)) or 'nobody'} (only the proxy's static IP: nothing went direct).\n"
            f"Orders at the simulator: {len(stack.sim.orders())}.\n"
        )
    out.write("Everything was stopped; nothing is left running.\n")
    return 1 if failures else 0
