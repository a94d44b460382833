"""IP-binding repair when someone else edits the key's IP list at the same time (issue 18, item 7).

OKX's modify-apikey replaces the whole list. The simulator's request hooks play the other writer (a user in OKX's
web UI): they change the key's IPs at an exact moment of the repair's requests. What the simulator holds
afterwards, and what the report claims, are the assertions.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from handlers.wiring import Wiring
from okxcore.keys.repair.binding import BindingRepairer, Outcome, SubKeyRef
from okxlocal.seeds import new_key, seed_with
from okxlocal.sim import SimAccount
from okxlocal.sim.errors import OkxError
from okxlocal.stack import KEY_SECRET_PREFIX

P = KEY_SECRET_PREFIX
SHIELD = ("127.0.0.2", "127.0.0.3")
USER_IP = "198.51.100.7"
ADDED_BY_USER = "198.51.100.99"
READ = "GET subaccount/apikey"
MODIFY = "POST subaccount/modify-apikey"
MODIFY_PATH = "/api/v5/users/subaccount/modify-apikey"


@pytest.fixture
def half_bound(local_stack):
    keys = {
        "master": new_key("9000", "master", ips=list(SHIELD)),
        "half": new_key("9001", "half", ips=[USER_IP, "127.0.0.2"]),
    }
    accounts = [
        SimAccount(uid="9000", label="master", balances={"USDT": Decimal(1)}),
        SimAccount(uid="9001", label="desk", main_uid="9000", sub_acct="desk", balances={"USDT": Decimal(1)}),
    ]
    stack = local_stack(seed_with(list(keys.values()), accounts))
    wiring = Wiring.from_environ()
    master = wiring.client(wiring.load_key(P + "master"), record_use=False)
    repairer = BindingRepairer(master, SHIELD, "apply", actor="test")
    target = keys["half"]
    return stack, repairer, SubKeyRef(P + "half", "half", "desk", target.api_key)


def of(ref):
    """Matches the repair's requests about this key (its reads name it in the query, its writes in the body)."""
    return lambda request: ref.api_key in request.raw_path or ref.api_key.encode() in request.body


def ips_at_okx(stack, ref):
    return list(stack.sim.key(ref.api_key).ips)


def user_edits(stack, ref, change):
    def action(_request):
        with stack.sim.exchange.lock:
            key = stack.sim.exchange.state.key(ref.api_key)
            key.ips = change(list(key.ips))

    return action


def test_an_ip_added_between_the_repairs_read_and_its_write_is_kept(half_bound):
    stack, repairer, ref = half_bound
    # Given a user who adds an IP in OKX's web UI right after the repair read the key's list
    stack.sim.faults.hook(READ, "after", user_edits(stack, ref, lambda ips: [*ips, ADDED_BY_USER]), matches=of(ref))

    item = repairer.repair_one(ref)

    # Then the write was based on a read made after that: the user's IP is still bound, with both Shield IPs
    assert ips_at_okx(stack, ref) == [USER_IP, "127.0.0.2", ADDED_BY_USER, "127.0.0.3"]
    assert item.outcome is Outcome.APPLIED
    assert f"kept {USER_IP}, 127.0.0.2, {ADDED_BY_USER}" in item.message
    assert "planned again" in item.message


def test_after_a_50011_the_resend_is_based_on_a_fresh_read(half_bound):
    stack, repairer, ref = half_bound

    # Given OKX refuses the first write (another writer used the second) while the user adds an IP
    def refuse_and_edit(request):
        user_edits(stack, ref, lambda ips: [*ips, ADDED_BY_USER])(request)
        raise OkxError("50011")

    stack.sim.faults.hook(MODIFY, "before", refuse_and_edit, matches=of(ref))

    item = repairer.repair_one(ref)

    codes = [r.code for r in stack.sim.stats.requests if r.path == MODIFY_PATH]
    assert codes == ["50011", "0"]
    assert ADDED_BY_USER in ips_at_okx(stack, ref), "the resend wrote the list read before the 50011"
    assert set(SHIELD) <= set(ips_at_okx(stack, ref))
    assert item.outcome is Outcome.APPLIED


def test_a_change_right_after_the_write_is_read_back_and_planned_again(half_bound):
    stack, repairer, ref = half_bound
    # Given someone removes a Shield IP right after the repair's write
    stack.sim.faults.hook(
        MODIFY, "after", user_edits(stack, ref, lambda ips: [ip for ip in ips if ip != "127.0.0.3"]), matches=of(ref)
    )

    item = repairer.repair_one(ref)

    # Then the repair saw it in its re-read and wrote again from that list
    assert ips_at_okx(stack, ref) == [USER_IP, "127.0.0.2", "127.0.0.3"]
    assert sum(1 for r in stack.sim.stats.requests if r.path == MODIFY_PATH) == 2
    assert item.outcome is Outcome.APPLIED


def test_a_key_that_keeps_changing_is_reported_as_a_conflict_never_as_kept(half_bound):
    stack, repairer, ref = half_bound
    stack.sim.faults.hook(
        MODIFY,
        "after",
        user_edits(stack, ref, lambda ips: [ip for ip in ips if ip != "127.0.0.3"]),
        matches=of(ref),
        times=10,
    )

    item = repairer.repair_one(ref)

    assert item.outcome is Outcome.UNCONFIRMED
    assert "kept changing" in item.message and "kept " + USER_IP not in item.message
    assert item.after == tuple(ips_at_okx(stack, ref))  # what the report shows is what OKX holds


def test_an_ip_removed_by_someone_else_during_the_repair_is_named_not_claimed_kept(half_bound):
    stack, repairer, ref = half_bound
    stack.sim.faults.hook(
        MODIFY, "after", user_edits(stack, ref, lambda ips: [ip for ip in ips if ip != USER_IP]), matches=of(ref)
    )

    item = repairer.repair_one(ref)

    assert USER_IP not in ips_at_okx(stack, ref)
    assert item.outcome is Outcome.UNCONFIRMED
    assert f"{USER_IP} no longer is" in item.message
    assert "kept every other IP" not in item.message
