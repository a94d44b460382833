"""`okx-shield sim`: the local OKX simulator, standalone (seed in, URL and CA path out).

While `okx-shield up` keeps a stack, its simulator is the one to use: `sim` prints where it is and its key
files instead of starting a second simulator that knows none of the stack's keys or orders.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from okxcore.errors import InvalidInputError
from okxlocal.attached import read_record, state_dir
from okxlocal.sim.standalone import EXAMPLE_SEED, run_standalone


def register(commands: Any) -> None:
    sim = commands.add_parser("sim", help="run the local OKX simulator standalone (or show the running stack's)")
    sim.add_argument("--seed", type=Path, help="seed JSON (default: the bundled example)")
    sim.add_argument("--out", type=Path, default=Path("okx-sim"), help="folder for the CA and certificate")
    sim.add_argument("--port", type=int, default=0)
    sim.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    folder = state_dir()
    record = read_record(folder)
    if record is None:
        run_standalone(args.seed or EXAMPLE_SEED, args.out, args.port)
        return 0
    if args.seed is not None or args.port:
        raise InvalidInputError(
            "okx-shield sim",
            "--seed" if args.seed is not None else "--port",
            f"a local stack is up (pid {record.pid}) with its own simulator",
            hint="Use that one (okx-shield sim prints it), or stop the stack first: okx-shield down.",
        )
    print(f"url: {record.okx_url}")
    print(f"ca: {record.ca_path}")
    print(f"(the simulator of the local stack `okx-shield up` keeps, pid {record.pid}; key files: {folder}/keys/)")
    return 0
