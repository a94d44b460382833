"""Pydantic models of the OKX v5 responses and requests the product uses (field names as OKX spells them)."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, field_validator

from okxcore.errors import InvalidInputError

OKX_MAX_IPS_PER_KEY = 20  # 59503 beyond this


def _blank_to_none(value: object) -> object:
    return None if value == "" else value


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


OptDecimal = Annotated[Decimal | None, BeforeValidator(_blank_to_none)]
OptInt = Annotated[int | None, BeforeValidator(_blank_to_none)]

# OKX writes the read permission as "read_only" (account/config) or "read" (sub-account endpoints).
_PERMISSION_ALIASES = {"read": "read_only", "read_only": "read_only", "trade": "trade", "withdraw": "withdraw"}


def _permissions(value: object) -> object:
    parts = _split_csv(value)
    if isinstance(parts, list | set | frozenset | tuple):
        return frozenset(_PERMISSION_ALIASES.get(str(p).strip(), str(p).strip()) for p in parts)
    return parts


Permissions = Annotated[frozenset[str], BeforeValidator(_permissions)]
IpList = Annotated[tuple[str, ...], BeforeValidator(_split_csv)]


class OkxModel(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


class ServerTime(OkxModel):
    ts: int


class AccountConfig(OkxModel):
    uid: str
    main_uid: str = Field(default="", alias="mainUid")
    label: str = ""
    perm: Permissions = frozenset()
    ip: IpList = ()
    acct_lv: str = Field(default="", alias="acctLv")

    @property
    def can_trade_or_withdraw(self) -> bool:
        return bool(self.perm & {"trade", "withdraw"})

    @property
    def is_sub_account(self) -> bool:
        return bool(self.main_uid) and self.main_uid != self.uid


class BalanceDetail(OkxModel):
    ccy: str
    avail_bal: OptDecimal = Field(default=None, alias="availBal")
    cash_bal: OptDecimal = Field(default=None, alias="cashBal")
    frozen_bal: OptDecimal = Field(default=None, alias="frozenBal")
    eq: OptDecimal = None
    eq_usd: OptDecimal = Field(default=None, alias="eqUsd")


class Balance(OkxModel):
    total_eq: OptDecimal = Field(default=None, alias="totalEq")
    u_time: OptInt = Field(default=None, alias="uTime")
    details: tuple[BalanceDetail, ...] = ()

    def available(self, ccy: str) -> Decimal:
        for detail in self.details:
            if detail.ccy == ccy:
                return detail.avail_bal or Decimal(0)
        return Decimal(0)


class Ticker(OkxModel):
    inst_id: str = Field(alias="instId")
    last: Decimal
    bid_px: OptDecimal = Field(default=None, alias="bidPx")
    ask_px: OptDecimal = Field(default=None, alias="askPx")
    ts: OptInt = None


class Instrument(OkxModel):
    inst_id: str = Field(alias="instId")
    inst_type: str = Field(default="SPOT", alias="instType")
    base_ccy: str = Field(default="", alias="baseCcy")
    quote_ccy: str = Field(default="", alias="quoteCcy")
    min_sz: Decimal = Field(alias="minSz")
    lot_sz: Decimal = Field(alias="lotSz")
    tick_sz: Decimal = Field(alias="tickSz")
    state: str = "live"


Side = Literal["buy", "sell"]
OrderType = Literal["market", "limit", "post_only", "ioc", "fok"]
CL_ORD_ID_PATTERN = re.compile(r"^[A-Za-z0-9]{1,32}$")
TAG_PATTERN = re.compile(r"^[A-Za-z0-9]{1,16}$")


class OrderRequest(OkxModel):
    inst_id: str = Field(alias="instId")
    td_mode: Literal["cash"] = Field(default="cash", alias="tdMode")
    side: Side
    ord_type: OrderType = Field(alias="ordType")
    sz: Decimal = Field(gt=0)
    px: Decimal | None = Field(default=None, gt=0)
    cl_ord_id: str = Field(alias="clOrdId")
    tgt_ccy: Literal["base_ccy", "quote_ccy"] | None = Field(default=None, alias="tgtCcy")
    tag: str | None = None

    @field_validator("cl_ord_id")
    @classmethod
    def _check_cl_ord_id(cls, value: str) -> str:
        if not CL_ORD_ID_PATTERN.fullmatch(value):
            raise ValueError("clOrdId must be 1 to 32 letters and digits")
        return value

    @field_validator("tag")
    @classmethod
    def _check_tag(cls, value: str | None) -> str | None:
        if value is not None and not TAG_PATTERN.fullmatch(value):
            raise ValueError("tag must be 1 to 16 letters and digits")
        return value

    def to_body(self) -> dict[str, str]:
        body = {
            "instId": self.inst_id,
            "tdMode": self.td_mode,
            "side": self.side,
            "ordType": self.ord_type,
            "sz": format(self.sz, "f"),
            "clOrdId": self.cl_ord_id,
        }
        if self.px is not None:
            body["px"] = format(self.px, "f")
        if self.tgt_ccy is not None:
            body["tgtCcy"] = self.tgt_ccy
        if self.tag is not None:
            body["tag"] = self.tag
        return body


class OrderAck(OkxModel):
    cl_ord_id: str = Field(default="", alias="clOrdId")
    ord_id: str = Field(default="", alias="ordId")
    s_code: str = Field(default="0", alias="sCode")
    s_msg: str = Field(default="", alias="sMsg")
    ts: OptInt = None


class Order(OkxModel):
    inst_id: str = Field(alias="instId")
    ord_id: str = Field(alias="ordId")
    cl_ord_id: str = Field(default="", alias="clOrdId")
    side: str = ""
    ord_type: str = Field(default="", alias="ordType")
    state: str = ""
    px: OptDecimal = None
    sz: OptDecimal = None
    tgt_ccy: str = Field(default="", alias="tgtCcy")
    acc_fill_sz: OptDecimal = Field(default=None, alias="accFillSz")
    avg_px: OptDecimal = Field(default=None, alias="avgPx")
    fee: OptDecimal = None
    fee_ccy: str = Field(default="", alias="feeCcy")
    c_time: OptInt = Field(default=None, alias="cTime")
    u_time: OptInt = Field(default=None, alias="uTime")
    tag: str = ""

    @property
    def is_final(self) -> bool:
        return self.state in {"filled", "canceled", "mmp_canceled"}

    @property
    def is_pending(self) -> bool:
        return self.state in {"live", "partially_filled"}

    @property
    def remaining_sz(self) -> Decimal | None:
        """Base size not filled (limit orders; a quote-sized market order has no base remainder to state)."""
        if self.sz is None or self.tgt_ccy == "quote_ccy":
            return None
        return max(self.sz - (self.acc_fill_sz or Decimal(0)), Decimal(0))


CancelState = Literal["requested", "already_final", "not_found"]


class CancelOutcome(OkxModel):
    """What a cancel did. `requested`: OKX accepted it (the order's final state follows on lookup);
    `already_final`: it was filled or canceled before; `not_found`: OKX has no such order."""

    inst_id: str
    cl_ord_id: str
    state: CancelState
    ord_id: str = ""
    order: Order | None = None  # the order as looked up, when the client had to look it up


class SubAccount(OkxModel):
    sub_acct: str = Field(alias="subAcct")
    label: str = ""
    uid: str = ""
    ts: OptInt = None
    enable: bool = True


class SubAccountApiKey(OkxModel):
    """A sub-account key as the master sees it. `api_key` is the public key id, not a secret."""

    label: str = ""
    api_key: str = Field(default="", alias="apiKey")
    perm: Permissions = frozenset()
    ip: IpList = ()
    ts: OptInt = None
    sub_acct: str = Field(default="", alias="subAcct")


def fingerprint(api_key: str) -> str:
    """Matches a secret's key with the master's listing without keeping or comparing the key as such."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def is_ip_entry(text: str) -> bool:
    """An entry of a key's IP list as OKX takes it: an IPv4/IPv6 address or a CIDR block (no leading zeros)."""
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def ip_list_text(ips: Sequence[str], *, source: str) -> str:
    """A key's IP list as OKX's `ip` field: comma-separated IPv4/IPv6 addresses or CIDR blocks, at most 20.

    Checked before sending because modify-apikey replaces the whole list: a bad entry must stop the call, not
    reach OKX half-formed. The error names the field and the entry's position, never the list.
    """
    entries = list(dict.fromkeys(entry.strip() for entry in ips))
    for position, entry in enumerate(entries, start=1):
        if not is_ip_entry(entry):
            raise InvalidInputError(source, "ip", f"entry {position} is not an IP address or CIDR block")
    if len(entries) > OKX_MAX_IPS_PER_KEY:
        raise InvalidInputError(
            source,
            "ip",
            f"lists {len(entries)} IPs; OKX binds at most {OKX_MAX_IPS_PER_KEY} to one key (59503)",
            hint="Remove IPs that are no longer used.",
        )
    return ",".join(entries)


class CreatedSubAccountApiKey(SubAccountApiKey):
    """A new sub-account key: the only answer that carries a secret, so its secret fields are SecretStr."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True, hide_input_in_errors=True)

    secret_key: SecretStr = Field(alias="secretKey")
    passphrase: SecretStr
