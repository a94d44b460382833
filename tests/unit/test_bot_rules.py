"""The rules a bot's own client lives by under okx-shield: which requests the pause stops, how often the guard is
read and the key's use written, and what the redaction removes."""

from __future__ import annotations

import logging

import pytest

from okxcore.bots.guard import GuardCache, pause_applies
from okxcore.bots.key_use import KeyUseRecorder
from okxcore.bots.redaction import RedactingLogger, Redactor
from okxcore.errors import TradingPausedError
from okxcore.trading_guard import TradingGuard


@pytest.mark.parametrize(
    ("method", "path", "stopped"),
    [
        ("POST", "/api/v5/trade/order", True),
        ("POST", "/api/v5/trade/batch-orders", True),
        ("POST", "/api/v5/trade/amend-order", True),
        ("POST", "/api/v5/trade/order-algo", True),
        ("POST", "/api/v5/asset/withdrawal", True),
        ("POST", "/api/v5/trade/cancel-order", False),
        ("POST", "/api/v5/trade/cancel-batch-orders", False),
        ("POST", "/api/v5/trade/mass-cancel", False),
        ("GET", "/api/v5/trade/order?instId=BTC-USDT&ordId=1", False),
        ("GET", "/api/v5/account/balance", False),
    ],
)
def test_the_pause_stops_every_post_but_a_cancel(method, path, stopped) -> None:
    assert pause_applies(method, path) is stopped


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_guard_is_read_once_per_ttl_and_only_for_orders() -> None:
    reads: list[float] = []
    clock = Clock()
    guard = TradingGuard()

    def read() -> TradingGuard:
        reads.append(clock.now)
        return guard

    cache = GuardCache(read, ttl_s=30, clock=clock)
    cache.check("GET", "/api/v5/account/balance")
    assert reads == []
    cache.check("POST", "/api/v5/trade/order")
    cache.check("POST", "/api/v5/trade/order")
    assert reads == [1000.0]
    guard = TradingGuard(paused=True, reason="egress is 198.51.100.7", since="2026-01-01", set_by="probe")
    clock.now += 31
    with pytest.raises(TradingPausedError, match=r"trading is paused: egress is 198\.51\.100\.7"):
        cache.check("POST", "/api/v5/trade/order")
    assert len(reads) == 2
    cache.check("POST", "/api/v5/trade/cancel-order")  # cancels pass while paused


def test_an_unreadable_guard_stops_orders_and_is_read_again_next_time() -> None:
    attempts = []

    def read() -> TradingGuard:
        attempts.append(1)
        raise RuntimeError("AccessDeniedException: not authorized to perform dynamodb:GetItem on okx-shield-state")

    cache = GuardCache(read, clock=Clock())
    for _ in range(2):
        with pytest.raises(TradingPausedError, match=r"could not be read .*AccessDenied") as raised:
            cache.check("POST", "/api/v5/trade/order")
    assert "BotPolicyArn" in raised.value.hint
    assert len(attempts) == 2


def test_key_use_is_written_at_most_once_per_interval_and_retried_after_a_failure() -> None:
    writes: list[tuple[str, int]] = []
    clock = Clock()
    fail = [True]

    def write(name: str, at_ms: int) -> None:
        if fail[0]:
            fail[0] = False
            raise RuntimeError("ResourceNotFoundException")
        writes.append((name, at_ms))

    recorder = KeyUseRecorder(write, interval_s=300, clock=clock)
    assert recorder.record_now("keys/a") is False  # the write failed: not remembered
    assert recorder.record_now("keys/a") is True
    assert recorder.record_now("keys/a") is False  # within the interval
    recorder.used("keys/b")
    recorder.used("keys/b")
    assert recorder.flush(2.0)
    clock.now += 301
    recorder.used("keys/a")
    assert recorder.flush(2.0)
    assert writes == [("keys/a", 1_000_000), ("keys/b", 1_000_000), ("keys/a", 1_301_000)]


def test_redaction_covers_ccxt_style_log_calls(caplog) -> None:
    redact = Redactor(["s3cr3t-passphrase", "ab"])
    logger = RedactingLogger(logging.getLogger("test.bots.redaction"), redact)
    with caplog.at_level(logging.DEBUG, logger="test.bots.redaction"):
        headers = {"OK-ACCESS-PASSPHRASE": "s3cr3t-passphrase"}
        logger.debug("%s %s, Request: %s %s", "POST", "https://www.okx.com/x", headers, "{}")
    assert "s3cr3t-passphrase" not in caplog.text and "***" in caplog.text
    assert redact("ab cd") == "ab cd"  # too short to be a secret: left alone


def test_a_tunnel_to_another_host_than_the_bots_is_refused_before_the_proxy_is_contacted() -> None:
    from okxcore.errors import TargetNotAllowedError
    from okxcore.shield import ShieldEndpoint
    from okxcore.tunnel import TunnelOpener
    from okxlocal.proxies import StalledListener

    with StalledListener() as proxy:
        opener = TunnelOpener(
            endpoint=ShieldEndpoint.parse(proxy.url("socks5h")),
            handshake_timeout=0.5,
            allowed_targets=frozenset({("www.okx.com", 443)}),
        )
        for host, port in (("evil.example", 443), ("www.okx.com", 8443), ("okx.com", 443)):
            with pytest.raises(TargetNotAllowedError, match=f"{host}:{port}"):
                opener.open(host, port)
        assert proxy.accepted == 0


def test_a_shield_session_keeps_its_own_ca_bundle_whatever_a_request_asks(tmp_path) -> None:
    from okxcore.shield import ShieldEndpoint
    from okxcore.transport import DirectConnectionRefusedError, build_session

    session = build_session(ShieldEndpoint.parse("socks5h://u:p@127.0.0.1:9"))
    for verify in (False, str(tmp_path / "other-ca.pem")):
        with pytest.raises(DirectConnectionRefusedError):
            session.request("GET", "https://www.okx.com/api/v5/public/time", verify=verify)


def _ask_relay(port: int, request: bytes) -> bytes:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
        return answer


def test_the_loopback_relay_carries_only_authenticated_connects_to_the_bots_host() -> None:
    import base64

    from okxcore.bots.relay import RELAY_USER, LoopbackRelay
    from okxcore.shield import ShieldEndpoint
    from okxcore.tunnel import TunnelOpener
    from okxlocal.proxies import StalledListener

    with StalledListener() as proxy:
        opener = TunnelOpener(
            endpoint=ShieldEndpoint.parse(proxy.url("socks5h")),
            handshake_timeout=0.5,
            allowed_targets=frozenset({("www.okx.com", 443)}),
        )
        relay = LoopbackRelay(opener)
        try:
            token = base64.b64encode(f"{RELAY_USER}:{relay.token}".encode()).decode()
            auth = f"Proxy-Authorization: Basic {token}\r\n".encode()
            no_token = _ask_relay(relay.port, b"CONNECT www.okx.com:443 HTTP/1.1\r\nHost: www.okx.com:443\r\n\r\n")
            plain = _ask_relay(relay.port, b"GET http://www.okx.com/ HTTP/1.1\r\n" + auth + b"\r\n")
            elsewhere = _ask_relay(relay.port, b"CONNECT evil.example:443 HTTP/1.1\r\n" + auth + b"\r\n")
            stalled = _ask_relay(relay.port, b"CONNECT www.okx.com:443 HTTP/1.1\r\n" + auth + b"\r\n")
        finally:
            relay.close()
        assert no_token.startswith(b"HTTP/1.1 407 okx-shield: ")
        assert plain.startswith(b"HTTP/1.1 405 okx-shield: ")
        assert elsewhere.startswith(b"HTTP/1.1 403 okx-shield: refusing a tunnel to evil.example:443")
        assert stalled.startswith(b"HTTP/1.1 504 okx-shield: Shield proxy 127.0.0.1:") and b"Fix: " in stalled
        assert proxy.accepted == 1  # only the allowed host's tunnel was tried


def test_proxy_variables_are_named_once_and_their_values_never(caplog) -> None:
    from okxcore import bots
    from okxcore.bots.settings import BotSettings, tell_about_proxy_variables

    settings = BotSettings.from_environ(
        {"HTTPS_PROXY": "socks5h://user:pw-in-url@shield.example:1080", "all_proxy": "http://proxy.example:3128"}
    )
    bots.reset()
    with caplog.at_level(logging.WARNING, logger="okxcore.bots"):
        tell_about_proxy_variables(settings)
        tell_about_proxy_variables(settings)  # a second client of the same process: said already
    [record] = caplog.records
    message = record.getMessage()
    assert message.startswith("okx-shield: HTTPS_PROXY, all_proxy are set in the function's environment.")
    assert "boto3 sends the bot's AWS calls" in message and "Fix: if it is the Shield URL, remove it" in message
    assert "pw-in-url" not in message and "proxy.example" not in message
    assert BotSettings.from_environ({}).proxy_variables() == []
    bots.reset()
