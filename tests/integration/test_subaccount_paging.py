"""A master with more sub-accounts than one page of users/subaccount/list: the audit and rotation's lookup see
every sub-account; the paging stops (incomplete, never looping) when OKX gives nothing new or at the page cap.
All through the real proxy to the simulator, which pages as OKX does; the requests are counted there."""

from __future__ import annotations

import pytest

from handlers.audit import handler
from handlers.rotation_wiring import WiredClients
from handlers.wiring import Wiring
from okxcore.credentials import parse_okx_key_secret
from okxcore.keys.rotation.model import RotationError, Step
from okxcore.keys.rotation.okx import locate
from okxlocal.seeds import new_key, seed_with
from okxlocal.sim import SimAccount, SimKey

BOTH = ["127.0.0.2", "127.0.0.3"]
MASTER_UID, MASTER_SECRET = "9600", "okx-shield/master"
CREATED_MS = 1_700_000_000_000
LIST = "/api/v5/users/subaccount/list"


def sub_accounts(count: int, *, one_ms: bool = False) -> list[SimAccount]:
    """desk000 (the oldest, uid 9601) .. desk<count-1>, a second apart unless all made in one millisecond."""
    return [
        SimAccount(
            uid=str(9601 + n),
            label=f"desk{n:03d}",
            main_uid=MASTER_UID,
            sub_acct=f"desk{n:03d}",
            created_ms=CREATED_MS + (0 if one_ms else n * 1000),
        )
        for n in range(count)
    ]


def stack_with(local_stack, subs: list[SimAccount], keys: list[SimKey]):
    master = new_key(MASTER_UID, "master", ips=BOTH)
    accounts = [SimAccount(uid=MASTER_UID, label="main"), *subs]
    return local_stack(
        seed_with([master, *keys], accounts=accounts),
        master_key=("master", MASTER_SECRET),
        skip_key_secrets=frozenset(k.label for k in keys),  # only the master's listing knows these keys
    )


def list_requests(stack) -> list[str]:
    return [r.path for r in stack.sim.stats.requests if r.path.startswith(LIST)]


def rotation_lookup(key: SimKey) -> str:
    """Rotation's first step for this key: which sub-account holds it, as the master lists them."""
    body = {"api_key": key.api_key, "api_secret": key.secret, "passphrase": key.passphrase}
    clients = WiredClients(Wiring.from_environ())
    _uid, keys = locate("okx-shield/keys/x", parse_okx_key_secret("x", body), Step.CREATE, clients, MASTER_SECRET)
    return keys.sub_acct


def test_the_audit_and_rotations_lookup_see_sub_accounts_past_the_first_page(local_stack, lambda_context):
    # Given a master with 101 sub-accounts, a key in the newest and an unbound, expiring one in the oldest
    newest = new_key("9701", "newest-bot", ips=BOTH)
    oldest = new_key("9601", "oldest-bot", created_days_ago=13)
    stack = stack_with(local_stack, sub_accounts(101), [newest, oldest])

    # When the audit lists the master's sub-account keys
    result = handler({"key_secret_prefix": "", "master_secret": MASTER_SECRET}, lambda_context)

    # Then OKX was asked for two pages, paced (no rate-limit answer), and every sub-account's keys were listed
    assert list_requests(stack) == [f"{LIST}?limit=100", f"{LIST}?limit=100&after={CREATED_MS + 1001}"]
    assert {r.code for r in stack.sim.stats.requests if r.path.startswith(LIST)} == {"0"}
    key_lists = {r.path for r in stack.sim.stats.requests if r.path.startswith("/api/v5/users/subaccount/apikey")}
    assert len(key_lists) == 101
    checks = {(f["resource"], f["check_id"], f["severity"]) for f in result["findings"]}
    assert ("subaccount:desk000/oldest-bot", "audit.ip_binding", "CRITICAL") in checks
    assert [f["message"] for f in result["findings"] if f["check_id"] == "audit.master"] == [
        "listed 2 key(s) in 101 sub-account(s)"
    ]

    # And rotation's lookup finds the oldest key's sub-account, paging the same way
    before = len(list_requests(stack))
    assert rotation_lookup(oldest) == "desk000"
    assert len(list_requests(stack)) - before == 2


def test_the_listing_stops_when_okx_gives_nothing_new_and_at_the_page_cap(local_stack):
    # Given 101 sub-accounts made in one millisecond: "earlier than" cannot page past them
    unlisted = new_key("9701", "unlisted-bot", ips=BOTH)  # desk100: OKX's 101st, never on a page
    stack = stack_with(local_stack, sub_accounts(101, one_ms=True), [unlisted])
    wiring = Wiring.from_environ()
    client = wiring.client(wiring.load_key(MASTER_SECRET), record_use=False)

    # When the master lists them, the second page repeats the first: the listing ends there, incomplete
    listing = client.subaccount_listing()
    assert (listing.pages, listing.complete, len(listing.accounts)) == (2, False, 100)
    assert "nothing new" in listing.stopped_early
    assert list_requests(stack) == [f"{LIST}?limit=100", f"{LIST}?limit=100&after={CREATED_MS + 1}"]

    # And the page cap ends a listing that could go on
    capped = client.subaccount_listing(max_pages=1)
    assert (capped.pages, capped.complete, len(capped.accounts)) == (1, False, 100)
    assert len(list_requests(stack)) == 3
    assert {r.code for r in stack.sim.stats.requests if r.path.startswith(LIST)} == {"0"}  # paced: no 50011

    # And rotation, not finding the key among those listed, says the listing stopped instead of "another master"
    with pytest.raises(RotationError) as caught:
        rotation_lookup(unlisted)
    assert "listing stopped after 100 sub-accounts" in caught.value.problem
    assert len(list_requests(stack)) == 5
