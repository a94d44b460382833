"""The okx-shield commands of README and of every docs/ page run locally as written: each parses with the CLI's own
parser, names only secrets of the demo fleet (the local stack's) and files that exist."""

from __future__ import annotations

import re
import shlex

import pytest

from okxcli.main import build_parser
from okxlocal.demo_fleet import DEMO_MASTER_SECRET, demo_seed
from okxlocal.stack import KEY_SECRET_PREFIX, SHIELD_SECRET_NAME
from okxlocal.template import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PROGRAM = ".venv/bin/okx-shield "


def page_commands(text: str) -> list[str]:
    """Each `.venv/bin/okx-shield ...` of a code block (continuation lines joined) or of an inline code span."""
    commands: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        lines = re.sub(r"\\\n\s*", " ", block).splitlines()
        commands += [line.split(" # ")[0].strip() for line in lines if line.strip().startswith(PROGRAM)]
    prose = re.sub(r"```.*?```", "", text, flags=re.S).replace("\n", " ")  # a fence's backticks pair with none
    commands += [span for span in re.findall(r"`([^`]+)`", prose) if span.startswith(PROGRAM)]
    return commands


COMMANDS = [
    (path.relative_to(ROOT).as_posix(), command) for path in PAGES for command in page_commands(path.read_text())
]


def test_the_pages_have_the_commands_a_user_runs():
    commands = [command for _, command in COMMANDS]
    assert len(commands) >= 25
    shown = {" ".join(command.split()[1:3]) for command in commands}
    for subcommand in ("plans deploy", "invoke trade", "up --background", "down", "keys rotate", "keys bind-ips"):
        assert subcommand in shown, f"no page shows okx-shield {subcommand}"
    assert any(page == "README.md" for page, _ in COMMANDS), "README shows no okx-shield command"


@pytest.mark.parametrize(("page", "command"), COMMANDS)
def test_each_command_parses_and_names_what_exists_locally(page, command):
    words = shlex.split(re.sub(r"\[[^\]]*\]", "", command))[1:]  # [--optional ...] is a usage summary
    build_parser().parse_args(words)  # SystemExit on an unknown command, option or choice
    known = {key.label for key in demo_seed().keys} - {"master"}
    for name in re.findall(r"okx-shield/keys/([A-Za-z0-9._-]+)", command):
        assert name in known, f"{name} is not a key of the demo fleet: {command}"
    for secret in re.findall(r"okx-shield/(?!keys/)[A-Za-z0-9._/-]+", command):
        assert secret in {SHIELD_SECRET_NAME, DEMO_MASTER_SECRET}, command
    for path in re.findall(r"\b((?:events|plans)/[A-Za-z0-9._-]+\.json)", command):
        assert (ROOT / path).is_file(), f"{path} does not exist: {command}"


@pytest.mark.parametrize("path", PAGES, ids=lambda path: path.name)
def test_every_key_secret_a_page_names_is_in_the_demo_fleet(path):
    known = {key.label for key in demo_seed().keys}
    named = set(re.findall(re.escape(KEY_SECRET_PREFIX) + r"([A-Za-z0-9._-]+)", path.read_text()))
    assert named <= known, named - known
