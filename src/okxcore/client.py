"""The OKX v5 REST client: signed calls through a ShieldSession, typed answers, typed errors.

Retry policy, in one place:
- 50102 (timestamp expired): measure the offset from /public/time, re-sign with a new timestamp, resend
  once. OKX rejected the request at authentication, so nothing happened and resending is safe.
- Rate limits (50011), busy (50013/50001/50004), HTTP 5xx and broken connections: backoff with full
  jitter, for safe reads only.
- Orders are never resent by the client. A send whose outcome is unknown raises
  OrderOutcomeUnknownError; the caller must look the order up by clOrdId.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode

import requests

from okxcore.answers import answer_data, many, one
from okxcore.credentials import OkxKeySecret
from okxcore.endpoints import REGION_BASE_URLS, Region, okx_base_url
from okxcore.errors import (
    RETRYABLE_ERRORS,
    CancelInProgressError,
    OkxApiError,
    OkxAuthError,
    OkxTransportError,
    OrderAlreadyFinalError,
    OrderNotFoundError,
    OrderOutcomeUnknownError,
    TimestampExpiredError,
)
from okxcore.models import (
    AccountConfig,
    Balance,
    CancelOutcome,
    CancelState,
    CreatedSubAccountApiKey,
    Instrument,
    Order,
    OrderAck,
    OrderRequest,
    ServerTime,
    SubAccount,
    SubAccountApiKey,
    Ticker,
    fingerprint,
    ip_list_text,
)
from okxcore.pacing import SUBACCOUNT_LIST_LIMIT, SUBACCOUNT_LIST_WINDOW_S, shared_gate
from okxcore.signing import okx_timestamp, sign
from okxcore.subaccounts import MAX_SUBACCOUNT_PAGES, SubAccountListing, list_all_subaccounts
from okxcore.transport import ShieldAnswer, ShieldSession


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4  # total tries of a safe read
    base_delay_s: float = 0.25
    max_delay_s: float = 2.0

    def delay(self, attempt: int) -> float:
        # Full jitter: spreads a fleet's retries so they do not hit OKX's 2 s window together.
        return random.uniform(self.base_delay_s, min(self.max_delay_s, self.base_delay_s * 2**attempt))


@dataclass(frozen=True)
class Timeouts:
    connect_s: float = 5.0
    read_s: float = 10.0


AuthenticatedCallback = Callable[[str], None]
PAGE_LIMIT = 100  # OKX's largest page for order lists


class OkxClient:
    """One OKX account key (or none, for public data) behind one Shield session."""

    def __init__(
        self,
        session: ShieldSession,
        *,
        key: OkxKeySecret | None = None,
        base_url: str | None = None,
        allow_other_hosts: bool = False,
        region: Region | None = None,
        demo: bool | None = None,
        timeouts: Timeouts = Timeouts(),
        retry: RetryPolicy = RetryPolicy(),
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        on_authenticated: AuthenticatedCallback | None = None,
    ) -> None:
        self.session = session
        self.key = key
        chosen_region: Region = region or (key.region if key else "www")
        # Checked here as well as in the settings: no signed call can be pointed at a host that is not OKX's
        # unless the caller says, explicitly, that this is the local simulator.
        self.base_url = (
            okx_base_url(base_url, allow_other_hosts=allow_other_hosts, source="OKX client", field="base_url")
            if base_url
            else REGION_BASE_URLS[chosen_region]
        )
        self.demo = demo if demo is not None else (key.demo if key else False)
        self.timeouts = timeouts
        self.retry = retry
        self._clock = clock
        self._sleep = sleep
        self._on_authenticated = on_authenticated
        self.clock_offset_ms = 0
        self.label = key.label if key else "public"

    # --- time ---------------------------------------------------------------------------------

    def now_ms(self) -> int:
        return int(self._clock() * 1000) + self.clock_offset_ms

    def server_time(self) -> ServerTime:
        return one(ServerTime, self._call("GET", "/api/v5/public/time", auth=False))

    def sync_clock(self) -> int:
        """Measure the offset to OKX's clock (midpoint of the round trip) and use it from now on."""
        before = self._clock()
        server = self.server_time().ts
        after = self._clock()
        self.clock_offset_ms = server - int((before + after) / 2 * 1000)
        return self.clock_offset_ms

    # --- account ------------------------------------------------------------------------------

    def account_config(self) -> AccountConfig:
        return one(AccountConfig, self._call("GET", "/api/v5/account/config"))

    def balance(self, currencies: list[str] | None = None) -> Balance:
        params = {"ccy": ",".join(currencies)} if currencies else None
        return one(Balance, self._call("GET", "/api/v5/account/balance", params=params))

    # --- market data --------------------------------------------------------------------------

    def ticker(self, inst_id: str) -> Ticker:
        return one(Ticker, self._call("GET", "/api/v5/market/ticker", params={"instId": inst_id}, auth=False))

    def instruments(self, inst_type: str = "SPOT", inst_id: str | None = None) -> list[Instrument]:
        params = {"instType": inst_type, **({"instId": inst_id} if inst_id else {})}
        data = self._call("GET", "/api/v5/public/instruments", params=params, auth=False)
        return many(Instrument, data)

    def instrument(self, inst_id: str, inst_type: str = "SPOT") -> Instrument | None:
        found = self.instruments(inst_type, inst_id)
        return found[0] if found else None

    # --- trading ------------------------------------------------------------------------------

    def place_order(self, order: OrderRequest, *, expires_at_ms: int | None = None) -> OrderAck:
        """Send one order. Never retried here: an unknown outcome raises OrderOutcomeUnknownError."""
        headers = {"expTime": str(expires_at_ms)} if expires_at_ms is not None else None
        data = self._call("POST", "/api/v5/trade/order", body=order.to_body(), safe=False, headers=headers, order=order)
        return one(OrderAck, data)

    def get_order(self, inst_id: str, *, ord_id: str | None = None, cl_ord_id: str | None = None) -> Order | None:
        """The order by ordId or clOrdId (OKX returns the latest with that clOrdId); None if OKX has none."""
        if not (ord_id or cl_ord_id):
            raise ValueError("get_order needs ord_id or cl_ord_id")
        params = {"instId": inst_id, **({"ordId": ord_id} if ord_id else {"clOrdId": cl_ord_id or ""})}
        try:
            data = self._call("GET", "/api/v5/trade/order", params=params)
        except OrderNotFoundError:
            return None
        return one(Order, data) if data else None

    def pending_orders(self, inst_id: str | None = None) -> list[Order]:
        """Every live or partially filled spot order of the account (of one instrument), newest first."""
        params = {"instType": "SPOT", "limit": str(PAGE_LIMIT), **({"instId": inst_id} if inst_id else {})}
        orders: list[Order] = []
        while True:
            page = many(Order, self._call("GET", "/api/v5/trade/orders-pending", params=params))
            orders.extend(page)
            if len(page) < PAGE_LIMIT:
                return orders
            params = {**params, "after": page[-1].ord_id}  # OKX pages by ordId: older than the last one seen

    def cancel_order(self, inst_id: str, *, cl_ord_id: str) -> CancelOutcome:
        """Ask OKX to cancel the order; safe to call again. An order already filled, canceled or unknown is an
        outcome, not an error. A lost answer is reconciled by looking the order up: final or unknown is
        reported as it is; still pending is asked once more (cancelling twice does no harm)."""
        body = {"instId": inst_id, "clOrdId": cl_ord_id}
        for attempt in (1, 2):
            try:
                data = self._call("POST", "/api/v5/trade/cancel-order", body=body, safe=False, item_id=cl_ord_id)
            except (OrderAlreadyFinalError, OrderNotFoundError):
                return self._cancel_looked_up(inst_id, cl_ord_id)
            except CancelInProgressError:
                return CancelOutcome(inst_id=inst_id, cl_ord_id=cl_ord_id, state="requested")
            except OkxTransportError:
                outcome = self._cancel_looked_up(inst_id, cl_ord_id)
                if outcome.state != "requested" or attempt == 2:
                    return outcome
                continue
            ack = one(OrderAck, data)
            return CancelOutcome(inst_id=inst_id, cl_ord_id=cl_ord_id, state="requested", ord_id=ack.ord_id)
        raise AssertionError("unreachable")  # pragma: no cover

    def _cancel_looked_up(self, inst_id: str, cl_ord_id: str) -> CancelOutcome:
        """The cancel's outcome as the order's own state says; `requested` when it is still pending."""
        order = self.get_order(inst_id, cl_ord_id=cl_ord_id)
        if order is None:
            return CancelOutcome(inst_id=inst_id, cl_ord_id=cl_ord_id, state="not_found")
        state: CancelState = "requested" if order.is_pending else "already_final"
        return CancelOutcome(inst_id=inst_id, cl_ord_id=cl_ord_id, state=state, ord_id=order.ord_id, order=order)

    # --- sub-accounts (master key) ------------------------------------------------------------

    def subaccounts(self) -> list[SubAccount]:
        """Every sub-account of the master, all pages (bounded: `subaccount_listing` says when it stopped early)."""
        return list(self.subaccount_listing().accounts)

    def subaccount_listing(self, *, max_pages: int = MAX_SUBACCOUNT_PAGES) -> SubAccountListing:
        """The master's sub-accounts, page by page, each request paced to the listing's rate limit (per master)."""
        owner = fingerprint(self.key.api_key.get_secret_value()) if self.key else "public"
        gate = shared_gate(f"subaccount-list:{owner}", SUBACCOUNT_LIST_LIMIT, SUBACCOUNT_LIST_WINDOW_S)

        def page(params: Mapping[str, str]) -> list[SubAccount]:
            gate.acquire()
            return many(SubAccount, self._call("GET", "/api/v5/users/subaccount/list", params=params))

        return list_all_subaccounts(page, max_pages=max_pages)

    def subaccount_api_keys(self, sub_acct: str, api_key: str | None = None) -> list[SubAccountApiKey]:
        params = {"subAcct": sub_acct, **({"apiKey": api_key} if api_key else {})}
        data = self._call("GET", "/api/v5/users/subaccount/apikey", params=params)
        return [key.model_copy(update={"sub_acct": sub_acct}) for key in many(SubAccountApiKey, data)]

    def modify_subaccount_api_key(self, sub_acct: str, api_key: str, *, ips: Sequence[str]) -> SubAccountApiKey:
        """Replace the key's whole IP list (OKX semantics: an empty list unbinds every IP); returns the key as OKX
        answers. Sends neither `perm` nor `label`: OKX resets whatever is passed, and the product never changes a
        key's permissions (they cannot be raised safely, and a lost answer must leave nothing but the IPs open).
        The list is checked first (bad entry, more than 20: InvalidInputError, nothing sent)."""
        body = {"subAcct": sub_acct, "apiKey": api_key, "ip": ip_list_text(ips, source="modify-apikey")}
        data = self._call("POST", "/api/v5/users/subaccount/modify-apikey", body=body, safe=False)
        return one(SubAccountApiKey, data).model_copy(update={"sub_acct": sub_acct})

    def create_subaccount_api_key(
        self, sub_acct: str, *, label: str, passphrase: str, perm: str, ips: list[str]
    ) -> CreatedSubAccountApiKey:
        body = {"subAcct": sub_acct, "label": label, "passphrase": passphrase, "perm": perm, "ip": ",".join(ips)}
        data = self._call("POST", "/api/v5/users/subaccount/apikey", body=body, safe=False)
        return one(CreatedSubAccountApiKey, data)

    def delete_subaccount_api_key(self, sub_acct: str, api_key: str) -> str:
        """Deletes the key; returns the sub-account OKX confirmed."""
        body = {"subAcct": sub_acct, "apiKey": api_key}
        data = self._call("POST", "/api/v5/users/subaccount/delete-apikey", body=body, safe=False)
        return one(SubAccount, data).sub_acct

    # --- the one request path -----------------------------------------------------------------

    def raw_call(
        self,
        method: Literal["GET", "POST"],
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        auth: bool = True,
    ) -> list[dict[str, Any]]:
        """Any endpoint, for `okx-shield call`. POSTs are not retried."""
        return self._call(method, path, params=params, body=body, auth=auth, safe=method == "GET")

    # Over 60 lines: one retry loop, where every way an attempt can end (sent or not, answered or not, an order
    # or a read) must be decided in one place, so that an order is never resent blindly.
    def _call(
        self,
        method: Literal["GET", "POST"],
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        auth: bool = True,
        safe: bool | None = None,
        headers: Mapping[str, str] | None = None,
        order: OrderRequest | None = None,
        item_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """`item_id` (the clOrdId) marks an answer that reports per item (sCode/sMsg), as `order` does."""
        if auth and self.key is None:
            raise OkxApiError("local", "this client has no API key; private endpoints need one", path=path)
        is_safe = (method == "GET") if safe is None else safe
        # Sign exactly what is sent: the query text and body bytes are built once and never re-serialised.
        query = urlencode(params or {}, safe=",")
        request_path = f"{path}?{query}" if query else path
        body_bytes = json.dumps(body, separators=(",", ":")).encode() if body is not None else b""
        resynced = False
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._send(method, request_path, body_bytes, auth=auth, extra_headers=headers)
            except requests.exceptions.SSLError:
                # The TLS handshake with OKX failed before any request byte was sent: retrying cannot help,
                # and an order was certainly not placed.
                raise OkxTransportError(
                    f"TLS to OKX failed on {method} {path}: the certificate was not trusted or the handshake broke",
                    hint="Something between Shield and OKX is intercepting TLS, or the CA bundle is wrong.",
                ) from None
            except (requests.ConnectionError, requests.Timeout) as exc:
                if order is not None:
                    raise OrderOutcomeUnknownError(
                        f"no answer to the order for {order.inst_id} ({exc.__class__.__name__})",
                        cl_ord_id=order.cl_ord_id,
                    ) from None
                if is_safe and attempt < self.retry.attempts:
                    self._sleep(self.retry.delay(attempt))
                    continue
                raise OkxTransportError(
                    f"{method} {path} failed after {attempt} attempt(s): {exc.__class__.__name__}"
                ) from None
            except requests.RequestException as exc:
                raise OkxTransportError(f"{method} {path} failed: {exc.__class__.__name__}") from None
            try:
                data = answer_data(response, path, order.cl_ord_id if order is not None else item_id)
            except OkxApiError as error:
                if auth and not isinstance(error, OkxAuthError):
                    self._authenticated()
                if isinstance(error, TimestampExpiredError) and auth and not resynced:
                    resynced = True
                    self.sync_clock()
                    continue
                if isinstance(error, RETRYABLE_ERRORS) and is_safe and attempt < self.retry.attempts:
                    self._sleep(self.retry.delay(attempt))
                    continue
                raise
            if auth:
                self._authenticated()
            return data

    def _authenticated(self) -> None:
        """OKX counts every authenticated call as use of the key; the audit's dormancy check needs that."""
        if self._on_authenticated is not None:
            self._on_authenticated(self.label)

    def _send(
        self, method: str, request_path: str, body: bytes, *, auth: bool, extra_headers: Mapping[str, str] | None
    ) -> ShieldAnswer:
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if self.demo:
            headers["x-simulated-trading"] = "1"
        if extra_headers:
            headers.update(extra_headers)
        if auth:
            assert self.key is not None
            timestamp = okx_timestamp(self.now_ms())
            headers.update(
                {
                    "OK-ACCESS-KEY": self.key.api_key.get_secret_value(),
                    "OK-ACCESS-SIGN": sign(
                        self.key.api_secret.get_secret_value(), timestamp, method, request_path, body
                    ),
                    "OK-ACCESS-TIMESTAMP": timestamp,
                    "OK-ACCESS-PASSPHRASE": self.key.passphrase.get_secret_value(),
                }
            )
        return self.session.fetch(
            method,
            self.base_url + request_path,
            body=body,
            headers=headers,
            timeout=(self.timeouts.connect_s, self.timeouts.read_s),
        )
