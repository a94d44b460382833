"""`okx-shield serve` and `okx-shield lambda-image`: what `sam local invoke` needs on this machine (docs/deploy.md
"Running a function in a Lambda container")."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

from okxcli.reports import print_reports
from okxlocal.containers.daemon import bridge_gateway, ensure_daemon
from okxlocal.containers.image import ensure_base_image
from okxlocal.demo_fleet import DEMO_MASTER_SECRET, demo_seed
from okxlocal.proxies import ProxyKind
from okxlocal.served import DEFAULT_PORTS, ENV_VARS_FILE, env_vars_document, served_stack
from okxlocal.template import ROOT


def register(commands: Any) -> None:
    serve = commands.add_parser(
        "serve",
        help="the local stack for Lambda containers (sam local invoke), until Ctrl-C",
        description="Serve the local stack (the demo fleet) where a Lambda container reaches it: moto, the proxy "
        "standing in for Shield and the OKX simulator behind it, on the Docker bridge's gateway and the ports "
        "local/sam-local-env.json names. Prints each SNS report as it arrives.",
    )
    serve.add_argument("--proxy", choices=[kind.value for kind in ProxyKind], default=ProxyKind.HTTPS.value)
    serve.add_argument(
        "--build-dir",
        type=Path,
        default=ROOT / ".aws-sam" / "build",
        help="sam build's output: the stack's CA is copied into each function there (/var/task in the container)",
    )
    serve.set_defaults(run=run_serve)
    image = commands.add_parser(
        "lambda-image", help="build the stand-in Lambda Python 3.11 image from Debian packages (no registry needed)"
    )
    image.add_argument("--architecture", choices=["x86_64", "arm64"], help="default: this machine's")
    image.set_defaults(run=run_lambda_image)


def run_lambda_image(args: argparse.Namespace) -> int:
    ensure_daemon()  # a daemon started here keeps running: sam local invoke needs it next
    print(ensure_base_image(args.architecture))
    return 0


def run_serve(args: argparse.Namespace) -> int:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request otherwise
    gateway = bridge_gateway()
    endpoint = env_vars_document(gateway, DEFAULT_PORTS)["Parameters"]["AWS_ENDPOINT_URL"]
    if f'"{endpoint}"' not in ENV_VARS_FILE.read_text():
        print(
            f"note: Docker's bridge gateway here is {gateway}, not the one {ENV_VARS_FILE.name} names: write your "
            "own --env-vars file (okxlocal.served.write_env_vars)",
            file=sys.stderr,
        )
    with served_stack(
        demo_seed(),
        gateway,
        DEFAULT_PORTS,
        proxy_kind=ProxyKind(args.proxy),
        build_dir=args.build_dir,
        master_key=("master", DEMO_MASTER_SECRET),
    ) as served:
        print(
            f"serving the local stack for Lambda containers at {gateway}: moto :{DEFAULT_PORTS.moto}, "
            f"{args.proxy} proxy :{DEFAULT_PORTS.shield}, OKX simulator :{DEFAULT_PORTS.okx} (behind the proxy)\n"
            f"CA copied into {args.build_dir}/*/; env vars: {ENV_VARS_FILE.relative_to(ROOT)}; Ctrl-C stops it",
            flush=True,
        )
        try:
            while True:
                time.sleep(1.0)
                print_reports(served.stack, sys.stdout)
                sys.stdout.flush()
        except KeyboardInterrupt:
            print("stopped", flush=True)
    return 0
