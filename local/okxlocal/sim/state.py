"""Seed and state models of the local OKX simulator (pydantic v2).

A seed describes the simulated exchange at start-up: accounts (a master account and its
sub-accounts), API keys, spot instruments and tickers. The simulator works on a deep copy of the
seed, so one seed object can start several simulators. Seeds are JSON-loadable:
``SimSeed.model_validate_json(path.read_text())`` (amounts are best written as JSON strings).
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

Perm = Literal["read_only", "trade", "withdraw"]
Region = Literal["www", "eea", "us"]

PERM_ORDER: tuple[str, ...] = ("read_only", "trade", "withdraw")


def _now_ms() -> int:
    return int(time.time() * 1000)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SimKey(_Model):
    """One API key. ``uid`` is the owning account; ``ips`` empty means "not bound to an IP"."""

    api_key: str
    # A seed may name it api_secret, as a key secret and a key file do (docs/secrets.md), so that one key's
    # fields are spelled the same in the seed and in the key file `okx-shield call --key-file` reads.
    secret: str = Field(validation_alias=AliasChoices("api_secret", "secret"))
    passphrase: str
    uid: str
    label: str = ""
    perm: set[Perm] = Field(default_factory=lambda: {"read_only"})
    ips: list[str] = Field(default_factory=list)
    demo: bool = False
    region: Region = "www"
    created_ms: int = Field(default_factory=_now_ms)
    deleted: bool = False

    def perm_string(self) -> str:
        """OKX form: comma-joined, always including read_only, e.g. ``"read_only,trade"``."""
        perms = set(self.perm) | {"read_only"}
        return ",".join(p for p in PERM_ORDER if p in perms)

    def ip_string(self) -> str:
        return ",".join(self.ips)


class SimAccount(_Model):
    """An account. ``main_uid`` None means a master account; sub-accounts name their master."""

    uid: str
    label: str = ""
    main_uid: str | None = None
    sub_acct: str | None = None
    balances: dict[str, Decimal] = Field(default_factory=dict)  # trading account
    funding: dict[str, Decimal] = Field(default_factory=dict)  # funding account (asset/balances)
    created_ms: int = Field(default_factory=_now_ms)

    @property
    def is_master(self) -> bool:
        return self.main_uid is None


class SimInstrument(_Model):
    """A spot instrument; ``min_sz``/``lot_sz`` are in the base currency, ``tick_sz`` in the quote."""

    inst_id: str
    base_ccy: str
    quote_ccy: str
    min_sz: Decimal
    lot_sz: Decimal
    tick_sz: Decimal
    state: str = "live"


class SimTicker(_Model):
    last: Decimal
    bid_px: Decimal
    ask_px: Decimal


class SimSeed(_Model):
    region: Region = "www"
    accounts: list[SimAccount] = Field(default_factory=list)
    keys: list[SimKey] = Field(default_factory=list)
    instruments: list[SimInstrument] = Field(default_factory=list)
    tickers: dict[str, SimTicker] = Field(default_factory=dict)
    rate_limits_enabled: bool = True
    timestamp_window_s: int = 30
    fee_rate_taker: Decimal = Decimal("0.001")
    fee_rate_maker: Decimal = Decimal("0.0008")

    @model_validator(mode="after")
    def _check_consistency(self) -> SimSeed:
        uids = [a.uid for a in self.accounts]
        if len(set(uids)) != len(uids):
            raise ValueError("duplicate account uid")
        by_uid = {a.uid: a for a in self.accounts}
        for acct in self.accounts:
            if acct.main_uid is not None:
                master = by_uid.get(acct.main_uid)
                if master is None or not master.is_master:
                    raise ValueError(f"account {acct.uid}: main_uid {acct.main_uid} is not a master account")
                if not acct.sub_acct:
                    raise ValueError(f"sub-account {acct.uid} needs a sub_acct name")
        api_keys = [k.api_key for k in self.keys]
        if len(set(api_keys)) != len(api_keys):
            raise ValueError("duplicate api_key")
        for key in self.keys:
            if key.uid not in by_uid:
                raise ValueError(f"key {key.api_key}: unknown uid {key.uid}")
        inst_ids = [i.inst_id for i in self.instruments]
        if len(set(inst_ids)) != len(inst_ids):
            raise ValueError("duplicate instrument")
        return self

    def account(self, uid: str) -> SimAccount | None:
        return next((a for a in self.accounts if a.uid == uid), None)

    def key(self, api_key: str) -> SimKey | None:
        return next((k for k in self.keys if k.api_key == api_key), None)

    def instrument(self, inst_id: str) -> SimInstrument | None:
        return next((i for i in self.instruments if i.inst_id == inst_id), None)
