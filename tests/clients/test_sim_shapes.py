"""Every endpoint the simulator serves answers with the shape of OKX's documented example, and parses.

For each example body in tests/fixtures/okx (copied from OKX's docs, see INDEX.json) the simulator is asked
the same question; its answer must have the same fields with the same JSON types (numbers as strings,
flags as booleans), nested objects included, and must parse with the product's own model. A field the
simulator drops, renames or retypes fails here, before a real client meets it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from pydantic import BaseModel

from okxcore.models import (
    AccountConfig,
    Balance,
    CreatedSubAccountApiKey,
    Instrument,
    Order,
    OrderAck,
    ServerTime,
    SubAccount,
    SubAccountApiKey,
    Ticker,
)
from okxlocal.pki import LocalPKI, local_okx_hostname
from okxlocal.seeds import new_key, seed_with
from okxlocal.sim import OkxSimulator, SimAccount, SimKey, sign
from okxlocal.sim.engine import ROUTES

pytestmark = pytest.mark.clients

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "okx"
MASTER, SUB = "2001", "2002"
SUB_NAME = "botsub1"


@dataclass
class Okx:
    """Signed calls straight to the simulator (the product's transport is not what is under test here)."""

    base_url: str
    ca: str
    key: SimKey

    def __call__(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        raw = json.dumps(body) if body is not None else ""
        ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{datetime.now(UTC).microsecond // 1000:03d}Z"
        headers = {
            "OK-ACCESS-KEY": self.key.api_key,
            "OK-ACCESS-SIGN": sign(self.key.secret, ts, method, path, raw),
            "OK-ACCESS-TIMESTAMP": ts,
            "OK-ACCESS-PASSPHRASE": self.key.passphrase,
            "Content-Type": "application/json",
        }
        answer = requests.request(
            method, self.base_url + path, data=raw or None, headers=headers, verify=self.ca, timeout=10
        )
        payload: dict[str, Any] = answer.json()
        return payload


@pytest.fixture(scope="module")
def okx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Okx]:
    pki = LocalPKI(tmp_path_factory.mktemp("shapes-pki"))
    master = new_key(MASTER, "master", perm={"read_only", "trade"}, ips=["127.0.0.1"])
    sub_key = new_key(SUB, "sub bot", perm={"read_only", "trade"}, ips=["1.1.1.1"])
    accounts = [
        SimAccount(uid=MASTER, label="master", balances={"USDT": "10000", "BTC": "1"}, funding={"ETH": "3"}),
        SimAccount(uid=SUB, label="sub", main_uid=MASTER, sub_acct=SUB_NAME, balances={"USDT": "100"}),
    ]
    seed = seed_with([master, sub_key], accounts, rate_limits_enabled=False)
    cert = pki.server_cert("okx-sim")
    with OkxSimulator(seed, certfile=cert.cert_chain_path, keyfile=cert.key_path, hostname=local_okx_hostname()) as sim:
        client = Okx(sim.url, str(pki.ca_path), master)
        # Some history for the list endpoints: a filled market order (a fill) and a resting limit order.
        market = {"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "market", "sz": "100"}
        assert client("POST", "/api/v5/trade/order", {**market, "clOrdId": "shapes1"})["code"] == "0"
        resting = {**market, "ordType": "limit", "px": "50000", "sz": "0.001", "clOrdId": "shapes2"}
        assert client("POST", "/api/v5/trade/order", resting)["code"] == "0"
        client.sub_key = sub_key  # type: ignore[attr-defined]
        yield client


def shape(value: Any) -> Any:
    """The JSON type of every field, recursively (a list by its first item)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def documented(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / f"{name}.response.json").read_text())
    return body


Ask = Callable[[Okx], dict[str, Any]]

# fixture name -> (how to ask the simulator the same question, the product's model of one item or None)
CASES: dict[str, tuple[Ask, type[BaseModel] | None]] = {
    "get_public_time": (lambda o: o("GET", "/api/v5/public/time"), ServerTime),
    "get_market_ticker": (lambda o: o("GET", "/api/v5/market/ticker?instId=BTC-USDT"), Ticker),
    "get_public_instruments": (lambda o: o("GET", "/api/v5/public/instruments?instType=SPOT"), Instrument),
    "get_account_config": (lambda o: o("GET", "/api/v5/account/config"), AccountConfig),
    "get_account_balance": (lambda o: o("GET", "/api/v5/account/balance"), Balance),
    "get_asset_currencies": (lambda o: o("GET", "/api/v5/asset/currencies"), None),
    "get_asset_balances": (lambda o: o("GET", "/api/v5/asset/balances"), None),
    "post_trade_order": (
        lambda o: o(
            "POST",
            "/api/v5/trade/order",
            {"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit", "px": "40000", "sz": "0.001"},
        ),
        OrderAck,
    ),
    "post_trade_batch_orders": (
        lambda o: o(
            "POST",
            "/api/v5/trade/batch-orders",
            [
                {"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit", "px": px, "sz": "0.001"}
                for px in ("41000", "42000")
            ],
        ),
        OrderAck,
    ),
    "get_trade_order": (lambda o: o("GET", "/api/v5/trade/order?instId=BTC-USDT&clOrdId=shapes1"), Order),
    "get_trade_orders_pending": (lambda o: o("GET", "/api/v5/trade/orders-pending?instType=SPOT"), Order),
    "get_trade_orders_history": (lambda o: o("GET", "/api/v5/trade/orders-history?instType=SPOT"), Order),
    "get_trade_fills_history": (lambda o: o("GET", "/api/v5/trade/fills-history?instType=SPOT"), None),
    "post_trade_cancel_order": (
        lambda o: o("POST", "/api/v5/trade/cancel-order", {"instId": "BTC-USDT", "clOrdId": "shapes2"}),
        OrderAck,
    ),
    "get_users_subaccount_list": (lambda o: o("GET", "/api/v5/users/subaccount/list"), SubAccount),
    "get_users_subaccount_apikey": (
        lambda o: o("GET", f"/api/v5/users/subaccount/apikey?subAcct={SUB_NAME}"),
        SubAccountApiKey,
    ),
    "post_users_subaccount_modify_apikey": (
        lambda o: o(
            "POST",
            "/api/v5/users/subaccount/modify-apikey",
            {"subAcct": SUB_NAME, "apiKey": o.sub_key.api_key, "ip": "1.1.1.1,2.2.2.2"},  # type: ignore[attr-defined]
        ),
        SubAccountApiKey,
    ),
    "post_users_subaccount_apikey": (
        lambda o: o(
            "POST",
            "/api/v5/users/subaccount/apikey",
            {"subAcct": SUB_NAME, "label": "shapes", "passphrase": "Shapes-Pass-123", "perm": "trade", "ip": "1.1.1.1"},
        ),
        CreatedSubAccountApiKey,
    ),
    "post_users_subaccount_delete_apikey": (
        lambda o: o(
            "POST",
            "/api/v5/users/subaccount/delete-apikey",
            {"subAcct": SUB_NAME, "apiKey": o.sub_key.api_key},  # type: ignore[attr-defined]
        ),
        SubAccount,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_the_simulator_answers_with_the_documented_field_set(okx: Okx, name: str) -> None:
    ask, model = CASES[name]
    answer = ask(okx)
    assert answer["code"] == "0", answer
    expected = documented(name)
    assert shape(answer["data"][0]) == shape(expected["data"][0])
    assert set(answer) >= set(expected)  # code, msg, data (and inTime/outTime where OKX documents them)
    if model is not None:
        for item in answer["data"]:
            model.model_validate(item)


def test_every_served_endpoint_has_a_documented_example() -> None:
    documented_paths = {
        (line.split()[0], line.split()[1].split("?")[0])
        for path in FIXTURES.glob("*.request.txt")
        for line in path.read_text().splitlines()
        if line.strip().startswith(("GET /api", "POST /api"))
    }
    served = {(method, path) for path, methods in ROUTES.items() for method in methods}
    assert served - documented_paths == set()
    assert {name for name in CASES} >= {
        p.name.removesuffix(".response.json") for p in FIXTURES.glob("*.response.json")
    } - {
        "post_users_subaccount_create_subaccount"  # OKX has it; the simulator does not serve it
    }


def test_an_unknown_path_and_a_bad_signature_answer_as_okx_does(okx: Okx) -> None:
    unknown = okx("GET", "/api/v5/no/such-endpoint")
    assert unknown["code"] != "0" and unknown["data"] == []
    wrong = Okx(okx.base_url, okx.ca, okx.key.model_copy(update={"secret": "0" * 32}))
    assert wrong("GET", "/api/v5/account/config") == {"code": "50113", "msg": "Invalid Sign", "data": []}


def test_a_batch_reports_per_item_and_code_2_for_partial_success(okx: Okx) -> None:
    good = {"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit", "px": "43000", "sz": "0.001"}
    too_small = {**good, "sz": "0.000001"}  # under minSz

    answer = okx("POST", "/api/v5/trade/batch-orders", [good, too_small])

    assert (answer["code"], answer["msg"]) == ("2", "Bulk operation partially succeeded.")
    assert [item["sCode"] for item in answer["data"]] == ["0", "51020"]
    assert answer["data"][0]["ordId"] and answer["data"][1]["ordId"] == ""
    none_ok = okx("POST", "/api/v5/trade/batch-orders", [too_small])
    assert none_ok["code"] == "1" and none_ok["data"][0]["sCode"] == "51020"
