"""OKX's answers, read: the one place a response becomes data items, a model, or a typed error.

Kept apart from the client's request path because it needs no connection: the parser properties are tested
by feeding it responses built in the test, and every endpoint's answer goes through the same rules
(`code`, then per-item `sCode`/`sMsg` for orders and cancels, then the model).
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from okxcore.errors import (
    UNAVAILABLE_CODE,
    OkxApiError,
    ServiceBusyError,
    error_for,
    items_error_for,
    order_error_for,
)

ModelT = TypeVar("ModelT", bound=BaseModel)


class HttpAnswer(Protocol):
    """What is read of an HTTP answer: a requests.Response, or the OKX client's ShieldAnswer."""

    @property
    def status_code(self) -> int: ...

    def json(self) -> Any: ...


def answer_data(response: HttpAnswer, path: str, item_id: str | None) -> list[dict[str, Any]]:
    """The answer's data items, or the typed error it carries. `item_id` (the clOrdId) marks an answer that
    reports per item (sCode/sMsg)."""
    try:
        payload = response.json()
    except (ValueError, RecursionError):  # not JSON, not text, or nested past the parser's depth
        payload = None
    if not isinstance(payload, dict) or "code" not in payload:
        if response.status_code >= 500 or response.status_code == 429:
            raise ServiceBusyError(
                UNAVAILABLE_CODE, f"HTTP {response.status_code}", http_status=response.status_code, path=path
            )
        raise OkxApiError(
            f"HTTP{response.status_code}", "not an OKX JSON answer", http_status=response.status_code, path=path
        )
    code = str(payload.get("code"))
    data = _data_items(payload.get("data"))
    if data is None:
        if code not in {"0", "1", "2"}:
            raise error_for(code, str(payload.get("msg", "")), http_status=response.status_code, path=path)
        raise OkxApiError(f"HTTP{response.status_code}", "an OKX answer whose data is not a list of objects", path=path)
    if code == "0" and item_id is None:
        return data
    if item_id is not None and code in {"0", "1", "2"} and data:
        item = data[0]
        s_code = str(item.get("sCode", code))
        if s_code != "0":
            raise order_error_for(s_code, str(item.get("sMsg", "")), cl_ord_id=item_id, path=path)
        return data
    if code in {"1", "2"} and any("sCode" in item for item in data):  # a batch: each item says why it failed
        raise items_error_for(code, str(payload.get("msg", "")), data, http_status=response.status_code, path=path)
    if code != "0":
        raise error_for(code, str(payload.get("msg", "")), http_status=response.status_code, path=path)
    return data


def one(model: type[ModelT], data: list[dict[str, Any]]) -> ModelT:
    if not data:
        raise OkxApiError("empty", "OKX answered with no data", path=model.__name__)
    return parse_item(model, data[0])


def many(model: type[ModelT], data: list[dict[str, Any]]) -> list[ModelT]:
    return [parse_item(model, item) for item in data]


def parse_item(model: type[ModelT], item: dict[str, Any]) -> ModelT:
    try:
        return model.model_validate(item)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in err["loc"]) for err in exc.errors(include_input=False))
        raise OkxApiError("parse", f"unexpected {model.__name__} answer (fields: {fields})") from None


def _data_items(data: object) -> list[dict[str, Any]] | None:
    """OKX's `data`: a list of objects (empty when absent); None when it is anything else."""
    if data is None or data == "":
        return []
    if isinstance(data, list) and all(isinstance(item, dict) for item in data):
        return data
    return None
