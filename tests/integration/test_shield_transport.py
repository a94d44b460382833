"""Given the simulator behind a real proxy program, the OKX client reaches it only through Shield.

Every test here runs against real microsocks / stunnel / tinyproxy processes on loopback. The proxy's
outgoing address is 127.0.0.2 (the "static IP"); direct connections come from 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from decimal import Decimal

import pytest
import requests

from okxcore.client import OkxClient, RetryPolicy
from okxcore.credentials import OkxKeySecret
from okxcore.errors import (
    EnvironmentMismatchError,
    InvalidSignatureError,
    IpNotAllowedError,
    KeyGoneError,
    OrderOutcomeUnknownError,
    PassphraseError,
    ProxyAuthError,
    ProxyTimeoutError,
    ProxyUnreachableError,
    RateLimitedError,
)
from okxcore.models import OrderRequest
from okxcore.shield import ShieldEndpoint
from okxcore.signing import okx_timestamp, sign
from okxcore.transport import build_session
from okxlocal.pki import local_okx_hostname
from okxlocal.proxies import ProxyKind, StalledListener
from okxlocal.seeds import new_key, seed_with
from okxlocal.stack import key_secret_body

EGRESS_IP = "127.0.0.2"


def key_secret(key, **changes) -> OkxKeySecret:
    return OkxKeySecret.model_validate(key_secret_body(key, **changes))


def make_client(url: str, sim, ca_path, key=None, *, handshake_timeout: float = 5.0, **client_kw) -> OkxClient:
    session = build_session(
        ShieldEndpoint.parse(url),
        ca_bundle=str(ca_path),
        proxy_ca_bundle=str(ca_path),
        connect_timeout=2.0,
        handshake_timeout=handshake_timeout,
    )
    client_kw.setdefault("retry", RetryPolicy(attempts=4, base_delay_s=0.01, max_delay_s=0.05))
    return OkxClient(
        session, key=key_secret(key) if key is not None else None, base_url=sim.url, allow_other_hosts=True, **client_kw
    )


def test_signed_calls_succeed_through_each_proxy_and_leave_from_the_static_ip(proxy, sim, ca_path, trade_key):
    client = make_client(proxy.url(), sim, ca_path, trade_key)
    config = client.account_config()
    assert config.ip == (EGRESS_IP,)
    assert "trade" in config.perm
    assert client.balance(["USDT"]).available("USDT") == Decimal("10000")
    assert sim.stats.requests_from(EGRESS_IP) == 2
    assert sim.stats.requests_from("127.0.0.1") == 0


def test_the_allowlist_is_real_a_direct_call_gets_50110_naming_the_direct_ip(sim, ca_path, trade_key):
    # Deliberately NOT the product's client: the product has no direct path, so the test builds one.
    timestamp = okx_timestamp(int(time.time() * 1000))
    path = "/api/v5/account/config"
    headers = {
        "OK-ACCESS-KEY": trade_key.api_key,
        "OK-ACCESS-SIGN": sign(trade_key.secret, timestamp, "GET", path),
        "OK-ACCESS-TIMESTAMP": timestamp,
        "OK-ACCESS-PASSPHRASE": trade_key.passphrase,
    }
    answer = requests.get(sim.url + path, headers=headers, verify=str(ca_path), timeout=5)
    assert answer.json()["code"] == "50110"
    assert "127.0.0.1" in answer.json()["msg"]


def test_a_key_bound_elsewhere_reports_the_ip_okx_saw(proxy, pki, ca_path):
    key = new_key("2002", "elsewhere", ips=["203.0.113.7"])
    cert = pki.server_cert("okx-sim")
    from okxlocal.sim import OkxSimulator

    with (
        OkxSimulator(
            seed_with([key]), certfile=cert.cert_chain_path, keyfile=cert.key_path, hostname=local_okx_hostname()
        ) as sim,
        pytest.raises(IpNotAllowedError) as caught,
    ):
        make_client(proxy.url(), sim, ca_path, key).account_config()
    assert caught.value.seen_ip == EGRESS_IP
    assert EGRESS_IP in caught.value.hint


def test_keep_alive_one_tunnel_for_many_calls(proxy, sim, ca_path, trade_key):
    client = make_client(proxy.url(), sim, ca_path, trade_key)
    for _ in range(10):  # within OKX's limits: ticker 20 and balance 10 per 2 s
        client.ticker("BTC-USDT")
        client.balance()
    assert client.session.tunnel.stats.tunnels_opened == 1
    assert sim.stats.connections_from(EGRESS_IP) == 1
    assert sim.stats.requests_from(EGRESS_IP) == 20


def test_a_pooled_connection_that_died_is_replaced_for_a_safe_read(proxy, sim, ca_path, trade_key):
    client = make_client(proxy.url(), sim, ca_path, trade_key)
    client.account_config()
    sim._server.close_active_connections()  # what a Lambda freeze does to an idle keep-alive connection
    time.sleep(0.2)
    assert client.account_config().uid == trade_key.uid
    assert client.session.tunnel.stats.tunnels_opened == 2


# --- failures of the proxy: typed, bounded, and nothing reaches OKX ---------------------------


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("scheme", ["https", "socks5h", "socks5h+tls"])
def test_proxy_down_is_a_typed_error_and_okx_sees_nothing(scheme, sim, ca_path, trade_key):
    client = make_client(f"{scheme}://u:p@127.0.0.1:{_closed_port()}", sim, ca_path, trade_key)
    started = time.monotonic()
    with pytest.raises(ProxyUnreachableError) as caught:
        client.account_config()
    assert time.monotonic() - started < 3
    assert "connect" in str(caught.value)
    assert sim.stats.total_requests() == 0
    assert sim.stats.total_connections() == 0


@pytest.mark.parametrize("scheme", ["https", "socks5h", "socks5h+tls"])
def test_stalled_proxy_times_out_within_the_handshake_budget(scheme, sim, ca_path, trade_key):
    with StalledListener() as stalled:
        client = make_client(f"{scheme}://u:p@127.0.0.1:{stalled.port}", sim, ca_path, trade_key, handshake_timeout=0.8)
        started = time.monotonic()
        with pytest.raises(ProxyTimeoutError):
            client.account_config()
        elapsed = time.monotonic() - started
    assert 0.7 < elapsed < 2.5
    assert sim.stats.total_requests() == 0


def test_wrong_proxy_password_is_an_auth_error(proxy, sim, ca_path, trade_key):
    client = make_client(proxy.url(password="wrong-password"), sim, ca_path, trade_key)
    with pytest.raises(ProxyAuthError) as caught:
        client.account_config()
    assert "wrong-password" not in caught.value.describe()
    assert proxy.password not in caught.value.describe()
    assert sim.stats.total_requests() == 0


# --- what the proxy sees ------------------------------------------------------------------------


class RecordingRelay:
    """A TCP relay in front of the proxy that keeps every byte the proxy is sent and sends back."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.seen = bytearray()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                with self._lock:
                    self.seen.extend(chunk)
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()


@pytest.mark.parametrize("kind", list(ProxyKind), ids=[k.value for k in ProxyKind])
def test_the_proxy_only_relays_ciphertext(kind, proxy_stack, sim, ca_path, trade_key):
    proxy = proxy_stack.get(kind)
    relay = RecordingRelay(proxy.port)
    try:
        client = make_client(proxy.url().replace(f":{proxy.port}", f":{relay.port}"), sim, ca_path, trade_key)
        signatures: list[str] = []
        fetch = client.session.fetch

        def fetch_recording_the_signature(*args, headers, **kwargs):
            signatures.append(headers["OK-ACCESS-SIGN"])
            return fetch(*args, headers=headers, **kwargs)

        client.session.fetch = fetch_recording_the_signature
        client.account_config()
        client.place_order(
            OrderRequest(instId="BTC-USDT", side="buy", ordType="market", sz=Decimal("10"), clOrdId="relaytest1")
        )
    finally:
        relay.close()
    seen = bytes(relay.seen)
    assert len(signatures) == 2
    assert len(seen) > 1000  # the relay really carried the calls
    if kind is ProxyKind.SOCKS5:
        assert (
            sim.hostname.encode() in seen
        )  # the proxy does see the host name (SOCKS5 domain), which proves the relay reads
    for secret in (
        trade_key.secret,
        trade_key.passphrase,
        trade_key.api_key,
        *signatures,
        "relaytest1",
        "/api/v5/account/config",
    ):
        assert secret.encode() not in seen


def test_socks5h_never_resolves_the_okx_host_locally(proxy_stack, sim, ca_path, trade_key, monkeypatch):
    if sim.hostname != "localhost":
        pytest.skip("localhost resolves to IPv6 here; the simulator is reached by IP, so no name to watch")
    looked_up: list[str] = []
    real_getaddrinfo = socket.getaddrinfo

    def recording_getaddrinfo(host, *args, **kwargs):
        looked_up.append(str(host))
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", recording_getaddrinfo)
    for kind in ProxyKind:
        client = make_client(proxy_stack.get(kind).url(), sim, ca_path, trade_key)
        client.account_config()
    assert "localhost" not in looked_up  # the OKX host of the test
    assert "127.0.0.1" in looked_up  # the proxy's host was resolved, so the recorder did record


def test_proxy_environment_variables_change_nothing(proxy, sim, ca_path, trade_key, monkeypatch):
    bogus = f"http://127.0.0.1:{_closed_port()}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, bogus)
    monkeypatch.setenv("NO_PROXY", "*")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/ca.pem")
    client = make_client(proxy.url(), sim, ca_path, trade_key)
    assert client.account_config().uid == trade_key.uid
    assert sim.stats.requests_from(EGRESS_IP) == 1
    assert sim.stats.requests_from("127.0.0.1") == 0


# --- OKX's own checks, through the product's client ---------------------------------------------


@pytest.fixture
def https_proxy(proxy_stack):
    return proxy_stack.get(ProxyKind.HTTPS)


def test_wrong_secret_is_invalid_signature(https_proxy, sim, ca_path, trade_key):
    client = make_client(https_proxy.url(), sim, ca_path)
    client.key = key_secret(trade_key, api_secret="0" * 32)
    with pytest.raises(InvalidSignatureError) as caught:
        client.account_config()
    assert caught.value.code == "50113"


def test_wrong_passphrase(https_proxy, sim, ca_path, trade_key):
    client = make_client(https_proxy.url(), sim, ca_path)
    client.key = key_secret(trade_key, passphrase="not-the-passphrase")
    with pytest.raises(PassphraseError):
        client.account_config()


def test_demo_flag_mismatch(https_proxy, sim, ca_path, trade_key):
    client = make_client(https_proxy.url(), sim, ca_path, trade_key, demo=True)
    with pytest.raises(EnvironmentMismatchError) as caught:
        client.account_config()
    assert "demo" in caught.value.hint


def test_deleted_key_and_wrong_region(https_proxy, pki, ca_path):
    deleted = new_key("3003", "deleted", ips=[EGRESS_IP], deleted=True)
    eea = new_key("3004", "eea-key", ips=[EGRESS_IP], region="eea")
    cert = pki.server_cert("okx-sim")
    from okxlocal.sim import OkxSimulator

    with OkxSimulator(
        seed_with([deleted, eea]), certfile=cert.cert_chain_path, keyfile=cert.key_path, hostname=local_okx_hostname()
    ) as sim:
        with pytest.raises(KeyGoneError) as gone:
            make_client(https_proxy.url(), sim, ca_path, deleted).account_config()
        with pytest.raises(KeyGoneError) as region:
            make_client(https_proxy.url(), sim, ca_path, eea).account_config()
    assert gone.value.code == "50111"
    assert not gone.value.wrong_region_possible
    assert region.value.code == "50119"
    assert "eea.okx.com" in region.value.hint


def test_clock_skew_is_resynced_and_resigned_once(https_proxy, sim, ca_path, trade_key):
    sim.faults.clock_offset_ms = 90_000  # OKX's clock runs 90 s ahead of ours
    client = make_client(https_proxy.url(), sim, ca_path, trade_key)
    assert client.account_config().uid == trade_key.uid
    codes = [record.code for record in sim.stats.requests]
    assert codes == ["50102", "0", "0"]  # rejected, /public/time, re-signed retry
    assert 85_000 < client.clock_offset_ms < 95_000


def test_rate_limits_are_retried_for_reads_but_never_for_orders(https_proxy, sim, ca_path, trade_key):
    client = make_client(https_proxy.url(), sim, ca_path, trade_key)
    sim.faults.rate_limit_storm = 2
    assert client.account_config().uid == trade_key.uid
    assert [r.code for r in sim.stats.requests] == ["50011", "50011", "0"]
    sim.stats.reset()
    sim.faults.rate_limit_storm = 1
    with pytest.raises(RateLimitedError):
        client.place_order(
            OrderRequest(instId="BTC-USDT", side="buy", ordType="market", sz=Decimal("10"), clOrdId="ratelimited1")
        )
    assert sim.stats.total_requests() == 1
    assert sim.orders() == []


def test_an_order_whose_answer_is_lost_is_unknown_not_resent(https_proxy, sim, ca_path, trade_key):
    client = make_client(https_proxy.url(), sim, ca_path, trade_key)
    sim.faults.drop_after_order = 1
    order = OrderRequest(instId="BTC-USDT", side="buy", ordType="market", sz=Decimal("25"), clOrdId="lostanswer1")
    with pytest.raises(OrderOutcomeUnknownError) as caught:
        client.place_order(order)
    assert caught.value.cl_ord_id == "lostanswer1"
    assert len(sim.orders()) == 1  # exactly one order exists: it was accepted, and not sent again
    found = client.get_order("BTC-USDT", cl_ord_id="lostanswer1")
    assert found is not None
    assert found.state == "filled"


def test_public_data_and_unknown_orders(https_proxy, sim, ca_path):
    client = make_client(https_proxy.url(), sim, ca_path)
    assert client.ticker("BTC-USDT").ask_px == Decimal("60010")
    instrument = client.instrument("BTC-USDT")
    assert instrument is not None
    assert instrument.lot_sz == Decimal("0.00000001")
    server = client.server_time().ts
    assert abs(server - time.time() * 1000) < 5000


def test_order_lookup_of_a_missing_id_is_none(https_proxy, sim, ca_path, trade_key):
    client = make_client(https_proxy.url(), sim, ca_path, trade_key)
    assert client.get_order("BTC-USDT", cl_ord_id="neverplaced1") is None


def test_no_secret_in_any_error_text(https_proxy, sim, ca_path, trade_key):
    client = make_client(https_proxy.url(), sim, ca_path)
    client.key = key_secret(trade_key, api_secret="Z" * 32)
    with pytest.raises(InvalidSignatureError) as caught:
        client.account_config()
    text = caught.value.describe() + repr(caught.value) + json.dumps(caught.value.args)
    for secret in ("Z" * 32, trade_key.passphrase, trade_key.api_key, https_proxy.password):
        assert secret not in text


def test_an_untrusted_okx_certificate_is_refused_without_retries(https_proxy, sim, tmp_path, trade_key):
    import trustme

    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    session = build_session(
        ShieldEndpoint.parse(https_proxy.url()), ca_bundle=str(other_ca), proxy_ca_bundle=str(https_proxy.ca_path)
    )
    client = OkxClient(session, key=key_secret(trade_key), base_url=sim.url, allow_other_hosts=True)
    from okxcore.errors import OkxTransportError

    with pytest.raises(OkxTransportError, match="TLS to OKX failed"):
        client.account_config()
    assert session.tunnel.stats.tunnels_opened == 1  # one attempt, no retry
    assert sim.stats.total_requests() == 0


def test_master_key_manages_sub_account_keys(https_proxy, pki, ca_path):
    from okxlocal.sim import OkxSimulator, SimAccount

    master = new_key("7000", "master", ips=[EGRESS_IP])
    sub_key = new_key("7001", "sub-bot", ips=[])
    accounts = [SimAccount(uid="7000", label="master"), SimAccount(uid="7001", main_uid="7000", sub_acct="bots1")]
    cert = pki.server_cert("okx-sim")
    with OkxSimulator(
        seed_with([master, sub_key], accounts),
        certfile=cert.cert_chain_path,
        keyfile=cert.key_path,
        hostname=local_okx_hostname(),
    ) as sim:
        client = make_client(https_proxy.url(), sim, ca_path, master)
        [sub] = client.subaccounts()
        assert sub.sub_acct == "bots1"
        [listed] = client.subaccount_api_keys("bots1")
        assert listed.api_key == sub_key.api_key
        assert listed.ip == ()
        rebound = client.modify_subaccount_api_key("bots1", sub_key.api_key, ips=[EGRESS_IP, "127.0.0.3"])
        assert rebound.ip == (EGRESS_IP, "127.0.0.3")
        created = client.create_subaccount_api_key(
            "bots1", label="new-bot", passphrase="Np-1" + "x" * 10, perm="read_only,trade", ips=[EGRESS_IP]
        )
        assert created.secret_key.get_secret_value()
        assert client.delete_subaccount_api_key("bots1", created.api_key) == "bots1"
        assert [k.label for k in client.subaccount_api_keys("bots1")] == ["sub-bot"]
