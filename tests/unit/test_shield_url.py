"""Given a pasted Shield URL, when it is parsed, then it is accepted or refused with the problem named."""

import pytest

from okxcore.errors import ShieldUrlError
from okxcore.shield import ProxyScheme, ShieldEndpoint

PASSWORD = "s3cr%40t-pw"  # percent-encoded "s3cr@t-pw"


@pytest.mark.parametrize(
    ("url", "scheme", "port"),
    [
        (f"https://user:{PASSWORD}@us-east-shield-01.quotaguard.com:9294", ProxyScheme.HTTPS, 9294),
        (f"socks5h+tls://user:{PASSWORD}@us-east-shield-01.quotaguard.com:1081", ProxyScheme.SOCKS5H_TLS, 1081),
        (f"socks5h://user:{PASSWORD}@shield.quotaguard.com:9293", ProxyScheme.SOCKS5H, 9293),
        (f"HTTPS://user:{PASSWORD}@[2001:db8::1]:9294", ProxyScheme.HTTPS, 9294),
    ],
)
def test_accepted_forms(url, scheme, port):
    endpoint = ShieldEndpoint.parse(url)
    assert endpoint.scheme is scheme
    assert endpoint.port == port
    assert endpoint.username == "user"
    assert endpoint.password == "s3cr@t-pw"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("socks5://user:pw@host:9293", "socks5h://"),
        ("http://user:pw@host:9294", "clear text"),
        ("ftp://user:pw@host:21", "not supported"),
        ("https://host:9294", "username and password"),
        ("https://user@host:9294", "username and password"),
        ("https://user:pw@host", "no port"),
        ("https://user:pw@host:0", "no port"),
        ("https://user:pw@host:99999", "invalid port"),
        ("https://user:pw@host:port", "invalid port"),
        (" https://user:pw@host:9294", "whitespace"),
        ("https://user:pw@host:9294\n", "whitespace"),
        ("https://user:pw@host:9294/path", "path"),
        ("https://user:pw@:9294", "no host"),
        ("user:pw@host:9294", "no scheme"),
        ("", "empty"),
    ],
)
def test_refused_forms_name_the_problem(url, words):
    with pytest.raises(ShieldUrlError) as caught:
        ShieldEndpoint.parse(url)
    text = caught.value.describe()
    assert words in text
    assert caught.value.field == "url"
    assert "pw" not in text.replace("password", "")


def test_password_never_in_repr_str_or_errors():
    endpoint = ShieldEndpoint.parse("https://alice:hunter2-very-secret@proxy.example:9294", expected_ips=["1.2.3.4"])
    for text in (repr(endpoint), str(endpoint), endpoint.redacted_url(), f"{endpoint}"):
        assert "hunter2-very-secret" not in text
    assert "***" in str(endpoint)
    with pytest.raises(ShieldUrlError) as caught:
        ShieldEndpoint.parse("http://alice:hunter2-very-secret@proxy.example:9294")
    assert "hunter2-very-secret" not in str(caught.value) + caught.value.describe()


def test_expected_ips_are_validated_and_canonical():
    endpoint = ShieldEndpoint.parse("https://u:p@h:9294", expected_ips=["52.1.2.3", "2001:DB8::1", "52.1.2.3"])
    assert endpoint.expected_ips == ("52.1.2.3", "2001:db8::1")
    with pytest.raises(ShieldUrlError) as caught:
        ShieldEndpoint.parse("https://u:p@h:9294", expected_ips=["52.1.2.3", "not-an-ip"])
    assert caught.value.field == "expected_ips"
    assert "entry 1" in str(caught.value)


@pytest.mark.parametrize("password", ["ab#12", "12#34", "a?b", "a/b"])
def test_an_unencoded_delimiter_in_the_password_says_to_percent_encode_it(password):
    # It was "has an invalid port" or "must not have a path, query or fragment": true, and no help.
    with pytest.raises(ShieldUrlError) as caught:
        ShieldEndpoint.parse(f"https://user:{password}@proxy.example:9294")
    text = caught.value.describe()
    assert "in its username or password, not percent-encoded" in text and "Percent-encode it" in text
    assert password not in text


def test_a_percent_encoded_hash_in_the_password_is_accepted():
    endpoint = ShieldEndpoint.parse("https://user:ab%2312@proxy.example:9294")
    assert endpoint.address == "proxy.example:9294"
