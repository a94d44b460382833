"""`okx-shield keys rotate`: the dry run changes nothing anywhere; the command rotates on the local stack."""

from __future__ import annotations

import io

from okxlocal.cli import main
from okxlocal.cli_keys_rotate import show_plan


def test_a_dry_run_shows_the_plan_and_changes_nothing_at_okx_or_in_secrets_manager(rotation):
    keys_before = [k.model_dump() for k in rotation.sim.state.keys]
    stages_before = rotation.stages("bot-sub")
    out = io.StringIO()

    assert show_plan(rotation.secret("bot-sub"), out) == 0

    text = out.getvalue()
    assert "would create a key in sub-account desk-1 with perm read_only,trade" in text
    assert "127.0.0.2, 127.0.0.3, 203.0.113.9" in text
    assert [k.model_dump() for k in rotation.sim.state.keys] == keys_before
    assert not [r for r in rotation.sim.stats.requests if r.method == "POST"]
    assert rotation.stages("bot-sub") == stages_before
    assert rotation.record("bot-sub").status == "none"


def test_the_command_rotates_a_demo_key_on_the_local_stack_and_prints_each_step(capsys):
    assert main(["keys", "rotate", "--secret", "okx-shield/keys/expiring-bot"]) == 0

    out = capsys.readouterr().out
    for step in (
        "createSecret: created key okxs-",
        "testSecret: the new key authenticates",
        "finishSecret: AWSCURRENT",
    ):
        assert step in out
