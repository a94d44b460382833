"""The demo's IP-binding repair: the master key rebinds the half-bound and the expiring sub-account keys.

First `okx-shield keys bind-ips` in plan mode shows what would change; then the audit runs with repair on and
applies it; then the audit runs again, and is cleaner. What the simulator holds afterwards is printed too.
"""

from __future__ import annotations

import contextlib
import io
from typing import TextIO

from handlers.wiring import Wiring
from okxcli.keys.bind_ips import bind_ips_with, print_result
from okxcli.reports import print_reports
from okxlocal.demo_fleet import DEMO_MASTER_SECRET
from okxlocal.runner import invoke, scheduled_now
from okxlocal.stack import KEY_SECRET_PREFIX, LocalStack

REPAIRED = ("half-bound-bot", "expiring-bot")


def show_ip_repair(stack: LocalStack, out: TextIO) -> int:
    """Returns the number of failed steps."""
    secret = KEY_SECRET_PREFIX + REPAIRED[0]
    out.write(f"\n>>> okx-shield keys bind-ips --secret {secret}   (no --apply: only prints what would change)\n")
    failures = 0
    try:
        result = bind_ips_with(Wiring.from_environ(), secret, mode="plan", master_secret=DEMO_MASTER_SECRET)
        print_result(result, secret, out)
    except Exception as error:  # the demo shows failures the way a user would see them
        failures += 1
        out.write(f"    the command failed: {error}\n")

    out.write(f'\n>>> invoking audit with "master_secret": "{DEMO_MASTER_SECRET}", "repair_mode": "apply"\n')
    subjects: list[str] = []
    for repair_mode in ("apply", "off"):
        event = {"scheduled_time": scheduled_now(), "master_secret": DEMO_MASTER_SECRET, "repair_mode": repair_mode}
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                invoke("audit", event)
        except Exception as error:
            failures += 1
            out.write(f"    the invocation failed: {error}\n")
        if repair_mode == "apply":
            print_reports(stack, out)
        else:
            subjects += [message.subject for message in stack.reports()]
    out.write("\nAt the simulator now:\n")
    for label in REPAIRED:
        key = next(k for k in stack.seed.keys if k.label == label)
        held = stack.sim.key(key.api_key)
        out.write(f"  {label}: bound to {', '.join(held.ips) if held and held.ips else '(no IP)'}\n")
    out.write("The audit after the repair: " + (", ".join(subjects) or "no report") + "\n")
    return failures
