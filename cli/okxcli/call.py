"""`okx-shield call METHOD PATH`: one signed OKX call through Shield, printing the answer or the error in words."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from okxcore.aws.secretstore import fetch_secret_text
from okxcore.client import OkxClient
from okxcore.credentials import OkxKeySecret, parse_okx_key_secret, parse_shield_secret, read_secret_file
from okxcore.endpoints import Region
from okxcore.errors import InvalidInputError, KeyGoneError
from okxcore.regions import locate_key
from okxcore.transport import ShieldSession, build_session
from okxlocal.attached import attached, read_record, state_dir


def register(commands: Any) -> None:
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
    call.add_argument(
        "--real",
        action="store_true",
        help="real OKX through your Shield, secrets from this shell's AWS credentials, even while a local stack is up",
    )
    call.set_defaults(run=run)


API_PREFIX = "/api/v5/"


def run(args: argparse.Namespace) -> int:
    """On the stack `okx-shield up` keeps, while one is up and --real is not given: its secrets, its simulator and
    its CA unless named here. Otherwise as named (secrets from this shell's AWS, the key's OKX host)."""
    if not args.path.startswith(API_PREFIX):  # before anything is sent: a wrong path is input, not the network
        raise InvalidInputError(
            "okx-shield call",
            "PATH",
            f"must start with {API_PREFIX}",
            hint=f"Write the whole path with its leading slash, e.g. {API_PREFIX}public/time.",
        )
    record = None if args.real else read_record(state_dir())
    if record is None:
        return call(args)
    with attached(record, state_dir()):
        print(f"(the local stack `okx-shield up` keeps: pid {record.pid}; --real for OKX itself)", file=sys.stderr)
        args.base_url = args.base_url or os.environ["OKX_BASE_URL"]
        args.ca_bundle = args.ca_bundle or os.environ["OKX_CA_BUNDLE"]
        args.proxy_ca_bundle = args.proxy_ca_bundle or os.environ["SHIELD_CA_BUNDLE"]
        return call(args)


def call(args: argparse.Namespace) -> int:
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
    try:
        data = client.raw_call(args.method.upper(), args.path, params=params or None, body=body, auth=key is not None)
    except KeyGoneError as gone:
        if key is None or args.base_url:
            raise
        # 50119 may be the wrong region: ask the other regions' hosts, as the probe and the audit do.
        raise locate_key(gone, key.region, lambda region: _config_at(session, key, region)) from None
    print(json.dumps(data, indent=2))
    return 0


def _param(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise InvalidInputError("okx-shield call", "--param", "must be NAME=VALUE")
    return name, value


def _config_at(session: ShieldSession, key: OkxKeySecret, region: Region) -> object:
    return OkxClient(session, key=key.model_copy(update={"region": region})).account_config()
