"""The HTTPS front of the simulator: a threading HTTP/1.1 server speaking OKX v5 REST on loopback.

TLS is negotiated in each connection's worker thread (never in the accept loop), connections are
counted at accept time (before TLS), and the peer IP used for allowlists is the real TCP peer.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import socketserver
import ssl
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .engine import ApiRequest, ApiResponse, Exchange
from .errors import OkxError
from .faults import SimFaults
from .state import Region, SimKey, SimSeed
from .stats import RequestRecord, SimStats

logger = logging.getLogger("okxlocal.sim")

HANDSHAKE_TIMEOUT_S = 10.0
IDLE_TIMEOUT_S = 120.0
MAX_BODY_BYTES = 1 << 20
REGIONS: tuple[Region, ...] = ("www", "eea", "us")


class _BadRequest(Exception):
    pass


class _SimHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        sim: OkxSimulator,
        ssl_context: ssl.SSLContext,
        region: Region | None = None,
    ) -> None:
        self.sim = sim
        self.ssl_context = ssl_context
        self.region = region  # the OKX region this listener stands for (None: the seed's)
        self._active: set[ssl.SSLSocket] = set()
        self._active_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), which can stall without DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Runs in the accept loop: count the connection, then hand it to a worker thread.
        self.sim.stats.record_connection(str(client_address[0]))
        super().process_request(request, client_address)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # Runs in the worker thread: TLS handshake here, so a stalled client blocks nobody else.
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            request.settimeout(HANDSHAKE_TIMEOUT_S)
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError) as exc:
            logger.debug("TLS handshake with %s failed: %s", client_address, exc)
            return
        with self._active_lock:
            self._active.add(tls)
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            with self._active_lock:
                self._active.discard(tls)
            with contextlib.suppress(OSError):
                tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("error while serving %s", client_address, exc_info=True)

    def close_active_connections(self) -> None:
        with self._active_lock:
            active = list(self._active)
        for tls in active:
            # Plain TCP shutdown (bypassing the SSL layer) wakes up a worker blocked in recv.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(tls, socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "okx-sim/1.0"
    sys_version = ""
    timeout = IDLE_TIMEOUT_S
    # Headers and body leave in one write (one TLS record), as real servers send small answers. Two writes
    # meet Nagle in a relaying proxy and the client's delayed ACK: a 40 ms stall that OKX itself never shows.
    wbufsize = 64 * 1024
    server: _SimHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.client_address[0], format % args)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    # ---- plumbing ---------------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                line = self.rfile.readline(1024).strip()
                try:
                    size = int(line.split(b";", 1)[0], 16)
                except ValueError:
                    raise _BadRequest("bad chunk size") from None
                if size == 0:
                    while self.rfile.readline(1024).strip():  # trailers
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY_BYTES:
                    raise _BadRequest("body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(16)
        length_header = self.headers.get("Content-Length")
        if not length_header:
            return b""
        try:
            length = int(length_header)
        except ValueError:
            raise _BadRequest("bad Content-Length") from None
        if length < 0 or length > MAX_BODY_BYTES:
            raise _BadRequest("bad Content-Length")
        return self.rfile.read(length)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _drop(self) -> None:
        """Close the TCP connection without sending a single response byte."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self.connection, socket.SHUT_RDWR)

    def _record(self, api_key: str | None, code: str, status: int) -> None:
        self.server.sim.stats.record_request(
            RequestRecord(
                peer_ip=str(self.client_address[0]),
                method=self.command,
                path=self.path,
                api_key=api_key or None,
                code=code,
                http_status=status,
            )
        )

    # ---- dispatch ---------------------------------------------------------------------------------

    def _serve(self) -> None:
        sim = self.server.sim
        peer = str(self.client_address[0])
        api_key = self.headers.get("OK-ACCESS-KEY")
        try:
            body = self._read_body()
        except _BadRequest:
            self.close_connection = True
            payload = {"code": "50000", "msg": "Bad request body.", "data": []}
            self._record(api_key, "50000", 400)
            self._send(400, json.dumps(payload).encode(), "application/json")
            return
        latency = float(sim.faults.latency_s)
        if latency > 0:
            time.sleep(latency)
        split = urlsplit(self.path)
        if split.path.startswith("/echo/"):
            self._echo(unquote(split.path[len("/echo/") :]), split.query, peer)
            return
        if sim.faults.take_server_error():
            response = ApiResponse(503, OkxError("50001").body())
        else:
            query: dict[str, str] = {}
            for name, value in parse_qsl(split.query, keep_blank_values=True):
                query.setdefault(name, value)
            request = ApiRequest(
                method=self.command,
                raw_path=self.path,
                path=split.path,
                query=query,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                peer_ip=peer,
                region=self.server.region,
            )
            try:
                response = sim.exchange.handle(request)
            except Exception:
                logger.exception("simulator error on %s %s", self.command, self.path)
                response = ApiResponse(500, {"code": "50026", "msg": "System error. Try again later", "data": []})
        if response.drop:
            self._record(api_key, "", 0)
            self._drop()
            return
        self._record(api_key, response.code, response.http_status)
        self._send(response.http_status, json.dumps(response.payload).encode(), "application/json")

    def _echo(self, name: str, query: str, peer: str) -> None:
        params = dict(parse_qsl(query, keep_blank_values=True))
        as_json = params.get("format") == "json" or "json" in name
        down, override = self.server.sim.faults.echo_view(name)
        if not name:
            status, ip = 404, ""
        elif down:
            status, ip = 503, ""
        else:
            status, ip = 200, override or peer
        if as_json:
            payload: dict[str, str] = {"ip": ip} if status == 200 else {"error": "unavailable"}
            body, ctype = json.dumps(payload).encode(), "application/json"
        else:
            body = f"{ip}\n".encode() if status == 200 else b"unavailable\n"
            ctype = "text/plain; charset=utf-8"
        self._record(None, "", status)
        self._send(status, body, ctype)


def _to_decimal(value: Decimal | str | float) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


class OkxSimulator:
    """A local stand-in for OKX's v5 REST API, served over HTTPS on loopback.

    >>> with OkxSimulator(seed, certfile=cert, keyfile=key) as sim:
    ...     requests.get(sim.url + "/api/v5/public/time", verify=ca_path)
    """

    def __init__(
        self,
        seed: SimSeed,
        certfile: str | Path,
        keyfile: str | Path,
        host: str = "127.0.0.1",
        port: int = 0,
        hostname: str = "localhost",
        regional_hosts: bool = False,
    ) -> None:
        """`regional_hosts`: also listen once per OKX region (www, eea, us: `region_urls`), each answering as that
        region's host does: a key of another region gets 50119, as on OKX's wrong host."""
        self.host = host
        self.hostname = hostname
        self._requested_port = port
        self.faults = SimFaults()
        self.stats = SimStats()
        self.exchange = Exchange(seed, self.faults)
        self._ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ssl.load_cert_chain(certfile=str(certfile), keyfile=str(keyfile))
        self._ssl.set_alpn_protocols(["http/1.1"])
        self._server: _SimHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._regional = regional_hosts
        self._regional_servers: dict[Region, _SimHTTPServer] = {}

    # ---- lifecycle --------------------------------------------------------------------------------

    def start(self) -> OkxSimulator:
        if self._server is not None:
            raise RuntimeError("simulator already started")
        self._server = _SimHTTPServer((self.host, self._requested_port), self, self._ssl)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="okx-sim", daemon=True
        )
        self._thread.start()
        for region in REGIONS if self._regional else ():
            regional = _SimHTTPServer((self.host, 0), self, self._ssl, region)
            self._regional_servers[region] = regional
            threading.Thread(
                target=regional.serve_forever, kwargs={"poll_interval": 0.05}, name=f"okx-sim-{region}", daemon=True
            ).start()
        return self

    def stop(self) -> None:
        for regional in self._regional_servers.values():
            regional.shutdown()
            regional.server_close()
            regional.close_active_connections()
        self._regional_servers = {}
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_active_connections()
        if thread is not None:
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> OkxSimulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("simulator not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``https://<hostname>:<port>`` (the server listens on ``host``)."""
        return f"https://{self.hostname}:{self.port}"

    @property
    def region_urls(self) -> dict[Region, str]:
        """Each OKX region's host (with `regional_hosts`): ``{"www": url, "eea": url, "us": url}``. The seed's own
        region is the main listener (`url`), so that its keys and the echo services share one tunnel."""
        servers = self._regional_servers.items()
        urls = {region: f"https://{self.hostname}:{server.server_address[1]}" for region, server in servers}
        return {**urls, self.state.region: self.url} if urls else {}

    def reset(self, seed: SimSeed) -> None:
        """Start over from `seed` while serving: a new exchange, every fault off, no statistics."""
        self.faults.reset()
        self.stats.reset()
        self.exchange = Exchange(seed, self.faults)

    # ---- inspection and control -------------------------------------------------------------------

    @property
    def state(self) -> SimSeed:
        """The live state (a deep copy of the seed). Mutate only under ``sim.exchange.lock``."""
        return self.exchange.state

    def now_ms(self) -> int:
        """Server clock in epoch ms, including ``faults.clock_offset_ms``."""
        return self.exchange.now_ms()

    def orders(self, uid: str | None = None) -> list[dict[str, Any]]:
        """Every order (of ``uid``, or of everyone), oldest first, as OKX order-detail dicts."""
        return self.exchange.orders(uid)

    def key_last_used_ms(self, api_key: str) -> int | None:
        """Server time of the key's last successfully authenticated call (None: never)."""
        return self.exchange.key_last_used_ms(api_key)

    def set_ticker(
        self,
        inst_id: str,
        last: Decimal | str | float,
        bid_px: Decimal | str | float,
        ask_px: Decimal | str | float,
    ) -> None:
        """Move the market; live limit orders that now cross fill at their own price (maker fee)."""
        self.exchange.set_ticker(inst_id, _to_decimal(last), _to_decimal(bid_px), _to_decimal(ask_px))

    def balances(self, uid: str) -> dict[str, Decimal]:
        """Cash balances (``cashBal``: including amounts frozen by live orders)."""
        return self.exchange.balances(uid)

    def available_balances(self, uid: str) -> dict[str, Decimal]:
        """Cash minus amounts frozen by live orders (``availBal``)."""
        return self.exchange.available_balances(uid)

    def set_balance(self, uid: str, ccy: str, amount: Decimal | str | float) -> None:
        self.exchange.set_balance(uid, ccy, _to_decimal(amount))

    def fill_order(self, cl_ord_id: str, size: Decimal | str | float | None = None) -> dict[str, Any]:
        """Fill ``size`` (default: the rest) of the pending order with this clOrdId at its price; its OKX dict."""
        return self.exchange.fill_order(cl_ord_id, None if size is None else _to_decimal(size))

    def set_funding_balance(self, uid: str, ccy: str, amount: Decimal | str | float) -> None:
        """The funding account's balance (``asset/balances``), apart from the trading account."""
        self.exchange.set_funding_balance(uid, ccy, _to_decimal(amount))

    def key(self, api_key: str) -> SimKey | None:
        """The live key object (mutations such as ``deleted = True`` take effect immediately)."""
        return self.exchange.key(api_key)

    def add_key(self, key: SimKey) -> None:
        self.exchange.add_key(key)

    def delete_key(self, api_key: str) -> None:
        """Mark a key deleted (as OKX's auto-deletion would): it then answers 50111."""
        with self.exchange.lock:
            key = self.exchange.key(api_key)
            if key is None:
                raise KeyError(api_key)
            key.deleted = True

    def reset_rate_limits(self) -> None:
        self.exchange.limiter.reset()
