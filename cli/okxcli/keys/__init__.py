"""`okx-shield keys`: changing OKX keys through the master key, on the local stack (default) or for real.

okx-shield keys bind-ips --secret NAME [--apply] [--remove-ip IP]...
    Bind both Shield IPs to the sub-account key held in secret NAME, keeping every IP it has. Without --apply
    it only prints what would change (keys/bind_ips.py).
okx-shield keys rotate --secret NAME [--dry-run]
    Replace the sub-account key held in secret NAME with a new one (the rotation function's four steps);
    --dry-run prints what it would do (keys/rotate.py).

Every `keys` subcommand takes the same options (keys/options.py) and runs inside okxcli.wiring.wiring_for:
the local stack with the demo fleet by default, `--real` for this shell's AWS credentials and real OKX.
A subcommand is a function (args, wiring) -> exit code.
"""

from __future__ import annotations

from typing import Any

from okxcli.keys import bind_ips, rotate


def register(commands: Any) -> None:
    """Adds `keys` and its subcommands to the top-level parser's subcommands."""
    keys = commands.add_parser("keys", help="change OKX keys through the master key (bind-ips, rotate)")
    subcommands = keys.add_subparsers(dest="keys_command", required=True)
    bind_ips.register(subcommands)
    rotate.register(subcommands)
