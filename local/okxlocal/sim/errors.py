"""The OKX error codes the simulator answers, with HTTP status and message from OKX's table."""

from __future__ import annotations

ERRORS: dict[str, tuple[int, str]] = {
    "0": (200, ""),
    "1": (200, "All operations failed"),
    "50000": (400, "Body for POST request cannot be empty."),
    "50001": (503, "Service temporarily unavailable. Please try again later."),
    "50002": (400, "JSON syntax error"),
    "50011": (429, "Too Many Requests"),
    "50014": (400, "Parameter {0} can not be empty."),
    "50015": (400, "Either parameter {0} or {1} is required"),
    "50035": (403, "This endpoint requires that APIKey must be bound to IP"),
    "50037": (200, "Order expired."),
    "50101": (401, "APIKey does not match current environment."),
    "50102": (401, "Timestamp request expired."),
    "50103": (401, 'Request header "OK-ACCESS-KEY" cannot be empty.'),
    "50104": (401, 'Request header "OK-ACCESS-PASSPHRASE" cannot be empty.'),
    "50105": (401, 'Request header "OK-ACCESS-PASSPHRASE" incorrect.'),
    "50106": (401, 'Request header "OK-ACCESS-SIGN" cannot be empty.'),
    "50107": (401, 'Request header "OK-ACCESS-TIMESTAMP" cannot be empty.'),
    "50110": (401, "Your IP {0} is not included in your API key's IP whitelist."),
    "50111": (401, "Invalid OK-ACCESS-KEY."),
    "50112": (401, "Invalid OK-ACCESS-TIMESTAMP."),
    "50113": (401, "Invalid Sign"),  # the live wording; the docs table says "Invalid signature."
    "50115": (405, "Invalid request method."),
    "50119": (200, "API key doesn't exist"),
    "50120": (200, "This API key doesn't have permission to use this function"),
    "51000": (400, "Parameter {0} error"),
    "51001": (200, "Instrument ID doesn't exist."),
    "51008": (200, "Order failed. Insufficient {0} balance in account"),
    "51016": (200, "Client order ID already exists."),
    "51020": (200, "Your order should meet or exceed the minimum order amount."),
    "51121": (200, "Order quantity must be a multiple of the lot size."),
    "51400": (200, "Order cancellation failed as the order has been filled, canceled or does not exist."),
    "51603": (200, "Order does not exist."),
    "59500": (200, "Only the API key of the main account has permission."),
    "59501": (200, "Each account can create up to 50 API keys"),
    "59502": (200, "This note name already exists. Enter a unique API key note name"),
    "59503": (200, "Each API key can bind up to 20 IP addresses"),
    "59504": (200, "Sub-accounts don't support withdrawals. Please use your main account for withdrawals."),
    "59505": (200, "The passphrase format is incorrect."),
    "59506": (200, "API key doesn't exist."),
    "59510": (200, "Sub-account does not exist"),
}


class OkxError(Exception):
    """A top-level OKX error answer: ``{"code": code, "msg": msg, "data": []}`` with ``http_status``."""

    def __init__(self, code: str, *params: object, http_status: int | None = None, msg: str | None = None) -> None:
        status, template = ERRORS.get(code, (400, "Error"))
        self.code = code
        self.http_status = status if http_status is None else http_status
        self.msg = msg if msg is not None else template.format(*params) if params else template
        super().__init__(f"{self.code} {self.msg}")

    def body(self) -> dict[str, object]:
        return {"code": self.code, "msg": self.msg, "data": []}


def message(code: str, *params: object) -> str:
    """The message for ``code`` with its ``{0}``... placeholders filled."""
    template = ERRORS.get(code, (200, ""))[1]
    return template.format(*params) if params else template
