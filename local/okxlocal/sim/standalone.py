"""Run the simulator by hand: ``python -m okxlocal.sim.standalone SEED.json OUT_DIR [--port N]``."""

from __future__ import annotations

import argparse
import errno
import signal
import threading
from pathlib import Path
from types import FrameType

from pydantic import ValidationError

from okxcore.errors import InvalidInputError
from okxcore.inputs import input_error, json_file
from okxlocal.pki import LocalPKI

from .server import OkxSimulator
from .state import SimSeed

EXAMPLE_SEED = Path(__file__).with_name("example_seed.json")


def read_seed(seed_path: Path) -> SimSeed:
    """The seed file's simulator state; InvalidInputError naming --seed and every problem (never a traceback)."""
    raw = json_file(Path(seed_path), option="--seed", source="okx-shield sim")
    try:
        return SimSeed.model_validate(raw)
    except ValidationError as exc:
        raise input_error(
            exc,
            source=f"seed file {seed_path}",
            hint=f"Start from the bundled example ({EXAMPLE_SEED.name}): accounts, keys (api_key, secret, "
            "passphrase, uid, ...), instruments and tickers.",
            whole="(whole seed)",
        ) from None


def run_standalone(seed_path: Path, out_dir: Path, port: int = 0) -> None:
    """Start a simulator from a seed file, print its URL and CA path, run until SIGINT/SIGTERM."""
    seed = read_seed(seed_path)
    pki = LocalPKI(Path(out_dir))
    cert = pki.server_cert("sim")
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            sim = OkxSimulator(seed, certfile=cert.cert_chain_path, keyfile=cert.key_path, port=port).start()
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise InvalidInputError(
                "okx-shield sim", "--port", f"{port} is in use", hint="Choose another port, or 0 for any free one."
            ) from None
        with sim:
            print(f"url: {sim.url}", flush=True)
            print(f"ca: {pki.ca_path}", flush=True)
            while not stop.wait(0.5):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local OKX v5 REST simulator")
    parser.add_argument("seed", type=Path, nargs="?", default=EXAMPLE_SEED, help="seed JSON file")
    parser.add_argument("out_dir", type=Path, nargs="?", default=Path("okx-sim-pki"), help="CA/cert folder")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    run_standalone(args.seed, args.out_dir, args.port)


if __name__ == "__main__":
    main()
