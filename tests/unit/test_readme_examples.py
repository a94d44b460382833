"""README's okx-shield commands run locally as written: each parses with the CLI's own parser, names only secrets
of the demo fleet (the local stack's) and files that exist."""

from __future__ import annotations

import re
import shlex

import pytest

from okxcli.main import build_parser
from okxlocal.demo_fleet import DEMO_MASTER_SECRET, demo_seed
from okxlocal.stack import KEY_SECRET_PREFIX, SHIELD_SECRET_NAME
from okxlocal.template import ROOT

README = (ROOT / "README.md").read_text()
PROGRAM = ".venv/bin/okx-shield "


def readme_commands() -> list[str]:
    """Each `.venv/bin/okx-shield ...` of a code block (continuation lines joined) or of an inline code span."""
    commands: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", README, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        commands += [line.split(" # ")[0].strip() for line in joined.splitlines() if line.startswith(PROGRAM)]
    commands += [span for span in re.findall(r"`([^`]+)`", README.replace("\n", " ")) if span.startswith(PROGRAM)]
    return commands


COMMANDS = readme_commands()


def test_readme_has_the_commands_a_user_runs():
    assert len(COMMANDS) >= 12
    assert any(" plans deploy " in c for c in COMMANDS) and any(" invoke trade " in c for c in COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_each_readme_command_parses_and_names_what_exists_locally(command):
    words = shlex.split(re.sub(r"\[[^\]]*\]", "", command))[1:]  # [--optional ...] is a usage summary
    build_parser().parse_args(words)  # SystemExit on an unknown command, option or choice
    known = {key.label for key in demo_seed().keys} - {"master"}
    for name in re.findall(r"okx-shield/keys/([A-Za-z0-9._-]+)", command):
        assert name in known, f"{name} is not a key of the demo fleet: {command}"
    for secret in re.findall(r"okx-shield/(?!keys/)[A-Za-z0-9._/-]+", command):
        assert secret in {SHIELD_SECRET_NAME, DEMO_MASTER_SECRET}, command
    for path in re.findall(r"\b((?:events|plans)/[A-Za-z0-9._-]+\.json)", command):
        assert (ROOT / path).is_file(), f"{path} does not exist: {command}"


def test_every_key_secret_readme_names_is_in_the_demo_fleet():
    known = {key.label for key in demo_seed().keys}
    named = set(re.findall(re.escape(KEY_SECRET_PREFIX) + r"([A-Za-z0-9._-]+)", README))
    assert named <= known, named - known
