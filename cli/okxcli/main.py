"""`okx-shield`: the operator's command line.

okx-shield call METHOD PATH   one signed OKX call through Shield, printing the answer or the error in words
okx-shield sim                the local OKX simulator, standalone (seed in, URL and CA path out)
okx-shield demo               the whole product end to end on the embedded local stack
okx-shield invoke FUNCTION    one Lambda handler in-process (local stack by default, or real AWS/OKX)
okx-shield keys ...           change OKX keys through the master key (bind-ips, rotate)
okx-shield orders             a plan's recorded limit orders and their state at OKX
okx-shield serve              the local stack for Lambda containers (sam local invoke), until Ctrl-C
okx-shield lambda-image       build the stand-in Lambda Python 3.11 image from Debian packages
okx-shield plans ...          trade plans in plans/*.json: check them, deploy them as schedules
okx-shield up / down          a local stack that remembers: the commands above run on it while it is up

Every command ends with one line on stderr when it fails, never a traceback, and one of these exit codes.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from types import FrameType

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from okxcli import call, containers, invoke, keys, orders, plans, sim, up
from okxcli.demo import run as demo
from okxcli.exits import (
    EXIT_CODES_HELP,
    EXIT_FAILED,
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    EXIT_UNEXPECTED,
)
from okxcore.errors import InvalidInputError, OkxShieldError

# Set (to anything) to see the traceback of an unexpected error instead of its one line.
DEBUG_SETTING = "OKX_SHIELD_DEBUG"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="okx-shield",
        description=__doc__,
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for command in (call, sim, demo, invoke, keys, orders, plans, up, containers):  # each registers itself and `run`
        command.register(commands)
    return parser



def _interrupted_once(signum: int, frame: FrameType | None) -> None:
    """The first Ctrl-C stops the command; any further one is ignored, so that it cannot cut short the stopping of
    what the command started (proxy programs, the stack) nor turn the exit into a traceback or a death by SIGINT."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def main(argv: list[str] | None = None, *, as_program: bool = False) -> int:
    """Run one command. In-process (tests, `as_program` False) Ctrl-C's handling is put back as it was afterwards;
    as the program, a Ctrl-C after the first stays ignored until the process has ended."""
    args = build_parser().parse_args(argv)  # a usage error exits 2 with argparse's one line
    own_handler = (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler  # not where Ctrl-C is ignored (background)
    )
    if own_handler:
        signal.signal(signal.SIGINT, _interrupted_once)
    try:
        return _run(args)
    finally:
        if own_handler and not as_program:
            signal.signal(signal.SIGINT, signal.default_int_handler)


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        fail(f"okx-shield {args.command}: interrupted; everything it started was stopped")
        return EXIT_INTERRUPTED
    except InvalidInputError as error:
        fail(error.describe())
        return EXIT_INPUT
    except OkxShieldError as error:
        fail(error.describe())
        return EXIT_FAILED
    except (NoRegionError, NoCredentialsError) as error:
        fail(_aws_setup(error))
        return EXIT_INPUT
    except (ClientError, BotoCoreError) as error:  # botocore names the operation and the error code, never values
        fail(
            f"AWS refused or could not take a call: {str(error)[:300]}. Fix: check the names, the region and the "
            "permissions of this shell's AWS credentials."
        )
        return EXIT_FAILED
    except OSError as error:  # a file or port named on the command line: its name and the problem
        where = error.filename or "okx-shield " + args.command
        fail(f"{where}: {error.strerror or error.__class__.__name__}")
        return EXIT_INPUT
    except Exception as error:
        if os.environ.get(DEBUG_SETTING):
            raise
        fail(
            f"okx-shield {args.command}: unexpected {error.__class__.__name__} (a bug). Fix: rerun with "
            f"{DEBUG_SETTING}=1 for the traceback, and report it."
        )
        return EXIT_UNEXPECTED


def fail(line: str) -> None:
    print(f"error: {line}", file=sys.stderr)


def _aws_setup(error: Exception) -> str:
    if isinstance(error, NoRegionError):
        return (
            "no AWS region is configured for this shell. Fix: set AWS_REGION (or AWS_DEFAULT_REGION), or a region "
            "in ~/.aws/config; without --real, commands use the local stack and need none."
        )
    return (
        "no AWS credentials were found for this shell. Fix: configure them (aws configure, AWS_PROFILE, or the "
        "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY variables)."
    )


def entry() -> None:
    sys.exit(main(as_program=True))


if __name__ == "__main__":
    entry()
