"""Tests of the local OKX simulator, talking to it directly over HTTPS with a tiny signing helper."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from requests.adapters import HTTPAdapter

from okxlocal.pki import LocalPKI
from okxlocal.sim import OkxSimulator, SimAccount, SimInstrument, SimKey, SimSeed, SimTicker, sign
from okxlocal.sim.errors import OkxError

pytestmark = pytest.mark.integration  # starts simulators of its own

MASTER_UID = "100000000000000001"
SUB_UID = "100000000000000002"
OTHER_MASTER_UID = "100000000000000003"


@dataclass(frozen=True)
class Cred:
    api_key: str
    secret: str
    passphrase: str


def cred(key: SimKey) -> Cred:
    return Cred(key.api_key, key.secret, key.passphrase)


KEYS = {
    # master, trade, bound to 127.0.0.1 (direct test calls)
    "master": SimKey(
        api_key="k-master",
        secret="SECRETMASTER000000000000000000AA",
        passphrase="pass-master",
        uid=MASTER_UID,
        label="master admin",
        perm={"read_only", "trade"},
        ips=["127.0.0.1"],
        created_ms=1_700_000_000_000,
    ),
    # master, read-only, not IP-bound
    "master_ro": SimKey(
        api_key="k-master-ro",
        secret="SECRETMASTERRO00000000000000000B",
        passphrase="pass-master-ro",
        uid=MASTER_UID,
        label="master ro",
        created_ms=1_700_000_000_000,
    ),
    # sub-account trade key, unbound
    "sub": SimKey(
        api_key="k-sub",
        secret="SECRETSUB0000000000000000000000C",
        passphrase="pass-sub",
        uid=SUB_UID,
        label="bot",
        perm={"read_only", "trade"},
        created_ms=1_700_000_100_000,
    ),
    # sub-account key allowed only from the proxy egress 127.0.0.2
    "sub_proxy": SimKey(
        api_key="k-sub-proxy",
        secret="SECRETSUBPROXY00000000000000000D",
        passphrase="pass-sub-proxy",
        uid=SUB_UID,
        label="bot via proxy",
        perm={"read_only", "trade"},
        ips=["127.0.0.2"],
        created_ms=1_700_000_200_000,
    ),
    "demo": SimKey(
        api_key="k-demo",
        secret="SECRETDEMO000000000000000000000E",
        passphrase="pass-demo",
        uid=SUB_UID,
        label="demo",
        perm={"read_only", "trade"},
        demo=True,
        created_ms=1_700_000_300_000,
    ),
    "deleted": SimKey(
        api_key="k-deleted",
        secret="SECRETDELETED0000000000000000000F",
        passphrase="pass-deleted",
        uid=SUB_UID,
        deleted=True,
        created_ms=1_700_000_400_000,
    ),
    "eea": SimKey(
        api_key="k-eea",
        secret="SECRETEEA0000000000000000000000G",
        passphrase="pass-eea",
        uid=SUB_UID,
        region="eea",
        created_ms=1_700_000_500_000,
    ),
    # a second master whose key is not IP-bound (for 50035)
    "other_master": SimKey(
        api_key="k-other-master",
        secret="SECRETOTHER00000000000000000000H",
        passphrase="pass-other",
        uid=OTHER_MASTER_UID,
        perm={"read_only", "trade"},
        created_ms=1_700_000_600_000,
    ),
}


def make_seed() -> SimSeed:
    return SimSeed(
        region="www",
        accounts=[
            SimAccount(
                uid=MASTER_UID,
                label="master",
                balances={"USDT": Decimal("10000"), "BTC": Decimal("1")},
                created_ms=1_690_000_000_000,
            ),
            SimAccount(
                uid=SUB_UID,
                label="bot sub",
                main_uid=MASTER_UID,
                sub_acct="bot01",
                balances={"USDT": Decimal("1000"), "BTC": Decimal("0.01")},
                created_ms=1_690_000_100_000,
            ),
            SimAccount(uid=OTHER_MASTER_UID, label="other", balances={"USDT": Decimal("5")}),
        ],
        keys=list(KEYS.values()),
        instruments=[
            SimInstrument(
                inst_id="BTC-USDT",
                base_ccy="BTC",
                quote_ccy="USDT",
                min_sz=Decimal("0.00001"),
                lot_sz=Decimal("0.00000001"),
                tick_sz=Decimal("0.1"),
            ),
            SimInstrument(
                inst_id="ETH-USDT",
                base_ccy="ETH",
                quote_ccy="USDT",
                min_sz=Decimal("0.001"),
                lot_sz=Decimal("0.001"),
                tick_sz=Decimal("0.01"),
            ),
        ],
        tickers={
            "BTC-USDT": SimTicker(last=Decimal("50000"), bid_px=Decimal("49999.9"), ask_px=Decimal("50000")),
            "ETH-USDT": SimTicker(last=Decimal("2000"), bid_px=Decimal("1999.99"), ask_px=Decimal("2000")),
        },
    )


def okx_ts(epoch_ms: int | None = None) -> str:
    dt = datetime.now(UTC) if epoch_ms is None else datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def signature(secret: str, ts: str, method: str, path: str, body: str = "") -> str:
    mac = hmac.new(secret.encode(), (ts + method + path + body).encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


class Client:
    """Minimal signing client used only to exercise the simulator."""

    def __init__(self, sim: OkxSimulator, ca: Path, source_ip: str | None = None) -> None:
        self.sim = sim
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = str(ca)
        if source_ip:
            self.session.mount("https://", _SourceAdapter(source_ip))

    def public(self, path: str, **kw: object) -> requests.Response:
        return self.session.get(self.sim.url + path, timeout=10, **kw)

    def call(
        self,
        c: Cred,
        method: str,
        path: str,
        body: object | None = None,
        *,
        ts: str | None = None,
        headers: dict[str, str] | None = None,
        tamper: bool = False,
        passphrase: str | None = None,
        omit: str | None = None,
    ) -> requests.Response:
        raw = "" if body is None else (body if isinstance(body, str) else json.dumps(body))
        ts = ts or okx_ts()
        sig = signature(c.secret, ts, method, path, raw)
        if tamper:
            sig = signature(c.secret + "x", ts, method, path, raw)
        h = {
            "OK-ACCESS-KEY": c.api_key,
            "OK-ACCESS-SIGN": sig,
            "OK-ACCESS-TIMESTAMP": ts,
            "OK-ACCESS-PASSPHRASE": c.passphrase if passphrase is None else passphrase,
            "Content-Type": "application/json",
        }
        if omit:
            del h[omit]
        h.update(headers or {})
        return self.session.request(
            method, self.sim.url + path, data=raw.encode() if raw else None, headers=h, timeout=10
        )


class _SourceAdapter(HTTPAdapter):
    def __init__(self, source_ip: str) -> None:
        self._source = (source_ip, 0)
        super().__init__()

    def init_poolmanager(self, *args: object, **kwargs: object) -> None:
        kwargs["source_address"] = self._source
        super().init_poolmanager(*args, **kwargs)


@pytest.fixture(scope="module")
def sim_pki(tmp_path_factory: pytest.TempPathFactory) -> LocalPKI:
    return LocalPKI(tmp_path_factory.mktemp("sim-pki"))


@pytest.fixture
def sim(sim_pki: LocalPKI):
    cert = sim_pki.server_cert("sim")
    with OkxSimulator(make_seed(), certfile=cert.cert_chain_path, keyfile=cert.key_path) as simulator:
        yield simulator


@pytest.fixture
def client(sim: OkxSimulator, sim_pki: LocalPKI):
    c = Client(sim, sim_pki.ca_path)
    yield c
    c.session.close()


@pytest.fixture
def proxy_client(sim: OkxSimulator, sim_pki: LocalPKI):
    """A client whose TCP connections come from 127.0.0.2 (like the proxies in the product tests)."""
    c = Client(sim, sim_pki.ca_path, source_ip="127.0.0.2")
    yield c
    c.session.close()


MASTER = cred(KEYS["master"])
MASTER_RO = cred(KEYS["master_ro"])
SUB = cred(KEYS["sub"])
SUB_PROXY = cred(KEYS["sub_proxy"])
DEMO = cred(KEYS["demo"])
DELETED = cred(KEYS["deleted"])
EEA = cred(KEYS["eea"])
OTHER_MASTER = cred(KEYS["other_master"])

ORDER = "/api/v5/trade/order"


def order_body(**kw: str) -> dict[str, str]:
    body = {"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit", "px": "40000", "sz": "0.001"}
    body.update(kw)
    return {k: v for k, v in body.items() if v is not None}


def place(client: Client, c=SUB, **kw: str) -> dict:
    resp = client.call(c, "POST", ORDER, order_body(**kw))
    assert resp.status_code == 200
    return resp.json()


def placed_ok(client: Client, c=SUB, **kw: str) -> dict:
    body = place(client, c, **kw)
    assert body["code"] == "0", body
    assert body["data"][0]["sCode"] == "0"
    return body["data"][0]


def rejected(client: Client, c=SUB, **kw: str) -> dict:
    body = place(client, c, **kw)
    assert body["code"] == "1", body
    assert body["msg"] == "All operations failed"
    item = body["data"][0]
    assert item["ordId"] == ""
    return item


def lookup(client: Client, query: str, c=SUB) -> requests.Response:
    return client.call(c, "GET", f"{ORDER}?{query}")


# ------------------------------------------------------------------------------------------ public


def test_public_time_ticker_instruments(client: Client, sim: OkxSimulator) -> None:
    before = int(time.time() * 1000)
    body = client.public("/api/v5/public/time").json()
    assert body["code"] == "0" and body["msg"] == ""
    assert before - 50 <= int(body["data"][0]["ts"]) <= int(time.time() * 1000) + 50

    t = client.public("/api/v5/market/ticker?instId=BTC-USDT").json()["data"][0]
    assert (t["instType"], t["instId"], t["last"], t["bidPx"], t["askPx"]) == (
        "SPOT",
        "BTC-USDT",
        "50000",
        "49999.9",
        "50000",
    )
    assert t["ts"].isdigit()

    unknown = client.public("/api/v5/market/ticker?instId=NOPE-USDT")
    assert (unknown.status_code, unknown.json()["code"], unknown.json()["data"]) == (200, "51001", [])
    missing = client.public("/api/v5/market/ticker")
    assert (missing.status_code, missing.json()["code"]) == (400, "50014")

    all_inst = client.public("/api/v5/public/instruments?instType=SPOT").json()["data"]
    assert {i["instId"] for i in all_inst} == {"BTC-USDT", "ETH-USDT"}
    one = client.public("/api/v5/public/instruments?instType=SPOT&instId=ETH-USDT").json()["data"]
    assert len(one) == 1
    eth = one[0]
    assert {k: eth[k] for k in ("instType", "baseCcy", "quoteCcy", "minSz", "lotSz", "tickSz", "state")} == {
        "instType": "SPOT",
        "baseCcy": "ETH",
        "quoteCcy": "USDT",
        "minSz": "0.001",
        "lotSz": "0.001",
        "tickSz": "0.01",
        "state": "live",
    }


def test_unknown_path_wrong_method_and_bad_json(client: Client) -> None:
    r = client.public("/api/v5/nothing/here")
    assert r.status_code == 404 and r.json()["code"] == "50115"
    r = client.session.delete(client.sim.url + "/api/v5/public/time", timeout=5)
    assert r.status_code == 405 and r.json()["code"] == "50115"
    r = client.call(SUB, "POST", ORDER, "{not json")
    assert r.status_code == 400 and r.json()["code"] == "50002"
    r = client.call(SUB, "POST", ORDER, None)
    assert r.status_code == 400 and r.json()["code"] == "50000"
    assert client.sim.orders() == []


# ------------------------------------------------------------------------------------------ signing


def test_signature_helper_matches_docs_vector() -> None:
    ts, path = "2020-12-08T09:08:57.715Z", "/api/v5/account/balance?ccy=BTC"
    secret = "22582BD0CFF14C41EDBF1AB98506286D"
    expected = signature(secret, ts, "GET", path)
    assert sign(secret, ts, "GET", path) == expected
    assert sign(secret, ts, "get", path, b"") == expected
    assert sign(secret, ts, "GET", path + "X") != expected


def test_signed_get_with_query_and_post_with_body(client: Client, sim: OkxSimulator) -> None:
    r = client.call(SUB, "GET", "/api/v5/account/balance?ccy=BTC,USDT")
    assert r.status_code == 200, r.text
    details = r.json()["data"][0]["details"]
    assert sorted(d["ccy"] for d in details) == ["BTC", "USDT"]

    body = json.dumps(order_body(clOrdId="signedpost1"), separators=(",", ":"))
    r = client.call(SUB, "POST", ORDER, body)
    assert r.json()["code"] == "0", r.text
    assert sim.orders(SUB_UID)[0]["clOrdId"] == "signedpost1"

    cfg = client.call(MASTER, "GET", "/api/v5/account/config").json()["data"][0]
    assert cfg["uid"] == cfg["mainUid"] == MASTER_UID
    assert cfg["perm"] == "read_only,trade"
    assert cfg["ip"] == "127.0.0.1"
    assert cfg["label"] == "master admin"
    assert (cfg["acctLv"], cfg["posMode"]) == ("1", "net_mode")
    sub_cfg = client.call(SUB, "GET", "/api/v5/account/config").json()["data"][0]
    assert (sub_cfg["uid"], sub_cfg["mainUid"], sub_cfg["ip"]) == (SUB_UID, MASTER_UID, "")
    ro = client.call(MASTER_RO, "GET", "/api/v5/account/config").json()["data"][0]
    assert ro["perm"] == "read_only"


@pytest.mark.parametrize(
    ("omit", "code"),
    [
        ("OK-ACCESS-KEY", "50103"),
        ("OK-ACCESS-SIGN", "50106"),
        ("OK-ACCESS-TIMESTAMP", "50107"),
        ("OK-ACCESS-PASSPHRASE", "50104"),
    ],
)
def test_missing_auth_headers(client: Client, omit: str, code: str) -> None:
    r = client.call(SUB, "GET", "/api/v5/account/config", omit=omit)
    assert (r.status_code, r.json()["code"]) == (401, code)


@pytest.mark.parametrize(
    "bad_ts",
    ["2020-12-08T09:08:57Z", "2020-12-08T09:08:57.7150Z", "2020-12-08T09:08:57.715+00:00", "1607418537715"],
)
def test_bad_timestamp_format_50112(client: Client, bad_ts: str) -> None:
    r = client.call(SUB, "GET", "/api/v5/account/config", ts=bad_ts)
    assert (r.status_code, r.json()["code"]) == (401, "50112")


def test_auth_failures(client: Client, sim: OkxSimulator) -> None:
    cfg = "/api/v5/account/config"

    def code(r: requests.Response) -> tuple[int, str]:
        return r.status_code, r.json()["code"]

    stale = okx_ts(int(time.time() * 1000) - 31_000)
    assert code(client.call(SUB, "GET", cfg, ts=stale)) == (401, "50102")
    assert code(client.call(SUB, "GET", cfg, ts=okx_ts(int(time.time() * 1000) + 31_000))) == (401, "50102")
    assert code(client.call(SUB, "GET", cfg, ts=okx_ts(int(time.time() * 1000) - 20_000)))[1] == "0"

    unknown = Cred("k-unknown", SUB.secret, SUB.passphrase)
    assert code(client.call(unknown, "GET", cfg)) == (401, "50111")
    assert code(client.call(DELETED, "GET", cfg)) == (401, "50111")
    assert code(client.call(EEA, "GET", cfg)) == (200, "50119")
    assert client.call(EEA, "GET", cfg).json()["msg"] == "API key doesn't exist"
    assert code(client.call(SUB, "GET", cfg, passphrase="wrong")) == (401, "50105")
    assert code(client.call(SUB, "GET", cfg, tamper=True)) == (401, "50113")

    # body changed after signing
    signed_body = json.dumps(order_body())
    ts = okx_ts()
    r = client.session.post(
        sim.url + ORDER,
        data=signed_body.replace("0.001", "0.002"),
        headers={
            "OK-ACCESS-KEY": SUB.api_key,
            "OK-ACCESS-SIGN": signature(SUB.secret, ts, "POST", ORDER, signed_body),
            "OK-ACCESS-TIMESTAMP": ts,
            "OK-ACCESS-PASSPHRASE": SUB.passphrase,
        },
        timeout=5,
    )
    assert code(r) == (401, "50113")
    # query changed after signing
    ts = okx_ts()
    r = client.session.get(
        sim.url + "/api/v5/account/balance?ccy=ETH",
        headers={
            "OK-ACCESS-KEY": SUB.api_key,
            "OK-ACCESS-SIGN": signature(SUB.secret, ts, "GET", "/api/v5/account/balance?ccy=BTC"),
            "OK-ACCESS-TIMESTAMP": ts,
            "OK-ACCESS-PASSPHRASE": SUB.passphrase,
        },
        timeout=5,
    )
    assert code(r) == (401, "50113")

    demo_hdr = {"x-simulated-trading": "1"}
    assert code(client.call(DEMO, "GET", cfg)) == (401, "50101")
    assert code(client.call(SUB, "GET", cfg, headers=demo_hdr)) == (401, "50101")
    assert code(client.call(DEMO, "GET", cfg, headers=demo_hdr)) == (200, "0")

    r = client.call(SUB_PROXY, "GET", cfg)
    assert code(r) == (401, "50110")
    assert r.json()["msg"] == "Your IP 127.0.0.1 is not included in your API key's IP whitelist."
    assert sim.key_last_used_ms(SUB_PROXY.api_key) is None
    assert sim.stats.requests[-1].code == "50110"


def test_auth_check_order(client: Client) -> None:
    cfg = "/api/v5/account/config"
    stale = okx_ts(int(time.time() * 1000) - 120_000)
    unknown = Cred("k-unknown", SUB.secret, SUB.passphrase)
    cases = [
        # (cred, kwargs, expected): each combines the expected failure with later-checked failures
        (unknown, {"ts": "bad"}, "50112"),
        (unknown, {"ts": stale}, "50102"),
        (DELETED, {"passphrase": "x", "tamper": True}, "50111"),
        (EEA, {"passphrase": "x"}, "50119"),
        (SUB, {"passphrase": "x", "tamper": True}, "50105"),
        (DEMO, {"tamper": True}, "50113"),
        (SUB_PROXY, {"headers": {"x-simulated-trading": "1"}}, "50101"),
        (MASTER_RO, {}, "0"),
    ]
    for c, kw, expected in cases:
        assert client.call(c, "GET", cfg, **kw).json()["code"] == expected, (c.api_key, kw)


def test_ip_allowlist_passes_from_proxy_egress(proxy_client: Client, sim: OkxSimulator) -> None:
    r = proxy_client.call(SUB_PROXY, "GET", "/api/v5/account/config")
    assert r.json()["code"] == "0", r.text
    assert r.json()["data"][0]["ip"] == "127.0.0.2"
    # the master key is bound to 127.0.0.1 only
    r = proxy_client.call(MASTER, "GET", "/api/v5/account/config")
    assert r.json()["msg"] == "Your IP 127.0.0.2 is not included in your API key's IP whitelist."
    assert sim.stats.requests_from("127.0.0.2") == 2


def test_key_last_used_only_on_authenticated_calls(client: Client, sim: OkxSimulator) -> None:
    assert sim.key_last_used_ms(SUB.api_key) is None
    client.call(SUB, "GET", "/api/v5/account/config", tamper=True)
    assert sim.key_last_used_ms(SUB.api_key) is None
    before = sim.now_ms()
    assert client.call(SUB, "GET", "/api/v5/account/config").json()["code"] == "0"
    used = sim.key_last_used_ms(SUB.api_key)
    assert used is not None and before <= used <= sim.now_ms()
    assert sim.key_last_used_ms(MASTER.api_key) is None


def test_permissions(client: Client) -> None:
    r = client.call(MASTER_RO, "POST", ORDER, order_body())
    assert (r.status_code, r.json()["code"]) == (200, "50120")
    r = client.call(SUB, "GET", "/api/v5/users/subaccount/list")
    assert (r.status_code, r.json()) == (
        200,
        {"code": "59500", "msg": "Only the API key of the main account has permission.", "data": []},
    )
    # master key without an IP binding may read but not manage sub-account keys
    r = client.call(OTHER_MASTER, "GET", "/api/v5/users/subaccount/list")
    assert r.json() == {"code": "0", "msg": "", "data": []}
    r = client.call(OTHER_MASTER, "POST", "/api/v5/users/subaccount/modify-apikey", {"subAcct": "x", "apiKey": "y"})
    assert (r.status_code, r.json()["code"]) == (403, "50035")
    r = client.call(MASTER_RO, "POST", "/api/v5/users/subaccount/delete-apikey", {"subAcct": "bot01", "apiKey": "k"})
    assert r.json()["code"] == "50035"


# ------------------------------------------------------------------------------------------ rate limits


def test_rate_limits(client: Client, sim: OkxSimulator) -> None:
    cfg = "/api/v5/account/config"
    codes = [client.call(SUB, "GET", cfg).json()["code"] for _ in range(5)]
    assert codes == ["0"] * 5
    r = client.call(SUB, "GET", cfg)
    assert r.status_code == 429
    assert r.json() == {"code": "50011", "msg": "Too Many Requests", "data": []}
    # keyed by uid: another account is unaffected; another key of the same uid is not
    assert client.call(MASTER, "GET", cfg).json()["code"] == "0"
    assert client.call(SUB_PROXY, "GET", cfg).json()["code"] == "50110"  # auth is checked before the limiter
    assert client.call(DEMO, "GET", cfg, headers={"x-simulated-trading": "1"}).json()["code"] == "50011"

    # public: by IP
    tick = "/api/v5/market/ticker?instId=BTC-USDT"
    assert all(client.public(tick).status_code == 200 for _ in range(20))
    r = client.public(tick)
    assert (r.status_code, r.json()["code"]) == (429, "50011")

    sim.state.rate_limits_enabled = False
    assert all(client.call(SUB, "GET", cfg).json()["code"] == "0" for _ in range(3))


def test_rate_limit_window_slides(client: Client, sim: OkxSimulator) -> None:
    sim.exchange.limiter.window_s = 0.3
    cfg = "/api/v5/account/config"
    assert [client.call(SUB, "GET", cfg).json()["code"] for _ in range(6)][-1] == "50011"
    time.sleep(0.35)
    assert client.call(SUB, "GET", cfg).json()["code"] == "0"


# ------------------------------------------------------------------------------------------ orders


def test_market_orders_fills_fees_balances(client: Client, sim: OkxSimulator) -> None:
    buy = placed_ok(client, ordType="market", px=None, sz="100", clOrdId="mkt1")
    assert buy["sMsg"] == "Order placed" and buy["clOrdId"] == "mkt1" and buy["ordId"].isdigit()
    o = lookup(client, f"instId=BTC-USDT&ordId={buy['ordId']}").json()["data"][0]
    assert o["state"] == "filled"
    assert (o["tgtCcy"], o["sz"], o["accFillSz"], o["avgPx"], o["fillPx"]) == (
        "quote_ccy",
        "100",
        "0.002",
        "50000",
        "50000",
    )
    assert (o["fee"], o["feeCcy"], o["instType"], o["tdMode"], o["px"]) == ("-0.000002", "BTC", "SPOT", "cash", "")
    bal = sim.balances(SUB_UID)
    assert bal["USDT"] == Decimal("900")
    assert bal["BTC"] == Decimal("0.01") + Decimal("0.002") - Decimal("0.000002")

    sell = placed_ok(client, side="sell", ordType="market", px=None, sz="0.001")
    o = lookup(client, f"instId=BTC-USDT&ordId={sell['ordId']}").json()["data"][0]
    assert (o["tgtCcy"], o["accFillSz"], o["avgPx"], o["fee"], o["feeCcy"]) == (
        "base_ccy",
        "0.001",
        "49999.9",
        "-0.0499999",
        "USDT",
    )
    bal = sim.balances(SUB_UID)
    assert bal["USDT"] == Decimal("900") + Decimal("49.9999") - Decimal("0.0499999")
    assert int(sell["ordId"]) > int(buy["ordId"])

    # balance endpoint: eqUsd from the CCY-USDT ticker, totalEq the sum
    data = client.call(SUB, "GET", "/api/v5/account/balance").json()["data"][0]
    by_ccy = {d["ccy"]: d for d in data["details"]}
    btc_eq = Decimal(by_ccy["BTC"]["eq"])
    assert Decimal(by_ccy["BTC"]["eqUsd"]) == btc_eq * 50000
    assert Decimal(by_ccy["USDT"]["eqUsd"]) == Decimal(by_ccy["USDT"]["cashBal"])
    assert Decimal(data["totalEq"]) == btc_eq * 50000 + Decimal(by_ccy["USDT"]["cashBal"])


def test_limit_orders_rest_freeze_and_fill_on_ticker(client: Client, sim: OkxSimulator) -> None:
    live = placed_ok(client, px="40000", sz="0.001", clOrdId="rest1")
    d = {x["ccy"]: x for x in client.call(SUB, "GET", "/api/v5/account/balance?ccy=USDT").json()["data"][0]["details"]}
    assert (d["USDT"]["frozenBal"], d["USDT"]["availBal"], d["USDT"]["cashBal"]) == ("40", "960", "1000")
    assert sim.orders(SUB_UID)[0]["state"] == "live"

    sim.set_ticker("BTC-USDT", "39990", "39980", "39990")
    o = lookup(client, "instId=BTC-USDT&clOrdId=rest1").json()["data"][0]
    assert o["ordId"] == live["ordId"]
    assert (o["state"], o["avgPx"], o["fee"], o["feeCcy"]) == ("filled", "40000", "-0.0000008", "BTC")
    bal = sim.balances(SUB_UID)
    assert bal["USDT"] == Decimal("960")
    assert bal["BTC"] == Decimal("0.01") + Decimal("0.001") - Decimal("0.0000008")
    assert sim.available_balances(SUB_UID)["USDT"] == Decimal("960")

    # crossing limit buy fills at the ask as taker
    taker = placed_ok(client, px="41000", sz="0.001")
    o = lookup(client, f"instId=BTC-USDT&ordId={taker['ordId']}").json()["data"][0]
    assert (o["state"], o["avgPx"], o["fee"]) == ("filled", "39990", "-0.000001")

    # post_only that would cross: accepted but canceled; ioc that cannot fill: canceled; fok that can: filled
    usdt_before = sim.balances(SUB_UID)["USDT"]
    po = placed_ok(client, ordType="post_only", px="40000", sz="0.001")
    ioc = placed_ok(client, ordType="ioc", px="30000", sz="0.001")
    fok = placed_ok(client, side="sell", ordType="fok", px="39000", sz="0.001")
    states = {o["ordId"]: o["state"] for o in sim.orders(SUB_UID)}
    assert (states[po["ordId"]], states[ioc["ordId"]], states[fok["ordId"]]) == ("canceled", "canceled", "filled")
    assert sim.balances(SUB_UID)["USDT"] == usdt_before + Decimal("39.98") * (1 - Decimal("0.001"))


def test_duplicate_pending_clordid_and_reuse_after_fill(client: Client, sim: OkxSimulator) -> None:
    first = placed_ok(client, clOrdId="dup1")
    dup = rejected(client, clOrdId="dup1")
    assert (dup["sCode"], dup["clOrdId"]) == ("51016", "dup1")
    # another account may use the same clOrdId
    placed_ok(client, MASTER, clOrdId="dup1")
    sim.set_ticker("BTC-USDT", "39000", "38990", "39000")  # fills both resting orders
    second = placed_ok(client, clOrdId="dup1")
    assert second["ordId"] != first["ordId"]
    latest = lookup(client, "instId=BTC-USDT&clOrdId=dup1").json()["data"][0]
    assert (latest["ordId"], latest["state"]) == (second["ordId"], "filled")
    older = lookup(client, f"instId=BTC-USDT&ordId={first['ordId']}").json()["data"][0]
    assert older["state"] == "filled"


def test_order_lookup_errors(client: Client) -> None:
    r = lookup(client, "instId=BTC-USDT&clOrdId=nosuch")
    assert (r.status_code, r.json()) == (200, {"code": "51603", "msg": "Order does not exist.", "data": []})
    r = lookup(client, "instId=BTC-USDT&ordId=123")
    assert r.json()["code"] == "51603"
    r = lookup(client, "instId=BTC-USDT")
    assert (r.status_code, r.json()["code"]) == (400, "50015")
    placed_ok(client, clOrdId="wronginst")
    assert lookup(client, "instId=ETH-USDT&clOrdId=wronginst").json()["code"] == "51603"
    assert lookup(client, "instId=BTC-USDT&clOrdId=wronginst", c=MASTER).json()["code"] == "51603"


def test_insufficient_balance_51008(client: Client, sim: OkxSimulator) -> None:
    item = rejected(client, ordType="market", px=None, sz="5000")
    assert (item["sCode"], item["sMsg"]) == ("51008", "Order failed. Insufficient USDT balance in account")
    item = rejected(client, side="sell", ordType="market", px=None, sz="1")
    assert item["sMsg"] == "Order failed. Insufficient BTC balance in account"
    # frozen funds are not available
    placed_ok(client, px="30000", sz="0.03")  # freezes 900 USDT
    item = rejected(client, px="30000", sz="0.004")  # needs 120, 100 left
    assert item["sCode"] == "51008"
    assert sim.balances(SUB_UID)["USDT"] == Decimal("1000")
    assert len(sim.orders(SUB_UID)) == 1


@pytest.mark.parametrize(
    ("kw", "s_code", "s_msg"),
    [
        ({"clOrdId": "bad-id"}, "51000", "Parameter clOrdId error"),
        ({"clOrdId": "a" * 33}, "51000", "Parameter clOrdId error"),
        ({"instId": "DOGE-USDT"}, "51001", "Instrument ID doesn't exist."),
        ({"sz": "0"}, "51000", "Parameter sz error"),
        ({"sz": "abc"}, "51000", "Parameter sz error"),
        ({"px": None}, "51000", "Parameter px error"),
        ({"instId": "ETH-USDT", "px": "1000", "sz": "0.0015"}, "51121", None),
        ({"sz": "0.000001"}, "51020", None),
        ({"ordType": "market", "px": None, "sz": "0.1"}, "51020", None),  # 0.1 USDT buys < minSz BTC
        ({"instId": "ETH-USDT", "px": "1000.001", "sz": "0.01"}, "51000", "Parameter px error"),
        ({"tdMode": "cross"}, "51000", "Parameter tdMode error"),
    ],
)
def test_order_validation(client: Client, sim: OkxSimulator, kw: dict, s_code: str, s_msg: str | None) -> None:
    item = rejected(client, **kw)
    assert item["sCode"] == s_code
    if s_msg:
        assert item["sMsg"] == s_msg
    assert sim.orders() == []


def test_exptime(client: Client, sim: OkxSimulator) -> None:
    past = str(sim.now_ms() - 1)
    r = client.call(SUB, "POST", ORDER, order_body(clOrdId="exp1"), headers={"expTime": past})
    assert (r.status_code, r.json()) == (200, {"code": "50037", "msg": "Order expired.", "data": []})
    assert sim.orders() == []
    future = str(sim.now_ms() + 10_000)
    r = client.call(SUB, "POST", ORDER, order_body(clOrdId="exp2"), headers={"expTime": future})
    assert r.json()["code"] == "0"
    assert [o["clOrdId"] for o in sim.orders()] == ["exp2"]


# ------------------------------------------------------------------------------------------ sub-accounts


def test_subaccount_list_pages_newest_first_by_creation_time(client: Client, sim: OkxSimulator) -> None:
    # Given 120 more sub-accounts, created a millisecond apart after bot01
    with sim.exchange.lock:
        sim.state.accounts.extend(
            SimAccount(
                uid=str(200 + n), label="", main_uid=MASTER_UID, sub_acct=f"s{n:03d}", created_ms=1_700_000_000_000 + n
            )
            for n in range(120)
        )

    def page(query: str) -> dict[str, object]:
        sim.reset_rate_limits()  # the listing allows 2 requests per 2 s; this test is about the pages
        answer: dict[str, object] = client.call(MASTER, "GET", "/api/v5/users/subaccount/list" + query).json()
        return answer

    def names(query: str) -> list[str]:
        data = page(query)["data"]
        assert isinstance(data, list)
        return [sub["subAcct"] for sub in data]

    # Then a page holds at most 100, newest first; `after`/`before` keep those created strictly earlier/later
    first = names("")
    assert first == [f"s{n:03d}" for n in range(119, 19, -1)]
    assert names("?after=1700000000020") == [*(f"s{n:03d}" for n in range(19, -1, -1)), "bot01"]
    assert names("?before=1700000000114&limit=3") == ["s119", "s118", "s117"]
    assert names("?after=1700000000003&before=1700000000000") == ["s002", "s001"]
    for bad in ("?limit=101", "?limit=0", "?after=yesterday"):
        assert page(bad)["code"] == "51000", bad


def test_subaccount_list_and_keys(client: Client) -> None:
    subs = client.call(MASTER, "GET", "/api/v5/users/subaccount/list").json()["data"]
    assert len(subs) == 1
    assert {k: subs[0][k] for k in ("subAcct", "label", "uid", "ts", "enable", "type")} == {
        "subAcct": "bot01",
        "label": "bot sub",
        "uid": SUB_UID,
        "ts": "1690000100000",
        "enable": True,
        "type": "1",
    }
    keys = client.call(MASTER, "GET", "/api/v5/users/subaccount/apikey?subAcct=bot01").json()["data"]
    by_key = {k["apiKey"]: k for k in keys}
    assert "k-deleted" not in by_key
    assert {"k-sub", "k-sub-proxy", "k-demo"} <= set(by_key)
    assert by_key["k-sub-proxy"] == {
        "label": "bot via proxy",
        "apiKey": "k-sub-proxy",
        "perm": "read_only,trade",
        "ip": "127.0.0.2",
        "ts": "1700000200000",
    }
    one = client.call(MASTER, "GET", "/api/v5/users/subaccount/apikey?subAcct=bot01&apiKey=k-sub").json()["data"]
    assert [k["apiKey"] for k in one] == ["k-sub"]
    r = client.call(MASTER, "GET", "/api/v5/users/subaccount/apikey?subAcct=ghost")
    assert r.json()["code"] == "59510"


def test_subaccount_modify_create_delete(client: Client, proxy_client: Client, sim: OkxSimulator) -> None:
    sim.state.rate_limits_enabled = False  # modify/create/delete allow only 2 calls per 2 s
    modify = "/api/v5/users/subaccount/modify-apikey"
    r = client.call(MASTER, "POST", modify, {"subAcct": "bot01", "apiKey": "k-sub", "ip": "127.0.0.2,10.0.0.0/8"})
    item = r.json()["data"][0]
    assert r.json()["code"] == "0"
    assert item == {
        "subAcct": "bot01",
        "label": "bot",
        "apiKey": "k-sub",
        "perm": "read_only,trade",
        "ip": "127.0.0.2,10.0.0.0/8",
        "ts": "1700000100000",
    }
    assert client.call(SUB, "GET", "/api/v5/account/config").json()["code"] == "50110"
    assert proxy_client.call(SUB, "GET", "/api/v5/account/config").json()["data"][0]["ip"] == "127.0.0.2,10.0.0.0/8"
    # "" unbinds
    r = client.call(MASTER, "POST", modify, {"subAcct": "bot01", "apiKey": "k-sub", "ip": "", "label": "renamed"})
    assert (r.json()["data"][0]["ip"], r.json()["data"][0]["label"]) == ("", "renamed")
    assert client.call(SUB, "GET", "/api/v5/account/config").json()["data"][0]["label"] == "renamed"
    # 21 IPs
    ips = ",".join(f"10.0.0.{i}" for i in range(21))
    r = client.call(MASTER, "POST", modify, {"subAcct": "bot01", "apiKey": "k-sub", "ip": ips})
    assert r.json()["code"] == "59503"
    assert sim.key("k-sub").ips == []
    r = client.call(MASTER, "POST", modify, {"subAcct": "bot01", "apiKey": "k-nope", "ip": ""})
    assert r.json()["code"] == "59506"

    create = "/api/v5/users/subaccount/apikey"
    body = {"subAcct": "bot01", "label": "fresh", "passphrase": "Fresh-Pass-1", "perm": "trade", "ip": "127.0.0.1"}
    r = client.call(MASTER, "POST", create, body)
    new = r.json()["data"][0]
    assert (new["subAcct"], new["label"], new["perm"], new["ip"]) == ("bot01", "fresh", "read_only,trade", "127.0.0.1")
    fresh = Cred(new["apiKey"], new["secretKey"], new["passphrase"])
    assert client.call(fresh, "GET", "/api/v5/account/config").json()["data"][0]["uid"] == SUB_UID
    r = client.call(MASTER, "POST", create, {**body, "label": "w", "perm": "withdraw"})
    assert r.json()["code"] == "59504"

    r = client.call(
        MASTER, "POST", "/api/v5/users/subaccount/delete-apikey", {"subAcct": "bot01", "apiKey": new["apiKey"]}
    )
    assert r.json() == {"code": "0", "msg": "", "data": [{"subAcct": "bot01"}]}
    assert client.call(fresh, "GET", "/api/v5/account/config").json()["code"] == "50111"


def test_subaccount_key_limit_59501(client: Client, sim: OkxSimulator) -> None:
    sim.state.rate_limits_enabled = False
    for i in range(50 - 4):  # bot01 has 4 live keys in the seed (k-sub, k-sub-proxy, k-demo, k-eea)
        sim.add_key(SimKey(api_key=f"k-extra-{i}", secret="s", passphrase="p", uid=SUB_UID, label=f"x{i}"))
    body = {"subAcct": "bot01", "label": "one-too-many", "passphrase": "P-ass-123"}
    r = client.call(MASTER, "POST", "/api/v5/users/subaccount/apikey", body)
    assert r.json()["code"] == "59501"


def test_subaccount_key_changes_need_the_main_accounts_trade_key_bound_to_an_ip(
    client: Client, proxy_client: Client, sim: OkxSimulator
) -> None:
    modify = "/api/v5/users/subaccount/modify-apikey"
    body = {"subAcct": "bot01", "apiKey": "k-sub", "ip": "127.0.0.2"}
    # a sub-account's own key: 59500, whatever it asks
    r = proxy_client.call(SUB_PROXY, "POST", modify, body)
    assert r.json()["code"] == "59500"
    # a read-only master bound to an IP: OKX asks for trade permission
    sim.add_key(
        SimKey(api_key="k-master-ro-bound", secret="S" * 32, passphrase="pp", uid=MASTER_UID, ips=["127.0.0.1"])
    )
    r = client.call(Cred("k-master-ro-bound", "S" * 32, "pp"), "POST", modify, body)
    assert r.json()["code"] == "50120"
    for path in (modify, "/api/v5/users/subaccount/apikey", "/api/v5/users/subaccount/delete-apikey"):
        assert client.call(OTHER_MASTER, "POST", path, body).json()["code"] == "50035"  # master, not bound
    assert sim.key("k-sub").ips == []


def test_subaccount_key_changes_are_limited_to_one_per_second_per_user(client: Client, sim: OkxSimulator) -> None:
    modify = "/api/v5/users/subaccount/modify-apikey"
    body = {"subAcct": "bot01", "apiKey": "k-sub", "ip": "127.0.0.2"}
    first = client.call(MASTER, "POST", modify, body)
    second = client.call(MASTER, "POST", modify, {**body, "ip": "127.0.0.3"})
    assert (first.json()["code"], second.status_code, second.json()["code"]) == ("0", 429, "50011")
    assert sim.key("k-sub").ips == ["127.0.0.2"]
    # another endpoint has its own limit; the same one is open again after a second
    r = client.call(MASTER, "POST", "/api/v5/users/subaccount/delete-apikey", {"subAcct": "bot01", "apiKey": "k-eea"})
    assert r.json()["code"] == "0"
    time.sleep(1.05)
    assert client.call(MASTER, "POST", modify, {**body, "ip": "127.0.0.3"}).json()["code"] == "0"


@pytest.mark.parametrize(
    ("passphrase", "code"),
    [
        ("Short-1", "59505"),  # 7 characters
        ("x" * 30 + "A-1", "59505"),  # 33 characters
        ("lower-case-1", "59505"),
        ("UPPER-CASE-1", "59505"),
        ("No-Digits-Here", "59505"),
        ("NoSpecial123", "59505"),
        ("Okay-Pass-1", "0"),
        ("A1b2C3d4!", "0"),
    ],
)
def test_subaccount_key_passphrase_rules(client: Client, sim: OkxSimulator, passphrase: str, code: str) -> None:
    body = {"subAcct": "bot01", "label": "new", "passphrase": passphrase, "perm": "read_only,trade"}
    r = client.call(MASTER, "POST", "/api/v5/users/subaccount/apikey", body)
    assert r.json()["code"] == code
    if code != "0":
        assert r.json()["msg"] == "The passphrase format is incorrect."
        assert not any(k.label == "new" for k in sim.state.keys)


@pytest.mark.parametrize(
    ("perm", "code"),
    [("withdraw", "59504"), ("read_only,withdraw", "59504"), ("admin", "51000"), ("read_only", "0"), ("trade", "0")],
)
def test_subaccount_key_perm_values(client: Client, perm: str, code: str) -> None:
    body = {"subAcct": "bot01", "label": "p", "passphrase": "Okay-Pass-1", "perm": perm}
    assert client.call(MASTER, "POST", "/api/v5/users/subaccount/apikey", body).json()["code"] == code


def test_subaccount_key_ip_limit_on_create(client: Client, sim: OkxSimulator) -> None:
    ips = ",".join(f"10.0.0.{i}" for i in range(21))
    body = {"subAcct": "bot01", "label": "many", "passphrase": "Okay-Pass-1", "perm": "trade", "ip": ips}
    assert client.call(MASTER, "POST", "/api/v5/users/subaccount/apikey", body).json()["code"] == "59503"
    time.sleep(1.05)
    body["ip"] = ",".join(f"10.0.0.{i}" for i in range(20))
    assert client.call(MASTER, "POST", "/api/v5/users/subaccount/apikey", body).json()["code"] == "0"


def test_a_deleted_subaccount_key_answers_50111_at_once(client: Client, proxy_client: Client) -> None:
    assert proxy_client.call(SUB_PROXY, "GET", "/api/v5/account/config").json()["code"] == "0"
    r = client.call(
        MASTER, "POST", "/api/v5/users/subaccount/delete-apikey", {"subAcct": "bot01", "apiKey": "k-sub-proxy"}
    )
    assert r.json()["code"] == "0"
    r = proxy_client.call(SUB_PROXY, "GET", "/api/v5/account/config")
    assert (r.status_code, r.json()["code"]) == (401, "50111")
    listed = client.call(MASTER, "GET", "/api/v5/users/subaccount/apikey?subAcct=bot01").json()["data"]
    assert "k-sub-proxy" not in {k["apiKey"] for k in listed}
    r = client.call(
        MASTER, "POST", "/api/v5/users/subaccount/modify-apikey", {"subAcct": "bot01", "apiKey": "k-sub-proxy"}
    )
    assert r.json()["code"] == "59506"


# ------------------------------------------------------------------------------------------ faults


def test_fault_drop_after_order(client: Client, sim: OkxSimulator) -> None:
    sim.faults.drop_after_order = 1
    with pytest.raises(requests.ConnectionError):
        client.call(SUB, "POST", ORDER, order_body(clOrdId="lost1"))
    assert sim.faults.drop_after_order == 0
    assert [(o["clOrdId"], o["state"]) for o in sim.orders(SUB_UID)] == [("lost1", "live")]
    rec = sim.stats.requests[-1]
    assert (rec.path, rec.http_status, rec.code) == (ORDER, 0, "")
    # the retry finds the order by clOrdId, and a new placement is refused as a duplicate
    assert lookup(client, "instId=BTC-USDT&clOrdId=lost1").json()["data"][0]["state"] == "live"
    assert rejected(client, clOrdId="lost1")["sCode"] == "51016"


def test_fault_clock_offset(client: Client, sim: OkxSimulator) -> None:
    sim.faults.clock_offset_ms = 120_000
    server_ts = int(client.public("/api/v5/public/time").json()["data"][0]["ts"])
    assert abs(server_ts - (int(time.time() * 1000) + 120_000)) < 1000
    assert abs(sim.now_ms() - server_ts) < 1000
    r = client.call(SUB, "GET", "/api/v5/account/config")
    assert (r.status_code, r.json()["code"]) == (401, "50102")
    r = client.call(SUB, "GET", "/api/v5/account/config", ts=okx_ts(sim.now_ms()))
    assert r.json()["code"] == "0"


def test_fault_server_errors_storm_latency(client: Client, sim: OkxSimulator) -> None:
    sim.faults.server_errors = 2
    for _ in range(2):
        r = client.public("/api/v5/public/time")
        assert (r.status_code, r.json()["code"]) == (503, "50001")
    assert client.public("/api/v5/public/time").status_code == 200

    sim.faults.rate_limit_storm = 2
    r = client.call(SUB, "GET", "/api/v5/account/balance")
    assert (r.status_code, r.json()["code"]) == (429, "50011")
    assert client.public("/api/v5/public/time").status_code == 200  # public calls are not part of the storm
    assert client.call(SUB, "GET", "/api/v5/account/balance").status_code == 429
    assert client.call(SUB, "GET", "/api/v5/account/balance").json()["code"] == "0"

    sim.faults.latency_s = 0.3
    start = time.monotonic()
    assert client.public("/api/v5/public/time").status_code == 200
    assert time.monotonic() - start >= 0.3


def test_echo_endpoints(client: Client, proxy_client: Client, sim: OkxSimulator) -> None:
    r = client.public("/echo/plain")
    assert (r.status_code, r.text, r.headers["Content-Type"].split(";")[0]) == (200, "127.0.0.1\n", "text/plain")
    assert client.public("/echo/plain?format=json").json() == {"ip": "127.0.0.1"}
    assert client.public("/echo/ipify-json").json() == {"ip": "127.0.0.1"}
    assert proxy_client.public("/echo/plain").text == "127.0.0.2\n"
    sim.faults.echo_ip_override["plain"] = "203.0.113.7"
    assert client.public("/echo/plain").text == "203.0.113.7\n"
    assert client.public("/echo/other").text == "127.0.0.1\n"
    sim.faults.echo_down.add("other")
    assert client.public("/echo/other").status_code == 503
    assert client.public("/echo/plain").status_code == 200


# ------------------------------------------------------------------------------------------ server


def test_stats_keepalive_and_connection_close(client: Client, proxy_client: Client, sim: OkxSimulator) -> None:
    sim.stats.reset()
    for _ in range(5):
        assert client.public("/api/v5/public/time").status_code == 200
    assert sim.stats.connections_from("127.0.0.1") == 1
    assert sim.stats.requests_from("127.0.0.1") == 5
    assert sim.stats.total_requests() == 5
    for _ in range(3):
        r = client.public("/api/v5/public/time", headers={"Connection": "close"})
        assert r.headers["Connection"] == "close"
    # the first "close" request still rides the kept-alive connection, the next two need new ones
    assert sim.stats.connections_from("127.0.0.1") == 3
    assert sim.stats.requests_from("127.0.0.1") == 8
    proxy_client.call(SUB, "GET", "/api/v5/account/config")
    assert (sim.stats.connections_from("127.0.0.2"), sim.stats.requests_from("127.0.0.2")) == (1, 1)
    rec = sim.stats.requests[-1]
    assert (rec.peer_ip, rec.method, rec.path, rec.api_key, rec.code, rec.http_status) == (
        "127.0.0.2",
        "GET",
        "/api/v5/account/config",
        "k-sub",
        "0",
        200,
    )
    assert sim.stats.requests[0].api_key is None
    sim.stats.reset()
    assert sim.stats.total_requests() == 0 and sim.stats.connections_from("127.0.0.1") == 0


def test_stalled_tls_client_does_not_block_others(client: Client, sim: OkxSimulator) -> None:
    with socket.create_connection(("127.0.0.1", sim.port)):  # never sends a ClientHello
        start = time.monotonic()
        assert client.public("/api/v5/public/time").status_code == 200
        assert time.monotonic() - start < 2
    assert sim.stats.connections_from("127.0.0.1") == 2


def test_seed_validation_and_isolation(sim_pki: LocalPKI) -> None:
    seed = make_seed()
    assert SimSeed.model_validate_json(seed.model_dump_json()) == seed
    cert = sim_pki.server_cert("sim")
    with OkxSimulator(seed, certfile=cert.cert_chain_path, keyfile=cert.key_path) as simulator:
        client = Client(simulator, sim_pki.ca_path)
        placed_ok(client, ordType="market", px=None, sz="10")
        client.session.close()
        assert simulator.balances(SUB_UID)["USDT"] == Decimal("990")
    assert seed.account(SUB_UID).balances["USDT"] == Decimal("1000")  # the simulator worked on a copy
    with pytest.raises(ValueError, match="unknown uid"):
        SimSeed(accounts=[], keys=[SimKey(api_key="a", secret="b", passphrase="c", uid="nobody")])


def test_standalone_with_example_seed(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "local/okxlocal/sim/example_seed.json"
    seed = SimSeed.model_validate_json(example.read_text())
    master = next(k for k in seed.keys if k.label.startswith("master admin"))
    code = "import sys; from pathlib import Path; from okxlocal.sim.standalone import run_standalone; "
    code += "run_standalone(Path(sys.argv[1]), Path(sys.argv[2]))"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(example), str(tmp_path / "pki")],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip().removeprefix("url: ")
        ca = proc.stdout.readline().strip().removeprefix("ca: ")
        assert url.startswith("https://localhost:") and Path(ca).is_file()
        session = requests.Session()
        session.trust_env = False
        assert session.get(url + "/api/v5/public/time", verify=ca, timeout=5).json()["code"] == "0"
        ts, path = okx_ts(), "/api/v5/account/config"
        headers = {
            "OK-ACCESS-KEY": master.api_key,
            "OK-ACCESS-SIGN": signature(master.secret, ts, "GET", path),
            "OK-ACCESS-TIMESTAMP": ts,
            "OK-ACCESS-PASSPHRASE": master.passphrase,
        }
        cfg = session.get(url + path, headers=headers, verify=ca, timeout=5).json()
        assert cfg["code"] == "0" and cfg["data"][0]["uid"] == master.uid
        session.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_request_hooks_act_at_an_exact_moment_of_a_routes_requests(client: Client, sim: OkxSimulator) -> None:
    sim.state.rate_limits_enabled = False
    modify = "/api/v5/users/subaccount/modify-apikey"
    seen: list[str] = []

    def someone_else_edits(_request: object) -> None:
        with sim.exchange.lock:
            sim.exchange.state.key("k-sub").ips = ["10.9.9.9"]

    def refuse(_request: object) -> None:
        raise OkxError("50011")

    sim.faults.hook("GET subaccount/apikey", "after", someone_else_edits, matches=lambda r: "k-sub" in r.raw_path)
    sim.faults.hook("POST subaccount/modify-apikey", "before", refuse, times=2)
    sim.faults.hook("POST subaccount/modify-apikey", "after", lambda r: seen.append(r.body.decode()))

    # an "after" hook runs once the handler answered, once, and only for the requests it matches
    client.call(MASTER, "GET", "/api/v5/users/subaccount/apikey?subAcct=bot01")
    assert sim.key("k-sub").ips == []
    listed = client.call(MASTER, "GET", "/api/v5/users/subaccount/apikey?subAcct=bot01&apiKey=k-sub").json()
    assert listed["data"][0]["ip"] == ""  # the answer was made before the edit
    assert sim.key("k-sub").ips == ["10.9.9.9"]
    # a "before" hook that raises answers with its error and the request does nothing, `times` times
    body = {"subAcct": "bot01", "apiKey": "k-sub", "ip": "127.0.0.2"}
    assert [client.call(MASTER, "POST", modify, body).json()["code"] for _ in range(3)] == ["50011", "50011", "0"]
    assert sim.key("k-sub").ips == ["127.0.0.2"]
    assert len(seen) == 1 and sim.faults.hooks == []
