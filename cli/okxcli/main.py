"""`okx-shield`: the operator's command line.

okx-shield call METHOD PATH   one signed OKX call through Shield, printing the answer or the error in words
okx-shield sim                the local OKX simulator, standalone (seed in, URL and CA path out)
okx-shield demo               the whole product end to end on the embedded local stack
okx-shield invoke FUNCTION    one Lambda handler in-process (local stack by default, or real AWS/OKX)
okx-shield keys ...           change OKX keys through the master key (bind-ips)
okx-shield serve              the local stack for Lambda containers (sam local invoke), until Ctrl-C
okx-shield lambda-image       build the stand-in Lambda Python 3.11 image from Debian packages
"""

from __future__ import annotations

import argparse
import sys

from okxcli import call, containers, invoke, keys, orders, sim
from okxcli.demo import run as demo
from okxcore.errors import InvalidInputError, OkxShieldError

EXIT_INPUT = 2
EXIT_FAILED = 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="okx-shield", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for command in (call, sim, demo, invoke, keys, orders, containers):  # each command registers itself and its `run`
        command.register(commands)

    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except InvalidInputError as error:
        print(f"error: {error.describe()}", file=sys.stderr)
        return EXIT_INPUT
    except OkxShieldError as error:
        print(f"error: {error.describe()}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as error:  # a file named on the command line; its name and the problem, no traceback
        print(f"error: {error.filename or 'a file'}: {error.strerror or error.__class__.__name__}", file=sys.stderr)
        return EXIT_INPUT


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
