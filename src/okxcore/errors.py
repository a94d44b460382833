"""Every error okx-shield raises, and the one table that maps OKX error codes to them.

Messages are written for the person reading the SNS report: what is wrong and how to fix it. No
message ever contains a secret (API secret, passphrase, proxy password): callers pass only labels,
hosts, codes and OKX's own message text.
"""

from __future__ import annotations

import re
from typing import Self


class OkxShieldError(Exception):
    """Base class. `hint` says how to fix it, in words."""

    hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def describe(self) -> str:
        """The message as a sentence, then the fix: "<message>. Fix: <hint>"."""
        if not self.hint:
            return self.message
        message = self.message.rstrip()
        return f"{message}{'' if message.endswith(('.', '!', '?')) else '.'} Fix: {self.hint}"


# --- configuration and input -------------------------------------------------------------------


class InvalidInputError(OkxShieldError, ValueError):
    """Bad input: names the field (and the secret or event it came from), never the value."""

    def __init__(self, source: str, field: str, problem: str, *, hint: str | None = None) -> None:
        self.source = source
        self.field = field
        self.problem = problem
        self.problems: list[tuple[str, str]] = [(field, problem)]
        super().__init__(f"{source}: field '{field}': {problem}", hint=hint)

    @classmethod
    def from_problems(cls, source: str, problems: list[tuple[str, str]], *, hint: str | None = None) -> Self:
        """One error for every (field, problem): the message names every one ("<source>: field 'a': is missing;
        field 'b': ..."); `field` and `problem` are the first's."""
        field, problem = problems[0] if problems else ("(whole input)", "is invalid")
        error = cls(source, field, problem, hint=hint)
        error.problems = list(problems) or [(field, problem)]
        if len(error.problems) > 1:
            error.args = (f"{source}: " + "; ".join(f"field '{f}': {p}" for f, p in error.problems),)
        return error


class ShieldUrlError(InvalidInputError):
    def __init__(
        self, problem: str, *, hint: str | None = None, source: str = "Shield secret", field: str = "url"
    ) -> None:
        super().__init__(source, field, problem, hint=hint)


class SecretFormatError(InvalidInputError):
    """A secret from Secrets Manager (or a file) does not have the documented format."""


class SecretUnavailableError(InvalidInputError):
    """The secret could not be read at all (missing, no permission): nothing about its content is known."""


# --- the proxy ---------------------------------------------------------------------------------


class ProxyError(OkxShieldError):
    """The Shield proxy could not carry the call. Nothing reached OKX; there is no direct fallback."""

    stage = "proxy"

    def __init__(self, message: str, *, proxy: str, hint: str | None = None) -> None:
        self.proxy = proxy  # "host:port", never credentials
        super().__init__(f"Shield proxy {proxy}: {message}", hint=hint)


class ProxyUnreachableError(ProxyError):
    hint = "Check the Shield URL's host and port, and that outbound traffic to it is allowed."


class ProxyTimeoutError(ProxyError):
    hint = "The proxy accepted the connection but did not answer in time; check Shield's status page."


class ProxyAuthError(ProxyError):
    hint = "The Shield username or password is wrong: copy the Connection URL again from the dashboard."


class ProxyTlsError(ProxyError):
    hint = "TLS to the proxy failed: check the scheme and port (https:// on 9294, socks5h+tls:// on 1081)."


class ProxyTunnelError(ProxyError):
    hint = "The proxy refused to open a tunnel to OKX; check the OKX host name and Shield's status."


# --- the probe's trading pause, as a bot's own client meets it -------------------------------------


class TradingPausedError(OkxShieldError):
    """An order-placing request was stopped before it left: the probe's trading pause is set, or the guard that
    says so could not be read (fail closed: orders wait until it can be read; reads and cancels go on)."""

    hint = (
        "The probe pauses trading while the egress IP is not one of Shield's static IPs (see its CRITICAL report); "
        "the next clean probe lifts the pause. Reads and cancels still work."
    )


# --- OKX, after the tunnel was open ------------------------------------------------------------


class OkxTransportError(OkxShieldError):
    """TLS to OKX failed, or the connection broke or timed out after the tunnel was open."""

    hint = "A network failure between Shield and OKX; safe reads were retried. Check OKX's status."


class TargetNotAllowedError(OkxTransportError):
    """A tunnel was asked for a host its opener does not allow: nothing was sent, not even to the proxy."""

    hint = (
        "okx-shield's bot clients reach only the OKX API host of the key's region (or the local simulator in a "
        "local run): remove the URL override, CORS proxy or hostname setting that points elsewhere."
    )


class OrderOutcomeUnknownError(OkxTransportError):
    """An order was sent and no answer came back: it may or may not exist at OKX."""

    def __init__(self, message: str, *, cl_ord_id: str) -> None:
        self.cl_ord_id = cl_ord_id
        super().__init__(
            message,
            hint=f"Look the order up by clOrdId {cl_ord_id} before placing anything again.",
        )


class OkxApiError(OkxShieldError):
    """OKX answered with a non-zero code."""

    hint = "See OKX's error-code table for this code."

    def __init__(
        self, code: str, msg: str, *, http_status: int | None = None, path: str = "", hint: str | None = None
    ) -> None:
        self.code = code
        self.okx_message = msg
        self.http_status = http_status
        self.path = path
        where = f" on {path}" if path else ""
        super().__init__(f"OKX error {code}{where}: {msg or 'no message'}", hint=hint)


class OkxAuthError(OkxApiError):
    """The key, its signature or its environment was rejected."""


class IpNotAllowedError(OkxAuthError):
    """50110: OKX names the IP it saw, which is what the report must show."""

    def __init__(self, code: str, msg: str, **kwargs: object) -> None:
        match = re.search(r"IP\s+\(?([0-9a-fA-F:.]+)\)?", msg or "")
        self.seen_ip: str | None = match.group(1) if match else None
        super().__init__(code, msg, **kwargs)  # type: ignore[arg-type]
        seen = self.seen_ip or "an IP"
        self.hint = (
            f"OKX saw the call from {seen}, which is not bound to this key. Bind BOTH Shield static IPs "
            "to the key; if the IP is not a Shield IP, traffic is bypassing the proxy."
        )


class KeyGoneError(OkxAuthError):
    """50111 / 50119: the key no longer exists (the 14-day auto-deletion, revoked) or wrong region."""

    def __init__(self, code: str, msg: str, **kwargs: object) -> None:
        super().__init__(code, msg, **kwargs)  # type: ignore[arg-type]
        self.wrong_region_possible = code == "50119"
        self.regions_asked: tuple[str, ...] = ()  # every OKX host okxcore.regions asked, none knowing the key
        self.hint = (
            "The key is gone: probably OKX's 14-day deletion of keys not bound to an IP, or it was revoked. "
            "Create a new key bound to both Shield IPs and store it in the secret."
        )
        if self.wrong_region_possible:
            self.hint += (
                " Or the wrong regional host: EEA accounts use eea.okx.com, US/AU accounts us.okx.com; "
                "set 'region' in the key's secret."
            )


class KeyInOtherRegionError(OkxAuthError):
    """50119 at the key's own regional host, and another region's host knows the key: the secret's `region` is
    wrong. Raised by okxcore.regions after asking the other hosts."""

    def __init__(self, gone: KeyGoneError, *, asked: str, region: str, host: str) -> None:
        super().__init__(gone.code, gone.okx_message, http_status=gone.http_status, path=gone.path)
        self.region, self.host = region, host
        self.args = (f"OKX error {gone.code} at {asked}: this key belongs to {host}",)
        self.hint = f"Set `region` to `{region}` in the key's secret (it names the OKX host the key lives on)."


class InvalidSignatureError(OkxAuthError):
    hint = "The API secret in the key's secret is wrong (OKX rejected the signature)."


class PassphraseError(OkxAuthError):
    hint = "The passphrase in the key's secret is wrong."


class EnvironmentMismatchError(OkxAuthError):
    hint = "Demo/live mismatch: set 'demo' in the key's secret to match how the key was created."


class TimestampExpiredError(OkxAuthError):
    hint = "The clock is off; okx-shield re-synchronises with OKX's server time and retries once."


class IpBindingRequiredError(OkxAuthError):
    hint = "This endpoint needs a key bound to IP addresses: bind both Shield static IPs to the key."


class PermissionDeniedError(OkxAuthError):
    hint = "The key lacks the permission (or is not the master key) this call needs."


class RateLimitedError(OkxApiError):
    hint = "OKX's rate limit was hit; reads back off and retry. Lower the schedule's frequency if it persists."


class ServiceBusyError(OkxApiError):
    hint = "OKX is busy or unavailable; reads back off and retry."


class OrderRejectedError(OkxApiError):
    """A single order came back with a non-zero sCode."""

    def __init__(self, code: str, msg: str, *, cl_ord_id: str = "", **kwargs: object) -> None:
        self.cl_ord_id = cl_ord_id
        super().__init__(code, msg, **kwargs)  # type: ignore[arg-type]


class ItemsRejectedError(OkxApiError):
    """A batch answer (code 1: every item failed, 2: some did) whose items carry their own sCode and sMsg: the
    message names each failed item's code and OKX's words, the hint each one's fix from the table below."""

    def __init__(
        self, code: str, msg: str, items: list[tuple[int, str, str]], *, http_status: int | None = None, path: str = ""
    ) -> None:
        self.items = items  # (index, sCode, sMsg) of each failed item
        failed = "; ".join(f"item {index}: sCode {s_code} {s_msg or 'no message'}" for index, s_code, s_msg in items)
        fixes = dict.fromkeys(f"sCode {s_code}: {error_for(s_code, s_msg).hint}" for _, s_code, s_msg in items)
        super().__init__(code, f"{msg or 'operation failed'} ({failed})", http_status=http_status, path=path)
        self.hint = " ".join(fixes)


class InsufficientBalanceError(OrderRejectedError):
    hint = "Not enough balance for this order: top up the account or lower the plan's amount."


class DuplicateClientOrderIdError(OrderRejectedError):
    hint = "An order with this clOrdId is already pending: it was placed before; look it up."


class OrderExpiredError(OrderRejectedError):
    hint = "The order arrived after its expTime and OKX discarded it; nothing was placed."


class OrderAlreadyFinalError(OrderRejectedError):
    """A cancel found the order filled, canceled or gone (OKX answers all three with 51400): a state, not a
    failure; the client looks the order up to tell which."""

    hint = "Nothing to cancel: the order is already filled or canceled."


class CancelInProgressError(OrderRejectedError):
    """A cancel found the order already being canceled (51410): the cancel is under way, not a failure."""

    hint = "OKX is already canceling this order; look it up for its final state."


class UnknownInstrumentError(OkxApiError):
    hint = "OKX does not list this instrument: check the instId (e.g. BTC-USDT)."


class OrderNotFoundError(OkxApiError):
    hint = "No order with that id (canceled unfilled orders are only kept about 2 hours)."


class KeyLimitError(OkxApiError):
    hint = "The account has 50 API keys, OKX's limit: delete unused keys."


class IpLimitError(OkxApiError):
    hint = "The key has 20 bound IPs, OKX's limit: remove IPs that are no longer used."


class MasterKeyRequiredError(OkxAuthError):
    hint = (
        "Only the main (master) account's key may manage sub-account keys: put the main account's key, bound to "
        "both Shield IPs and with trade permission, in the master secret."
    )


class SubAccountKeyNotFoundError(OkxApiError):
    hint = "OKX does not list this key under the sub-account: it was deleted, or it belongs to another sub-account."


class SubAccountNotFoundError(OkxApiError):
    hint = "The master account has no sub-account of that name: check the name (case-sensitive)."


class SubAccountKeyRejectedError(OkxApiError):
    """OKX refused a sub-account key's settings (label taken, passphrase format, withdraw on a sub-account)."""

    hint = "OKX refused the key's settings; the message names which."


_ERRORS_BY_CODE: dict[str, type[OkxApiError]] = {
    "50110": IpNotAllowedError,
    "50111": KeyGoneError,
    "50119": KeyGoneError,
    "50113": InvalidSignatureError,
    "50105": PassphraseError,
    "50101": EnvironmentMismatchError,
    "50102": TimestampExpiredError,
    "50035": IpBindingRequiredError,
    "50120": PermissionDeniedError,
    "50011": RateLimitedError,
    "50013": ServiceBusyError,
    "50001": ServiceBusyError,
    "50004": ServiceBusyError,
    "51008": InsufficientBalanceError,
    "51016": DuplicateClientOrderIdError,
    "50037": OrderExpiredError,
    "51400": OrderAlreadyFinalError,
    "51401": OrderAlreadyFinalError,
    "51402": OrderAlreadyFinalError,
    "51410": CancelInProgressError,
    "51603": OrderNotFoundError,
    "51001": UnknownInstrumentError,
    "59501": KeyLimitError,
    "59503": IpLimitError,
    "59500": MasterKeyRequiredError,
    "59502": SubAccountKeyRejectedError,
    "59504": SubAccountKeyRejectedError,
    "59505": SubAccountKeyRejectedError,
    "59506": SubAccountKeyNotFoundError,
    "59510": SubAccountNotFoundError,
}

# Errors that mean "not now, try again": retried with backoff, for safe reads only. Their codes follow from
# the table above, so a code marked busy there is retried without being listed twice.
RETRYABLE_ERRORS: tuple[type[OkxApiError], ...] = (RateLimitedError, ServiceBusyError)
RETRYABLE_CODES = frozenset(code for code, cls in _ERRORS_BY_CODE.items() if issubclass(cls, RETRYABLE_ERRORS))
# The code given to an HTTP 5xx or 429 answer without an OKX body: OKX's own "service unavailable".
UNAVAILABLE_CODE = "50001"


def error_for(code: str, msg: str, *, http_status: int | None = None, path: str = "") -> OkxApiError:
    """The typed exception for an OKX error code (the one place codes are mapped)."""
    cls = _ERRORS_BY_CODE.get(code, OkxApiError)
    return cls(code, msg, http_status=http_status, path=path)


def items_error_for(
    code: str, msg: str, data: list[dict[str, object]], *, http_status: int | None = None, path: str = ""
) -> ItemsRejectedError:
    """The error for a batch answer whose items say, each, whether it failed (sCode other than 0)."""
    items = [
        (index, str(item.get("sCode", "")), str(item.get("sMsg", "")))
        for index, item in enumerate(data)
        if str(item.get("sCode", "0")) != "0"
    ]
    return ItemsRejectedError(code, msg, items, http_status=http_status, path=path)


def order_error_for(s_code: str, s_msg: str, *, cl_ord_id: str, path: str = "") -> OkxApiError:
    """The typed exception for a failed single order (sCode / sMsg)."""
    cls = _ERRORS_BY_CODE.get(s_code)
    if cls is None or not issubclass(cls, OrderRejectedError):
        if cls is not None:
            return cls(s_code, s_msg, path=path)
        cls = OrderRejectedError
    return cls(s_code, s_msg, cl_ord_id=cl_ord_id, path=path)
