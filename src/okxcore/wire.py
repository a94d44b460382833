"""One HTTP/1.1 exchange on a connected socket: the request's bytes out, the whole answer in.

The OKX client's calls are small, signed, and many (one per key per run, 10,000 in a large audit). Through
http.client and urllib3 each cost about twice the CPU of its TLS and JSON together: header objects, an e-mail
parser for the answer's headers, URL re-parsing, per-header validation by regular expression. This module does
the same exchange directly, on a connection urllib3's pool made and keeps (ShieldSession.fetch): the tunnel, TLS
and the certificate checks stay urllib3's and transport.py's; only the bytes of one request and one answer are
handled here.

What an answer may be: a status line, headers, then a body framed by Content-Length, by chunked transfer coding,
or by the end of the connection; gzip or deflate content coding is undone. Anything else is an error of the kinds
requests raises for the same fault (`WireError.kind`), so the client's retry rules do not change.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

# What requests offers when neither brotli nor zstandard is installed (the function's package has neither).
WIRE_ACCEPT_ENCODING = "gzip, deflate"
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024
_RECV = 65536

# Where an exchange failed decides how the caller may react (transport.py maps these to requests' exceptions):
# "send": nothing, or part of the request, left (or an answer never began): the connection failed
# "headers_timeout": no complete status line and headers in time
# "body": the answer began but its body broke (requests: ChunkedEncodingError)
# "body_timeout": the body stopped arriving (requests: ConnectionError)
# "decode": the content coding could not be undone (requests: ContentDecodingError)
# "request": the request itself cannot be sent as given (an illegal character): nothing was sent
FailureKind = Literal["send", "headers_timeout", "body", "body_timeout", "decode", "request"]


class WireError(Exception):
    """An exchange that did not complete; `kind` says where (see FailureKind). Never quotes a header value."""

    def __init__(self, kind: FailureKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class WireSocket(Protocol):
    """An ssl.SSLSocket, or urllib3's SSLTransport for TLS inside the proxy's TLS."""

    def sendall(self, data: bytes) -> None: ...

    def recv_into(self, buffer: bytearray | memoryview, nbytes: int = ...) -> int: ...


@dataclass(frozen=True)
class WireAnswer:
    status: int
    headers: Mapping[str, str]  # lower-case names; repeated headers joined with ", "
    content: bytes
    reusable: bool  # the connection may carry the next request


def request_bytes(method: str, host_header: str, target: str, headers: Mapping[str, str], body: bytes) -> bytes:
    """The request as sent: request line, Host, `headers` in their order, Content-Length where a body is sent or
    expected (as http.client does), the body."""
    if not method.isalpha() or any(c in target for c in " \r\n\0") or not target.startswith("/"):
        raise WireError("request", "the request line holds an illegal character")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host_header}"]
    for name, value in headers.items():
        line = f"{name}: {value}"
        if "\r" in line or "\n" in line or "\0" in line or not name or ":" in name:
            raise WireError("request", "a request header holds an illegal character")
        lines.append(line)
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    try:
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    except UnicodeEncodeError:
        raise WireError("request", "a request header holds a character HTTP/1.1 cannot carry") from None
    return head + body


class _Reader:
    """Buffered reads from the socket; `kind_on_timeout` says which phase a timeout belongs to."""

    def __init__(self, sock: WireSocket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.eof = False

    def fill(self, phase: Literal["headers", "body"]) -> bool:
        """Read what the socket has (at least one byte); False at the end of the connection."""
        chunk = bytearray(_RECV)
        try:
            count = self.sock.recv_into(chunk)
        except TimeoutError:
            raise WireError("headers_timeout" if phase == "headers" else "body_timeout", "read timed out") from None
        if count == 0:
            self.eof = True
            return False
        self.buffer += memoryview(chunk)[:count]
        return True

    def until(self, marker: bytes, limit: int, phase: Literal["headers", "body"]) -> bytes:
        start = 0
        while True:
            found = self.buffer.find(marker, start)
            if found >= 0:
                end = found + len(marker)
                out = bytes(self.buffer[:end])
                del self.buffer[:end]
                return out
            if len(self.buffer) > limit:
                raise WireError("send" if phase == "headers" else "body", "the answer's framing is too long")
            start = max(0, len(self.buffer) - len(marker) + 1)
            if not self.fill(phase):
                kind: FailureKind = "send" if phase == "headers" else "body"
                raise WireError(kind, "the connection closed before the answer was complete")

    def exactly(self, count: int) -> bytes:
        while len(self.buffer) < count:
            if not self.fill("body"):
                raise WireError("body", f"the connection closed {count - len(self.buffer)} byte(s) before the end")
        out = bytes(self.buffer[:count])
        del self.buffer[:count]
        return out

    def rest(self) -> bytes:
        while self.fill("body"):
            if len(self.buffer) > MAX_BODY_BYTES:
                raise WireError("body", "the answer is too large")
        out = bytes(self.buffer)
        self.buffer.clear()
        return out


def _head(reader: _Reader) -> tuple[int, str, dict[str, str]]:
    """Status, HTTP version and headers of the next answer that is not 1xx informational."""
    while True:
        block = reader.until(b"\r\n\r\n", MAX_HEADER_BYTES, "headers")
        try:
            text = block.decode("latin-1")
            status_line, *header_lines = text[:-4].split("\r\n")
            version, code, *_reason = status_line.split(" ", 2)
            status = int(code)
        except ValueError:
            raise WireError("send", "the answer does not start with an HTTP status line") from None
        if not version.startswith("HTTP/1.") or not 100 <= status <= 999:
            raise WireError("send", "the answer does not start with an HTTP/1.x status line")
        headers: dict[str, str] = {}
        for line in header_lines:
            name, colon, value = line.partition(":")
            if not colon:
                continue  # http.client tolerates such lines too; they carry nothing usable
            key = name.strip().lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        if status >= 200 or status == 101:
            return status, version, headers


def _chunked(reader: _Reader) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        size_line = reader.until(b"\r\n", 1024, "body")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise WireError("body", "a chunk size is not a hexadecimal number") from None
        if size == 0:
            while reader.until(b"\r\n", MAX_HEADER_BYTES, "body") != b"\r\n":
                pass  # trailer fields: none is used
            return b"".join(parts)
        total += size
        if total > MAX_BODY_BYTES:
            raise WireError("body", "the answer is too large")
        parts.append(reader.exactly(size))
        if reader.exactly(2) != b"\r\n":
            raise WireError("body", "a chunk does not end with CRLF")


def _decoded(content: bytes, coding: str) -> bytes:
    codings = [c.strip().lower() for c in coding.split(",") if c.strip() and c.strip().lower() != "identity"]
    try:
        for one in reversed(codings):
            if one in ("gzip", "x-gzip"):
                content = zlib.decompress(content, 16 + zlib.MAX_WBITS)
            elif one == "deflate":
                try:
                    content = zlib.decompress(content)
                except zlib.error:  # some servers send raw deflate without the zlib header
                    content = zlib.decompress(content, -zlib.MAX_WBITS)
            else:
                raise WireError("decode", f"content coding {one!r} is not supported")
    except zlib.error:
        raise WireError("decode", "the answer's content coding could not be undone") from None
    return content


def exchange(sock: WireSocket, method: str, request: bytes) -> WireAnswer:
    """Send `request` (request_bytes) and read its whole answer. Socket errors other than timeouts propagate as
    they are (OSError, ssl.SSLError): the caller knows what they mean for its connection."""
    sock.sendall(request)
    reader = _Reader(sock)
    status, version, headers = _head(reader)
    connection = headers.get("connection", "").lower()
    reusable = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        content = b""
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        content = _chunked(reader)
    elif "content-length" in headers:
        try:
            length = int(headers["content-length"].split(",")[0])
        except ValueError:
            raise WireError("body", "Content-Length is not a number") from None
        if not 0 <= length <= MAX_BODY_BYTES:
            raise WireError("body", "Content-Length is out of range")
        content = reader.exactly(length)
    else:
        content = reader.rest()
        reusable = False
    if reader.buffer or reader.eof:  # bytes nobody asked for, or the server already closed: do not reuse
        reusable = False
    coding = headers.get("content-encoding", "")
    return WireAnswer(status, headers, _decoded(content, coding) if coding else content, reusable)
