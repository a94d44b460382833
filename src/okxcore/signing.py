"""OKX v5 request signing: Base64(HMAC-SHA256(secret, timestamp + METHOD + requestPath + body))."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime


def okx_timestamp(epoch_ms: int) -> str:
    """UTC ISO-8601 with exactly three fractional digits and Z, e.g. 2020-12-08T09:08:57.715Z."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def sign(secret: str, timestamp: str, method: str, request_path: str, body: bytes | str = b"") -> str:
    """The OK-ACCESS-SIGN value. request_path includes ?query exactly as sent; body is the exact bytes sent."""
    body_bytes = body.encode() if isinstance(body, str) else body
    message = timestamp.encode() + method.upper().encode() + request_path.encode() + body_bytes
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()
