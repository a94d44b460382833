"""`okx-shield demo`: the Lambdas and the CLI's own commands run in-process on the embedded local stack.

The demo seeds a small fleet that shows each interesting case (okxlocal.demo_fleet), runs the probe, the audit
and a DCA trade exactly as EventBridge Scheduler would invoke them, and prints the SNS reports as a subscriber
gets them; then its further steps, one module each: the IP-binding repair, a limit order's lifetime, a key
rotation and the fanned-out audit; last, the trade plans and `okx-shield up` as a user types them.
"""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

from okxcli.demo.fanout import fanout_step
from okxcli.demo.ip_repair import show_ip_repair
from okxcli.demo.limit_expiry import show_limit_expiry
from okxcli.demo.local_stack import show_local_stack
from okxcli.demo.rotation import show_rotation
from okxcli.exits import EXIT_FAILED
from okxcli.logs import handler_logs_to
from okxcli.reports import print_reports
from okxcore.aws.state import DynamoStateStore
from okxlocal.demo_fleet import demo_stack
from okxlocal.proxies import ProxyKind
from okxlocal.runner import EVENTS, invoke, load_event, read_event
from okxlocal.stack import EGRESS_IP, KEY_SECRET_PREFIX, SECOND_SHIELD_IP, TABLE_NAME, LocalStack, patched_environ
from okxlocal.template import ROOT


def register(commands: Any) -> None:
    demo = commands.add_parser("demo", help="run the Lambdas end to end on the embedded local stack")
    demo.add_argument(
        "--proxy",
        choices=[k.value for k in ProxyKind],
        default="https",
        help="which Shield form the local proxy uses (default: https, Shield's dashboard URL)",
    )
    demo.set_defaults(run=lambda args: run_demo(proxy_kind=ProxyKind(args.proxy)))


# The healthy bots have been trading: the state store holds their last authenticated use, as the trade
# function records it. The others never traded through okx-shield, which the audit flags.
RECENTLY_TRADING = ("bot-main", "bot-dca", "bot-demo")


def _bots_traded_recently(stack: LocalStack) -> None:
    state = DynamoStateStore(TABLE_NAME)
    an_hour_ago_ms = int(datetime.now(UTC).timestamp() * 1000) - 3_600_000
    for label in RECENTLY_TRADING:
        state.record_key_use(KEY_SECRET_PREFIX + label, an_hour_ago_ms)


@contextlib.contextmanager
def _quiet_logs() -> Iterator[None]:
    """The structured logs go to CloudWatch in AWS; in the demo the reports are what a user reads."""
    with handler_logs_to(io.StringIO(), level="WARNING"), patched_environ({"POWERTOOLS_METRICS_DISABLED": "true"}):
        yield


def run_demo(out: TextIO = sys.stdout, proxy_kind: ProxyKind = ProxyKind.HTTPS) -> int:
    with _quiet_logs():
        return _run_demo(out, proxy_kind)


# The events/ files the demo runs, read before anything starts: an edited one stops the demo at once, named.
DEMO_EVENTS = ("probe.json", "audit.json", "trade-dca.json", "trade-limit.json")


def _run_demo(out: TextIO, proxy_kind: ProxyKind) -> int:
    for name in DEMO_EVENTS:
        read_event(EVENTS / name)
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
    failures += show_local_stack(out)
    out.write("Everything was stopped; nothing is left running.\n")
    return EXIT_FAILED if failures else 0
