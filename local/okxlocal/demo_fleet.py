"""The demo fleet: the seed that `okx-shield demo` shows, and that the CLI's commands run on by default.

One key of each case a user meets (healthy, about to be deleted, withdraw, deleted, half bound), on a local
stack whose master key is stored apart from the bots' keys, as a deployment keeps it.
"""

from __future__ import annotations

import contextlib
from decimal import Decimal

from okxlocal.proxies import ProxyKind
from okxlocal.seeds import new_key, seed_with
from okxlocal.sim import SimAccount, SimSeed
from okxlocal.stack import EGRESS_IP, SECOND_SHIELD_IP, LocalStack, running_stack

# The desk's main account key: it manages the sub-account keys (IP-binding repair). Bound to both Shield IPs, with
# trade permission, as OKX requires for modify-apikey; new, so it is not yet dormant.
# Kept outside the key prefix, as in a deployment: the trade function cannot read it.
DEMO_MASTER_SECRET = "okx-shield/master"
MASTER_UID = "1000"
SUB_ACCOUNTS = {"1003": "expiringdesk", "1006": "halfbounddesk"}  # uid -> sub-account name under the master


def demo_stack(proxy_kind: ProxyKind = ProxyKind.HTTPS) -> contextlib.AbstractContextManager[LocalStack]:
    """The local stack with the demo fleet, its master key in DEMO_MASTER_SECRET (MASTER_KEY_SECRET_NAME)."""
    return running_stack(demo_seed(), proxy_kind=proxy_kind, master_key=("master", DEMO_MASTER_SECRET))


def demo_seed() -> SimSeed:
    """A fleet with one of each case a user meets: healthy, about to be deleted, withdraw, deleted, half bound.

    The healthy keys carry the names the files in events/ use, so `okx-shield invoke` runs any of them. The
    expiring and the half-bound keys live on sub-accounts of the master, which can rebind them.
    """
    both = [EGRESS_IP, SECOND_SHIELD_IP]
    keys = [
        new_key(MASTER_UID, "master", ips=both, created_days_ago=2),
        new_key("1001", "bot-main", ips=both, created_days_ago=30),
        new_key("1002", "bot-dca", ips=both, created_days_ago=20),
        new_key("1007", "bot-demo", ips=[], created_days_ago=60, demo=True),  # OKX never deletes demo keys
        new_key("1003", "expiring-bot", ips=[], created_days_ago=13),
        new_key("1004", "withdraw-key", perm={"read_only", "trade", "withdraw"}, ips=both, created_days_ago=45),
        new_key("1005", "deleted-bot", ips=[], created_days_ago=40, deleted=True),
        new_key("1006", "half-bound-bot", ips=[EGRESS_IP], created_days_ago=5),
    ]
    funds = {"USDT": Decimal("5000"), "BTC": Decimal("0.05"), "ETH": Decimal("1")}
    accounts = [
        SimAccount(
            uid=key.uid,
            label=f"demo account {key.uid}",
            balances=dict(funds),
            main_uid=MASTER_UID if key.uid in SUB_ACCOUNTS else None,
            sub_acct=SUB_ACCOUNTS.get(key.uid),
        )
        for key in keys
    ]
    return seed_with(keys, accounts)
