"""`okx-shield sim`: the local OKX simulator, standalone (seed in, URL and CA path out)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from okxlocal.sim.standalone import EXAMPLE_SEED, run_standalone


def register(commands: Any) -> None:
    sim = commands.add_parser("sim", help="run the local OKX simulator standalone")
    sim.add_argument("--seed", type=Path, help="seed JSON (default: the bundled example)")
    sim.add_argument("--out", type=Path, default=Path("okx-sim"), help="folder for the CA and certificate")
    sim.add_argument("--port", type=int, default=0)
    sim.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    run_standalone(args.seed or EXAMPLE_SEED, args.out, args.port)
    return 0
