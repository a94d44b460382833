"""OKX's batch answers: each failed item's sCode and its fix, not only the answer's "All operations failed"."""

from __future__ import annotations

import json

import pytest
import requests

from okxcore.answers import answer_data
from okxcore.errors import ItemsRejectedError


def response(payload: dict) -> requests.Response:
    answer = requests.Response()
    answer.status_code, answer._content = 200, json.dumps(payload).encode()
    return answer


def test_a_failed_batch_names_each_items_code_okx_words_and_the_fix_from_the_error_table():
    payload = {
        "code": "1",
        "msg": "All operations failed",
        "data": [{"ordId": "", "clOrdId": "", "sCode": "51008", "sMsg": "Insufficient USDT balance"}],
    }
    with pytest.raises(ItemsRejectedError) as caught:
        answer_data(response(payload), "/api/v5/trade/order", None)  # what `okx-shield call` reads
    error = caught.value
    assert error.items == [(0, "51008", "Insufficient USDT balance")]
    assert "item 0: sCode 51008 Insufficient USDT balance" in error.message  # it said only "OKX error 1 ..."
    assert "sCode 51008: Not enough balance for this order" in error.hint
    assert error.describe().startswith("OKX error 1 on /api/v5/trade/order: All operations failed (item 0:")


def test_a_partly_failed_batch_names_only_the_failed_items():
    payload = {
        "code": "2",
        "msg": "",
        "data": [
            {"clOrdId": "a", "sCode": "0", "sMsg": ""},
            {"clOrdId": "b", "sCode": "51016", "sMsg": "Duplicated clOrdId"},
        ],
    }
    with pytest.raises(ItemsRejectedError) as caught:
        answer_data(response(payload), "/api/v5/trade/batch-orders", None)
    assert caught.value.items == [(1, "51016", "Duplicated clOrdId")]
    assert "already pending" in caught.value.hint
