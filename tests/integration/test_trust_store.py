"""The CAs trusted for the proxy's TLS and for OKX's: certifi's bundle or the configured file, never the
system store, so SSL_CERT_FILE / SSL_CERT_DIR cannot add a CA. Real proxies and the simulator on loopback."""

from __future__ import annotations

import pytest

from okxcore.client import OkxClient
from okxcore.errors import OkxTransportError, ProxyTlsError
from okxcore.shield import ShieldEndpoint
from okxcore.transport import build_session
from okxcore.trust import TrustStoreError
from okxlocal.proxies import ProxyKind


@pytest.fixture
def trusting_env(monkeypatch, ca_path, tmp_path):
    """The environment points OpenSSL's default store at the local CA: a planted CA, as an attacker would."""
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_path))
    (tmp_path / "certs").mkdir()
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "certs"))


def test_ssl_cert_file_does_not_make_the_proxy_trusted(trusting_env, proxy_stack, ca_path):
    # Given the https proxy with a certificate from the local CA, and no proxy CA bundle configured
    proxy = proxy_stack.get(ProxyKind.HTTPS)
    session = build_session(ShieldEndpoint.parse(proxy.url()), ca_bundle=str(ca_path), connect_timeout=2.0)
    client = OkxClient(session, base_url="https://www.okx.com")
    # When a call opens a tunnel, Then TLS to the proxy fails: the planted CA was not read
    with pytest.raises(ProxyTlsError, match="not trusted"):
        client.server_time()


def test_ssl_cert_file_does_not_make_okx_trusted(trusting_env, proxy_stack, sim, ca_path):
    # Given a proxy whose CA is configured, and no OKX CA bundle: the simulator's certificate is from the local CA
    proxy = proxy_stack.get(ProxyKind.HTTPS)
    session = build_session(ShieldEndpoint.parse(proxy.url()), proxy_ca_bundle=str(ca_path), connect_timeout=2.0)
    client = OkxClient(session, base_url=sim.url, allow_other_hosts=True)
    # When OKX is called, Then TLS to "OKX" fails, and no request reached it
    with pytest.raises(OkxTransportError):
        client.server_time()
    assert sim.stats.total_requests() == 0


def test_the_configured_proxy_bundle_is_what_is_trusted(proxy_stack, ca_path):
    proxy = proxy_stack.get(ProxyKind.HTTPS)
    session = build_session(ShieldEndpoint.parse(proxy.url()), proxy_ca_bundle=str(ca_path))
    assert session.tunnel.proxy_tls_context().cert_store_stats()["x509"] == 1


@pytest.mark.parametrize("kind", ["missing", "directory", "not-pem", "empty"])
@pytest.mark.parametrize("which", ["ca_bundle", "proxy_ca_bundle"])
def test_an_unusable_ca_bundle_is_named_with_its_problem_when_the_session_is_built(tmp_path, which, kind):
    path = tmp_path / "ca.pem"
    if kind == "directory":
        path.mkdir()
    elif kind == "not-pem":
        path.write_bytes(b"\xff\xfe not a certificate")
    elif kind == "empty":
        path.write_text("")
    endpoint = ShieldEndpoint.parse("https://u:p@127.0.0.1:9294")
    with pytest.raises(TrustStoreError) as caught:
        build_session(endpoint, **{which: str(path)})
    assert str(path) in caught.value.problem
    assert ("--proxy-ca-bundle" in caught.value.field) == (which == "proxy_ca_bundle")
