"""The snippets the docs show are what the code accepts: a reader who copies one gets no error from it.

Given the fenced blocks of README.md and docs/*.md; when a block is JSON, a secret written to a file in a shell
block, a trade plan file or Python; then it parses, the secret parsers take it, and the plan file is the one
that ships in plans/."""

from __future__ import annotations

import json
import re

import pytest
from doc_pages import ROOT, Block, blocks, page

from okxcore.credentials import parse_okx_key_secret, parse_shield_secret

_HEREDOC = re.compile(r"^cat > (?P<file>[\w.-]+) <<'END'\n(?P<body>.*?)^END$", flags=re.MULTILINE | re.DOTALL)


def _of(language: str) -> list[Block]:
    return [block for block in blocks() if block.language == language]


@pytest.mark.parametrize("block", _of("json"), ids=Block.where)
def test_every_json_block_parses(block: Block):
    json.loads(block.text)


@pytest.mark.parametrize("block", _of("python"), ids=Block.where)
def test_every_python_block_compiles(block: Block):
    compile(block.text, block.where(), "exec")


def _secret_examples() -> list[tuple[str, str]]:
    """(where, JSON) of every secret the docs show: secrets.md's blocks and the files deploy.md writes."""
    found = [(block.where(), block.text) for block in page("docs/secrets.md").blocks() if block.language == "json"]
    for block in page("docs/deploy.md").blocks():
        found += [(f"{block.where()} {m['file']}", m["body"]) for m in _HEREDOC.finditer(block.text)]
    return found


def test_the_secrets_the_docs_show_are_accepted_by_the_functions_parsers():
    examples = _secret_examples()
    assert len(examples) == 4, [where for where, _ in examples]  # a Shield secret and a key secret, twice
    for where, text in examples:
        value = json.loads(text)
        if "url" in value:
            _, endpoint = parse_shield_secret(where, value)
            assert endpoint.expected_ips, where
        else:
            parse_okx_key_secret(where, value)


def test_the_plan_file_trading_md_shows_is_the_one_that_ships():
    shown = [json.loads(block.text) for block in page("docs/trading.md").blocks() if block.language == "json"]
    plan_files = [value for value in shown if "schedule" in value]
    assert len(plan_files) == 1
    shipped = ROOT / "plans" / f"{plan_files[0]['plan']['plan_id']}.json"
    assert plan_files[0] == json.loads(shipped.read_text()), f"docs/trading.md's plan file differs from {shipped}"
