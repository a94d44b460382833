"""okxcore.wire: one HTTP/1.1 exchange, over a real socket pair whose other end answers with the bytes a server
would send (framing by length, chunks and close; gzip; 1xx; broken and slow answers), and what the request looks
like on the wire."""

from __future__ import annotations

import gzip
import socket
import threading
import zlib

import pytest

from okxcore.wire import WIRE_ACCEPT_ENCODING, WireError, exchange, request_bytes

REQUEST = request_bytes("GET", "www.okx.com", "/api/v5/account/config", {"Accept": "application/json"}, b"")


def answered(raw: bytes, *, close: bool = True, timeout_s: float = 2.0) -> tuple[object, bytes]:
    """Exchange REQUEST with a peer that reads the request, then writes `raw` (and closes, unless told not to).
    Returns the answer (or the WireError) and the request bytes the peer received."""
    ours, theirs = socket.socketpair()
    ours.settimeout(timeout_s)
    received = bytearray()

    def peer() -> None:
        while b"\r\n\r\n" not in received:
            received.extend(theirs.recv(65536))
        theirs.sendall(raw)
        if close:
            theirs.close()

    thread = threading.Thread(target=peer, daemon=True)
    thread.start()
    try:
        outcome: object = exchange(ours, "GET", REQUEST)
    except WireError as exc:
        outcome = exc
    finally:
        ours.close()
        thread.join(timeout=5)
        if not close:
            theirs.close()
    return outcome, bytes(received)


def test_the_request_on_the_wire_is_host_then_the_headers_in_order_then_the_body():
    sent = request_bytes("POST", "127.0.0.1:8443", "/api/v5/trade/order", {"B": "2", "A": "1"}, b'{"x":1}')
    assert sent == (
        b'POST /api/v5/trade/order HTTP/1.1\r\nHost: 127.0.0.1:8443\r\nB: 2\r\nA: 1\r\nContent-Length: 7\r\n\r\n{"x":1}'
    )
    assert b"Content-Length" not in REQUEST  # a GET without a body says nothing about one, as http.client does
    assert request_bytes("POST", "h", "/p", {}, b"").endswith(b"Content-Length: 0\r\n\r\n")


@pytest.mark.parametrize(
    ("method", "target", "headers"),
    [
        ("GET", "/a b", {}),
        ("GET", "/a\r\nX: y", {}),
        ("GET", "/a", {"OK-ACCESS-PASSPHRASE": "secret\r\nX-Injected: 1"}),
        ("GET", "/a", {"Bad:Name": "v"}),
        ("GET", "/a", {"OK-ACCESS-KEY": "caf\u00e9\u20ac"}),
        ("G ET", "/a", {}),
    ],
)
def test_an_illegal_request_is_refused_before_anything_is_sent_and_the_error_quotes_no_value(method, target, headers):
    with pytest.raises(WireError) as caught:
        request_bytes(method, "h", target, headers, b"")
    assert caught.value.kind == "request"
    assert "secret" not in str(caught.value) and "X-Injected" not in str(caught.value)


def test_content_length_framing_and_a_reusable_connection():
    answer, received = answered(
        b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"code":0}\n', close=False
    )
    assert not isinstance(answer, WireError)
    assert (answer.status, answer.content, answer.reusable) == (200, b'{"code":0}\n', True)
    assert answer.headers["content-type"] == "application/json"
    assert received == REQUEST


def test_chunked_gzip_answer_is_undone_and_trailers_are_skipped():
    body = gzip.compress(b'{"code":"0","data":[]}')
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:5], body[5:]))
    raw = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n"
        + chunks
        + b"0\r\nX-T: 1\r\n\r\n"
    )
    answer, _ = answered(raw, close=False)
    assert not isinstance(answer, WireError)
    assert answer.content == b'{"code":"0","data":[]}'
    assert answer.reusable


def test_deflate_with_and_without_the_zlib_header():
    for encoded in (zlib.compress(b"abc"), zlib.compress(b"abc")[2:-4]):
        raw = b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nContent-Length: %d\r\n\r\n%s" % (len(encoded), encoded)
        answer, _ = answered(raw)
        assert not isinstance(answer, WireError) and answer.content == b"abc"


def test_informational_answers_are_skipped_and_close_or_http10_ends_reuse():
    answer, _ = answered(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Busy\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"
    )
    assert not isinstance(answer, WireError)
    assert (answer.status, answer.content, answer.reusable) == (503, b"{}", False)
    answer, _ = answered(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}")
    assert not isinstance(answer, WireError) and not answer.reusable


def test_a_body_ended_by_the_connection_closing_is_read_whole_and_never_reused():
    answer, _ = answered(b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 200_000)
    assert not isinstance(answer, WireError)
    assert answer.content == b"x" * 200_000 and not answer.reusable


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b"", "send"),  # closed before answering (a dropped keep-alive connection; an order's outcome unknown)
        (b"HTTP/1.1 200 OK\r\nContent-Le", "send"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", "send"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}", "body"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "body"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "body"),
        (b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 2\r\n\r\n{}", "decode"),
        (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\n{}", "decode"),
    ],
)
def test_a_broken_answer_says_where_it_broke(raw, kind):
    answer, _ = answered(raw)
    assert isinstance(answer, WireError)
    assert answer.kind == kind


def test_a_silent_peer_is_a_timeout_before_the_headers_and_another_kind_inside_the_body():
    answer, _ = answered(b"", close=False, timeout_s=0.2)
    assert isinstance(answer, WireError) and answer.kind == "headers_timeout"
    answer, _ = answered(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{", close=False, timeout_s=0.2)
    assert isinstance(answer, WireError) and answer.kind == "body_timeout"


def test_only_codings_the_wire_can_undo_are_offered():
    assert WIRE_ACCEPT_ENCODING == "gzip, deflate"
