"""`okx-shield`: the operator's command line.

okx-shield call METHOD PATH   one signed OKX call through Shield, printing the answer or the error in words
okx-shield sim                the local OKX simulator, standalone (seed in, URL and CA path out)
okx-shield demo               the whole product end to end on the embedded local stack
okx-shield invoke FUNCTION    one Lambda handler in-process (local stack by default, or real AWS/OKX)
okx-shield keys ...           change OKX keys through the master key (bind-ips)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from okxcore.errors import InvalidInputError, OkxShieldError
from okxlocal import cli_keys, cli_orders

EXIT_INPUT = 2
EXIT_FAILED = 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="okx-shield", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)

    call = commands.add_parser("call", help="one signed OKX call through Shield")
    call.add_argument("method", choices=["GET", "POST", "get", "post"])
    call.add_argument("path", help="e.g. /api/v5/account/config")
    call.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="query parameter (GET)")
    call.add_argument("--body", help="JSON body (POST)")
    keys = call.add_mutually_exclusive_group()
    keys.add_argument("--key-file", type=Path, help="OKX key secret as a JSON file")
    keys.add_argument("--key-secret", help="OKX key secret name/ARN in Secrets Manager (env OKX_KEY_SECRET)")
    keys.add_argument("--public", action="store_true", help="unsigned call (public endpoints)")
    shield = call.add_mutually_exclusive_group()
    shield.add_argument("--shield-file", type=Path, help="Shield secret as a JSON file")
    shield.add_argument("--shield-secret", help="Shield secret name/ARN in Secrets Manager (env SHIELD_SECRET_NAME)")
    call.add_argument("--base-url", help="OKX base URL override (e.g. the simulator's); default: the key's region host")
    call.add_argument("--ca-bundle", help="CA bundle trusted for OKX's certificate (e.g. the simulator's CA)")
    call.add_argument("--proxy-ca-bundle", help="CA bundle trusted for the proxy's certificate (TLS forms)")

    sim = commands.add_parser("sim", help="run the local OKX simulator standalone")
    sim.add_argument("--seed", type=Path, help="seed JSON (default: the bundled example)")
    sim.add_argument("--out", type=Path, default=Path("okx-sim"), help="folder for the CA and certificate")
    sim.add_argument("--port", type=int, default=0)

    demo = commands.add_parser("demo", help="run the Lambdas end to end on the embedded local stack")
    demo.add_argument(
        "--proxy",
        choices=[k.value for k in _proxy_kinds()],
        default="https",
        help="which Shield form the local proxy uses (default: https, Shield's dashboard URL)",
    )

    invoke = commands.add_parser("invoke", help="run one Lambda handler in-process (Docker-free sam local invoke)")
    invoke.add_argument("function", choices=["probe", "audit", "trade", "rotate"])
    invoke.add_argument("--event", type=Path, required=True, help="event JSON, e.g. events/probe.json")
    invoke.add_argument(
        "--real",
        action="store_true",
        help="use real AWS and OKX with this shell's AWS credentials and environment variables "
        "(SHIELD_SECRET_NAME, REPORT_TOPIC_ARN, STATE_TABLE_NAME, ...) instead of the local stack",
    )
    invoke.add_argument("--proxy", choices=[k.value for k in _proxy_kinds()], default="https")
    invoke.add_argument("--shards", type=int, help="audit only: run the fan-out state machine with about N shards")

    cli_keys.register(commands)
    cli_orders.register(commands)

    args = parser.parse_args(argv)
    try:
        if callable(getattr(args, "run", None)):  # subcommands registered from their own modules
            return int(args.run(args))
        if args.command == "call":
            return _call(args)
        if args.command == "sim":
            return _sim(args)
        if args.command == "demo":
            from okxlocal.demo import run_demo
            from okxlocal.proxies import ProxyKind

            return run_demo(proxy_kind=ProxyKind(args.proxy))
        if args.command == "invoke":
            return _invoke(args)
    except InvalidInputError as error:
        print(f"error: {error.describe()}", file=sys.stderr)
        return EXIT_INPUT
    except OkxShieldError as error:
        print(f"error: {error.describe()}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as error:  # a file named on the command line; its name and the problem, no traceback
        print(f"error: {error.filename or 'a file'}: {error.strerror or error.__class__.__name__}", file=sys.stderr)
        return EXIT_INPUT
    parser.error(f"unknown command {args.command}")
    return EXIT_INPUT


def _call(args: argparse.Namespace) -> int:
    from okxcore.client import OkxClient
    from okxcore.credentials import parse_okx_key_secret, parse_shield_secret
    from okxcore.secretstore import fetch_secret_text, read_secret_file
    from okxcore.transport import build_session

    shield_name = args.shield_secret or os.environ.get("SHIELD_SECRET_NAME")
    if args.shield_file:
        _secret, endpoint = parse_shield_secret(str(args.shield_file), read_secret_file(args.shield_file))
    elif shield_name:
        _secret, endpoint = parse_shield_secret(shield_name, fetch_secret_text(shield_name))
    else:
        raise InvalidInputError(
            "okx-shield call",
            "--shield-file/--shield-secret",
            "is missing",
            hint="Every OKX call goes through Shield: name the Shield secret.",
        )
    key = None
    if not args.public:
        key_name = args.key_secret or os.environ.get("OKX_KEY_SECRET")
        if args.key_file:
            key = parse_okx_key_secret(str(args.key_file), read_secret_file(args.key_file))
        elif key_name:
            key = parse_okx_key_secret(key_name, fetch_secret_text(key_name))
        else:
            raise InvalidInputError(
                "okx-shield call",
                "--key-file/--key-secret",
                "is missing",
                hint="Name the OKX key secret, or pass --public for a public endpoint.",
            )
    params = dict(_param(text) for text in args.param)
    body: Any = None
    if args.body:
        try:
            body = json.loads(args.body)
        except ValueError:
            raise InvalidInputError("okx-shield call", "--body", "is not valid JSON") from None
    session = build_session(endpoint, ca_bundle=args.ca_bundle, proxy_ca_bundle=args.proxy_ca_bundle)
    # The operator named --base-url explicitly (the simulator): that is the local setting for this one call.
    client = OkxClient(session, key=key, base_url=args.base_url, allow_other_hosts=True)
    data = client.raw_call(args.method.upper(), args.path, params=params or None, body=body, auth=key is not None)
    print(json.dumps(data, indent=2))
    return 0


def _param(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise InvalidInputError("okx-shield call", "--param", "must be NAME=VALUE")
    return name, value


def _proxy_kinds() -> list[Any]:
    from okxlocal.proxies import ProxyKind

    return list(ProxyKind)


def _invoke(args: argparse.Namespace) -> int:
    """Like `sam local invoke`: the function's logs (and here its SNS reports) on stderr, its result on stdout."""
    import contextlib

    from handlers.observability import logger
    from okxlocal.demo import print_reports
    from okxlocal.demo_fleet import demo_stack
    from okxlocal.proxies import ProxyKind
    from okxlocal.runner import invoke, load_event

    if args.shards is not None and (args.function != "audit" or args.real):
        raise InvalidInputError("okx-shield invoke", "--shards", "applies to the audit on the local stack only")
    try:
        event = load_event(args.event) if not args.real else json.loads(args.event.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInputError("okx-shield invoke", "--event", f"cannot be read as JSON ({exc})") from None
    with contextlib.ExitStack() as scope:
        previous_stream = logger.registered_handler.setStream(sys.stderr)
        scope.callback(logger.registered_handler.setStream, previous_stream)
        scope.enter_context(contextlib.redirect_stdout(sys.stderr))  # EMF metrics are printed
        stack = None if args.real else scope.enter_context(demo_stack(ProxyKind(args.proxy)))
        try:
            if args.function == "audit" and stack is not None:  # the fan-out runs in-process (cli_fanout)
                from okxlocal.cli_fanout import follow_fan_out, invoke_sharded

                sharded = args.shards is not None
                result = invoke_sharded(event, args.shards) if sharded else follow_fan_out(invoke("audit", event))
            else:
                result = invoke(args.function, event)
        finally:
            if stack is not None:
                print_reports(stack, sys.stderr)
    print(json.dumps(result, indent=2, default=str))
    return 0


def _sim(args: argparse.Namespace) -> int:
    from okxlocal.sim.standalone import EXAMPLE_SEED, run_standalone

    run_standalone(args.seed or EXAMPLE_SEED, args.out, args.port)
    return 0


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
