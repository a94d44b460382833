"""`okx-shield keys bind-ips`: for real (--real, configured by the environment, here the local stack's), and on
the embedded local stack. The simulator's key and request log are the proof of what changed."""

from __future__ import annotations

from decimal import Decimal

import boto3
import pytest

from okxcli.main import main
from okxlocal.seeds import new_key, seed_with
from okxlocal.sim import SimAccount
from okxlocal.stack import KEY_SECRET_PREFIX, TABLE_NAME

P = KEY_SECRET_PREFIX
BOTH = ["127.0.0.2", "127.0.0.3"]
USER_IP = "198.51.100.7"
TWENTY = [f"203.0.113.{n}" for n in range(1, 21)]
MODIFY = "/api/v5/users/subaccount/modify-apikey"


def start(local_stack):
    keys = {
        "master": new_key("9000", "master", ips=BOTH),
        "half": new_key("9001", "half", ips=[USER_IP, "127.0.0.2"]),
        "full": new_key("9001", "full", ips=TWENTY),
        "own": new_key("9000", "own", ips=["127.0.0.2"]),
    }
    accounts = [
        SimAccount(uid="9000", label="master", balances={"USDT": Decimal(1)}),
        SimAccount(uid="9001", label="desk", main_uid="9000", sub_acct="desk", balances={"USDT": Decimal(1)}),
    ]
    return local_stack(seed_with(list(keys.values()), accounts)), keys


def bind(label: str, *extra: str) -> int:
    return main(["keys", "bind-ips", "--secret", P + label, "--master-secret", P + "master", "--real", *extra])


def modifies(stack) -> int:
    return sum(1 for r in stack.sim.stats.requests if r.path == MODIFY)


def test_bind_ips_plans_applies_once_and_refuses_what_it_cannot_do(local_stack, capsys):
    stack, keys = start(local_stack)

    # Plan: prints the change, changes nothing
    assert bind("half") == 0
    printed = capsys.readouterr().out
    assert "would change" in printed
    assert f"after:  {USER_IP}, 127.0.0.2, 127.0.0.3" in printed
    assert stack.sim.key(keys["half"].api_key).ips == [USER_IP, "127.0.0.2"]
    assert modifies(stack) == 0

    # Apply: both Shield IPs, the user's IP kept, recorded; a second apply is a no-op
    assert bind("half", "--apply") == 0
    assert "applied" in capsys.readouterr().out
    assert stack.sim.key(keys["half"].api_key).ips == [USER_IP, "127.0.0.2", "127.0.0.3"]
    assert bind("half", "--apply") == 0
    assert "already bound" in capsys.readouterr().out
    assert modifies(stack) == 1
    items = boto3.client("dynamodb").scan(TableName=TABLE_NAME)["Items"]
    [record] = [i for i in items if i["id"]["S"].startswith("keyrepair#")]
    assert record["by"]["S"] == "okx-shield keys bind-ips"

    # The master account's own key: the manual steps, exit 3
    assert bind("own", "--apply") == 3
    assert "master account's own key" in capsys.readouterr().out

    # A 20-IP key is not overfilled; naming two IPs to remove makes room, and only those two go
    assert bind("full", "--apply") == 3
    assert "20-IP limit" in capsys.readouterr().out
    assert stack.sim.key(keys["full"].api_key).ips == TWENTY
    assert bind("full", "--apply", "--remove-ip", TWENTY[0], "--remove-ip", TWENTY[1]) == 0
    assert stack.sim.key(keys["full"].api_key).ips == [*TWENTY[2:], *BOTH]
    assert modifies(stack) == 2

    # Only the proxy's IP reached OKX; no secret was printed
    assert {r.peer_ip for r in stack.sim.stats.requests} == {"127.0.0.2"}
    printed = capsys.readouterr()
    for key in keys.values():
        for credential in (key.api_key, key.secret, key.passphrase):
            assert credential not in printed.out + printed.err


@pytest.mark.integration  # the command starts its own local stack
def test_bind_ips_runs_on_the_embedded_local_stack(capsys):
    assert main(["keys", "bind-ips", "--secret", P + "half-bound-bot"]) == 0
    printed = capsys.readouterr()
    assert "would change" in printed.out
    assert "after:  127.0.0.2, 127.0.0.3" in printed.out
    assert "local stack" in printed.err


def test_a_write_refused_by_okx_rate_limit_is_tried_again_in_the_next_second(local_stack):
    from handlers.wiring import Wiring
    from okxcore.keys.repair.binding import BindingRepairer, Outcome, SubKeyRef

    stack, keys = start(local_stack)
    wiring = Wiring.from_environ()
    master = wiring.client(wiring.load_key(P + "master"), record_use=False)
    repairer = BindingRepairer(master, tuple(BOTH), "apply", actor="test")
    # Given another writer used this user's modify-apikey second (the same list again: no change)
    master.modify_subaccount_api_key("desk", keys["full"].api_key, ips=TWENTY)
    # When the repair writes right after it
    item = repairer.repair_one(SubKeyRef(P + "half", "half", "desk", keys["half"].api_key))
    # Then OKX refused the first write (50011), and the second, a second later, went through
    codes = [r.code for r in stack.sim.stats.requests if r.path == MODIFY]
    assert codes == ["0", "50011", "0"]
    assert item.outcome is Outcome.APPLIED
    assert stack.sim.key(keys["half"].api_key).ips == [USER_IP, "127.0.0.2", "127.0.0.3"]


@pytest.mark.parametrize("typo", ["203.0.113.09", "not-an-ip", "", "198.51.100.7,127.0.0.3"])
def test_a_remove_ip_that_is_not_an_ip_is_exit_2_naming_the_option_and_nothing_is_applied(local_stack, capsys, typo):
    stack, keys = start(local_stack)

    with pytest.raises(SystemExit) as exited:
        bind("half", "--apply", "--remove-ip", typo)

    assert exited.value.code == 2
    assert "--remove-ip" in capsys.readouterr().err
    assert stack.sim.key(keys["half"].api_key).ips == [USER_IP, "127.0.0.2"]
    assert modifies(stack) == 0


@pytest.mark.parametrize("absent", [f"{USER_IP}/32", "198.51.100.8"])
def test_a_remove_ip_the_key_does_not_have_is_an_error_naming_it_and_nothing_is_applied(local_stack, capsys, absent):
    stack, keys = start(local_stack)

    code = bind("half", "--apply", "--remove-ip", absent)

    printed = capsys.readouterr().out
    assert code == 3
    assert absent in printed and "nothing was changed" in printed
    assert "removed" not in printed
    assert stack.sim.key(keys["half"].api_key).ips == [USER_IP, "127.0.0.2"]  # the Shield IP was not added either
    assert modifies(stack) == 0


def test_a_removed_ip_is_reported_removed_only_as_the_re_read_shows_it(local_stack, capsys):
    stack, keys = start(local_stack)

    assert bind("half", "--apply", "--remove-ip", USER_IP) == 0

    printed = capsys.readouterr().out
    assert stack.sim.key(keys["half"].api_key).ips == ["127.0.0.2", "127.0.0.3"]
    assert f"removed {USER_IP} as asked" in printed and "after:  127.0.0.2, 127.0.0.3" in printed


@pytest.mark.parametrize("bad", ["", "my plan", "-x", "a" * 65, "plan/1"])
def test_orders_plan_takes_only_a_valid_plan_id(capsys, bad):
    with pytest.raises(SystemExit) as exited:
        main(["orders", "--key-secret", P + "half", f"--plan={bad}"])

    assert exited.value.code == 2
    assert "--plan" in capsys.readouterr().err
