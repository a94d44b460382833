"""Signing reproduces OKX's documented recipe on the documented example inputs (okx.md)."""

import base64
import hashlib
import hmac

from okxcore.signing import okx_timestamp, sign

DOC_SECRET = "22582BD0CFF14C41EDBF1AB98506286D"
DOC_TIMESTAMP = "2020-12-08T09:08:57.715Z"


def reference(secret: str, prehash: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), prehash.encode(), hashlib.sha256).digest()).decode()


def test_get_with_query_matches_the_documented_recipe():
    path = "/api/v5/account/balance?ccy=BTC"
    expected = reference(DOC_SECRET, DOC_TIMESTAMP + "GET" + path)
    assert sign(DOC_SECRET, DOC_TIMESTAMP, "GET", path) == expected
    # a frozen value, so that a change to the recipe (or to hmac's inputs) cannot pass silently
    assert expected == "HiZhvSfMtWJA3uUIVXV3a/bSXNPCWvYFXoGCVS8V4zY="


def test_post_signs_the_exact_body_bytes():
    body = '{"instId":"BTC-USDT","tdMode":"cash","clOrdId":"b15","side":"buy","ordType":"limit","px":"2.15","sz":"2"}'
    path = "/api/v5/trade/order"
    expected = reference(DOC_SECRET, DOC_TIMESTAMP + "POST" + path + body)
    assert sign(DOC_SECRET, DOC_TIMESTAMP, "post", path, body.encode()) == expected
    # one changed byte (a space after a colon) is a different signature
    assert sign(DOC_SECRET, DOC_TIMESTAMP, "POST", path, body.replace('":"', '": "', 1)) != expected


def test_timestamp_has_exactly_three_fraction_digits():
    assert okx_timestamp(1607418537715) == DOC_TIMESTAMP
    assert okx_timestamp(1607418537005) == "2020-12-08T09:08:57.005Z"
    assert okx_timestamp(1607418537000) == "2020-12-08T09:08:57.000Z"
