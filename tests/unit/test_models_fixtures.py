"""Given OKX's documented example bodies, the typed models parse them (fixtures copied from OKX's docs)."""

import json
from decimal import Decimal
from pathlib import Path

import pytest

from okxcore.models import (
    AccountConfig,
    Balance,
    CreatedSubAccountApiKey,
    Instrument,
    Order,
    OrderAck,
    OrderRequest,
    ServerTime,
    SubAccount,
    SubAccountApiKey,
    Ticker,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "okx"


def first(name: str) -> dict:
    body = json.loads((FIXTURES / name).read_text())
    assert body["code"] == "0"
    return body["data"][0]


def test_account_config():
    config = AccountConfig.model_validate(first("get_account_config.response.json"))
    assert config.perm == frozenset({"read_only", "withdraw", "trade"})
    assert config.ip == ()  # the docs example has no ip field: unbound
    assert config.uid == config.main_uid == "44705892343619584"
    assert config.can_trade_or_withdraw
    assert not config.is_sub_account


def test_account_config_ip_and_perm_strings_are_sets():
    config = AccountConfig.model_validate(
        {"uid": "2", "mainUid": "1", "perm": "trade, read_only", "ip": "1.1.1.1,2.2.2.2"}
    )
    assert config.ip == ("1.1.1.1", "2.2.2.2")
    assert config.perm == frozenset({"trade", "read_only"})
    assert config.is_sub_account


def test_balance():
    balance = Balance.model_validate(first("get_account_balance.response.json"))
    assert balance.available("USDT") == Decimal("4834.317093622894")
    assert balance.available("BTC") == 0
    assert balance.details[0].eq_usd == Decimal("4991.542013297616")


def test_ticker_instruments_time():
    ticker = Ticker.model_validate(first("get_market_ticker.response.json"))
    assert (ticker.last, ticker.bid_px, ticker.ask_px) == (Decimal("9999.99"), Decimal("8888.88"), Decimal("9999.99"))
    inst = Instrument.model_validate(first("get_public_instruments.response.json"))
    assert (inst.min_sz, inst.lot_sz, inst.tick_sz) == (Decimal("0.00001"), Decimal("0.00000001"), Decimal("0.1"))
    assert inst.base_ccy == "BTC" and inst.quote_ccy == "USDT"
    assert ServerTime.model_validate(first("get_public_time.response.json")).ts == 1597026383085


def test_orders():
    ack = OrderAck.model_validate(first("post_trade_order.response.json"))
    assert (ack.cl_ord_id, ack.ord_id, ack.s_code) == ("oktswap6", "312269865356374016", "0")
    order = Order.model_validate(first("get_trade_order.response.json"))
    assert order.state == "filled" and order.is_final
    assert order.px is None  # "" for a market order
    assert order.fee == Decimal("-0.00000192834") and order.fee_ccy == "BTC"
    assert order.acc_fill_sz == Decimal("0.00192834")


def test_subaccounts():
    sub = SubAccount.model_validate(first("get_users_subaccount_list.response.json"))
    assert sub.sub_acct == "D456DDDL" and sub.ts == 1659334756000
    key = SubAccountApiKey.model_validate(first("get_users_subaccount_apikey.response.json"))
    assert key.ip == ("1.1.1.1", "2.2.2.2") and key.perm == frozenset({"read_only", "trade"})
    modified = SubAccountApiKey.model_validate(first("post_users_subaccount_modify_apikey.response.json"))
    assert modified.perm == frozenset({"read_only", "trade"})  # "read" normalised


def test_order_request_body_is_okx_shaped():
    request = OrderRequest(
        instId="BTC-USDT", side="buy", ordType="limit", sz=Decimal("2"), px=Decimal("2.15"), clOrdId="b15"
    )
    assert request.to_body() == {
        "instId": "BTC-USDT",
        "tdMode": "cash",
        "side": "buy",
        "ordType": "limit",
        "sz": "2",
        "px": "2.15",
        "clOrdId": "b15",
    }


@pytest.mark.parametrize("bad", ["has-dash", "under_score", "x" * 33, ""])
def test_order_request_refuses_bad_client_ids(bad):
    with pytest.raises(ValueError, match="clOrdId"):
        OrderRequest(instId="BTC-USDT", side="buy", ordType="market", sz=Decimal(1), clOrdId=bad)


def test_created_key_hides_its_secret_and_passphrase():
    created = CreatedSubAccountApiKey.model_validate(
        {**first("post_users_subaccount_apikey.response.json"), "secretKey": "NEWSECRET123", "passphrase": "NEWPASS456"}
    )
    assert created.secret_key.get_secret_value() == "NEWSECRET123"
    assert created.ip == ("1.1.1.1", "2.2.2.2")
    shown = repr(created) + created.model_dump_json()
    assert "NEWSECRET123" not in shown
    assert "NEWPASS456" not in shown
    assert SubAccount.model_validate(first("post_users_subaccount_delete_apikey.response.json")).sub_acct == "test00001"


def test_order_lists_and_cancel_answers():
    pending = Order.model_validate(first("get_trade_orders_pending.response.json"))
    assert pending.is_pending and not pending.is_final
    assert (pending.sz, pending.acc_fill_sz, pending.remaining_sz) == (Decimal("0.001"), 0, Decimal("0.001"))
    history = Order.model_validate(first("get_trade_orders_history.response.json"))
    assert history.is_final and history.remaining_sz is None  # a quote-sized market order
    cancel = OrderAck.model_validate(first("post_trade_cancel_order.response.json"))
    assert (cancel.cl_ord_id, cancel.ord_id, cancel.s_code) == ("oktswap6", "12345689", "0")
    batch = json.loads((FIXTURES / "post_trade_batch_orders.response.json").read_text())["data"]
    assert [OrderAck.model_validate(item).s_code for item in batch] == ["0", "0"]
