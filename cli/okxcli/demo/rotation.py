"""The demo's key rotation: Secrets Manager rotates one sub-account key through the rotate function.

First `okx-shield keys rotate --dry-run` shows the plan; then the four steps run as Secrets Manager runs
them; the rotation report is printed as a subscriber gets it; the simulator shows the new key bound to both
Shield IPs, and the old one still valid for its grace period. The master key is the demo's
(MASTER_KEY_SECRET_NAME, set by the demo stack).
"""

from __future__ import annotations

from typing import TextIO

from okxcli.keys.rotate import rotate_local, show_plan
from okxcli.reports import print_reports
from okxlocal.stack import KEY_SECRET_PREFIX, LocalStack

ROTATED = "expiring-bot"


def show_rotation(stack: LocalStack, out: TextIO) -> int:
    """Returns the number of failed steps."""

    secret = KEY_SECRET_PREFIX + ROTATED
    old = next(k for k in stack.seed.keys if k.label == ROTATED)
    failures = 0
    out.write(f"\n>>> okx-shield keys rotate --secret {secret} --dry-run\n")
    try:
        show_plan(secret, out)
    except Exception as error:  # the demo shows failures the way a user would see them
        failures += 1
        out.write(f"    the command failed: {error}\n")
    out.write(f"\n>>> Secrets Manager rotates {secret} (okx-shield keys rotate --secret {secret})\n")
    if rotate_local(secret, out) != 0:
        failures += 1
    print_reports(stack, out)
    out.write(f"\nAt the simulator now, the keys of {ROTATED}'s sub-account:\n")
    for key in [k for k in stack.sim.state.keys if k.uid == old.uid and not k.deleted]:
        role = "the old key: deleted after the grace period" if key.api_key == old.api_key else "new: AWSCURRENT"
        out.write(f"  {key.label}: perm {key.perm_string()}, bound to {', '.join(key.ips) or '(no IP)'} ({role})\n")
    return failures
