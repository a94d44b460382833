"""Sub-account endpoints: list sub-accounts, and list, create, modify and delete their API keys.

As strict as OKX's docs: create, modify and delete need the main account's key (59500), bound to an IP (50035),
with trade permission (50120), at 1 request per second per user (50011). A sub-account holds at most 50 keys
(59501) and a key at most 20 IPs (59503); `perm` is read_only and/or trade, never withdraw (59504); a passphrase
has 8-32 characters with an upper- and a lower-case letter, a digit and a special character (59505). A deleted
key is gone at once: its next call answers 50111, and the master no longer lists it. The sub-account list
comes in pages of at most 100, newest first, paged by creation time (`after`, `before`).
"""

from __future__ import annotations

import ipaddress
import secrets
import uuid
from typing import Any

from .core import ExchangeCore
from .errors import OkxError
from .state import SimAccount, SimKey
from .wire import ApiRequest, ApiResponse, Route

MAX_KEYS_PER_ACCOUNT = 50
MAX_IPS_PER_KEY = 20
SUB_KEY_PERMS = ("read_only", "trade")
PASSPHRASE_LENGTH = (8, 32)
SUBACCOUNT_PAGE = 100  # users/subaccount/list: `limit` at most 100, and 100 when not given


def _key_change_route(action: str, handler: str) -> Route:
    """Creating, modifying and deleting a sub-account key share OKX's rules: main key, IP-bound, trade, 1/s."""
    return Route(
        f"POST subaccount/{action}",
        handler,
        private=True,
        limit=1,
        window_s=1.0,
        need_trade=True,
        need_master=True,
        need_ip_bound=True,
    )


ROUTES: dict[str, dict[str, Route]] = {
    "/api/v5/users/subaccount/list": {
        "GET": Route("GET subaccount/list", "_subaccount_list", private=True, limit=2, need_master=True)
    },
    "/api/v5/users/subaccount/apikey": {
        "GET": Route("GET subaccount/apikey", "_subaccount_keys", private=True, limit=20, need_master=True),
        "POST": _key_change_route("apikey", "_subaccount_create_key"),
    },
    "/api/v5/users/subaccount/modify-apikey": {"POST": _key_change_route("modify-apikey", "_subaccount_modify_key")},
    "/api/v5/users/subaccount/delete-apikey": {"POST": _key_change_route("delete-apikey", "_subaccount_delete_key")},
}


def _page_params(query: dict[str, str]) -> tuple[int | None, int | None, int]:
    """(after, before, limit) of a list request; a malformed one is OKX's 51000 naming the parameter."""
    cursors: list[int | None] = []
    for name in ("after", "before"):
        text = query.get(name, "")
        if text and not text.isdigit():
            raise OkxError("51000", name)
        cursors.append(int(text) if text else None)
    text = query.get("limit", "")
    if text and not (text.isdigit() and 1 <= int(text) <= SUBACCOUNT_PAGE):
        raise OkxError("51000", "limit")
    return cursors[0], cursors[1], int(text) if text else SUBACCOUNT_PAGE


def _parse_ip_list(value: object) -> list[str]:
    if not isinstance(value, str):
        raise OkxError("51000", "ip")
    entries = [part.strip() for part in value.split(",") if part.strip()]
    if len(entries) > MAX_IPS_PER_KEY:
        raise OkxError("59503")
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise OkxError("51000", "ip") from None
    return entries


def _parse_sub_perm(value: object) -> set[str]:
    if not isinstance(value, str):
        raise OkxError("51000", "perm")
    perms = {part.strip() for part in value.split(",") if part.strip()}
    if "withdraw" in perms:
        raise OkxError("59504")
    if not perms or not perms <= set(SUB_KEY_PERMS):
        raise OkxError("51000", "perm")
    return perms | {"read_only"}


def _check_passphrase(value: str) -> None:
    shortest, longest = PASSPHRASE_LENGTH
    if not (
        shortest <= len(value) <= longest
        and value.isascii()
        and any(c.isupper() for c in value)
        and any(c.islower() for c in value)
        and any(c.isdigit() for c in value)
        and any(not c.isalnum() and c.isprintable() and not c.isspace() for c in value)
    ):
        raise OkxError("59505")


class SubAccountApi(ExchangeCore):
    def _sub_account(self, master_uid: str, name: object) -> SimAccount:
        if not isinstance(name, str) or not name:
            raise OkxError("50014", "subAcct")
        for acct in self.state.accounts:
            if acct.main_uid == master_uid and acct.sub_acct == name:
                return acct
        raise OkxError("59510")

    def _live_keys(self, uid: str) -> list[SimKey]:
        return [k for k in self.state.keys if k.uid == uid and not k.deleted]

    @staticmethod
    def _key_okx(key: SimKey) -> dict[str, Any]:
        return {
            "label": key.label,
            "apiKey": key.api_key,
            "perm": key.perm_string(),
            "ip": key.ip_string(),
            "ts": str(key.created_ms),
        }

    def _subaccount_list(self, req: ApiRequest, key: SimKey | None) -> ApiResponse:
        """One page, as OKX pages it: newest first by creation `ts`; `after`/`before` keep the sub-accounts
        created strictly earlier/later than that ms; `limit` 1-100 (default 100)."""
        assert key is not None
        name = req.query.get("subAcct", "")
        after, before, limit = _page_params(req.query)
        if req.query.get("enable", "") == "false":
            return self._ok([])
        with self.lock:
            subs = [
                a
                for a in self.state.accounts
                if a.main_uid == key.uid
                and (not name or a.sub_acct == name)
                and (after is None or a.created_ms < after)
                and (before is None or a.created_ms > before)
            ]
            subs = sorted(subs, key=lambda a: (-a.created_ms, a.sub_acct or ""))[:limit]
            data = [
                {
                    "canTransOut": True,
                    "enable": True,
                    "firstLvSubAcct": a.sub_acct,
                    "frozenFunc": [],
                    "gAuth": False,
                    "ifDma": False,
                    "label": a.label,
                    "mobile": "",
                    "subAcct": a.sub_acct,
                    "subAcctLv": "1",
                    "ts": str(a.created_ms),
                    "type": "1",
                    "uid": a.uid,
                }
                for a in subs
            ]
        return self._ok(data)

    def _subaccount_keys(self, req: ApiRequest, key: SimKey | None) -> ApiResponse:
        assert key is not None
        api_key = req.query.get("apiKey", "")
        with self.lock:
            sub = self._sub_account(key.uid, req.query.get("subAcct", ""))
            keys = [k for k in self._live_keys(sub.uid) if not api_key or k.api_key == api_key]
            return self._ok([self._key_okx(k) for k in keys])

    def _subaccount_modify_key(self, req: ApiRequest, key: SimKey | None) -> ApiResponse:
        assert key is not None
        body = self._json_body(req)
        with self.lock:
            sub = self._sub_account(key.uid, body.get("subAcct"))
            target = self._sub_key(sub, body.get("apiKey"))
            label = target.label
            if "label" in body:
                label = str(body["label"])
                if any(k.label == label and k is not target for k in self._live_keys(sub.uid)):
                    raise OkxError("59502")
            perm = set(target.perm)
            if "perm" in body:
                perm = _parse_sub_perm(body["perm"])
            ips = list(target.ips)
            if "ip" in body:
                ips = _parse_ip_list(body["ip"])
            target.label = label
            target.perm = perm
            target.ips = ips
            item = {"subAcct": sub.sub_acct, **self._key_okx(target)}
        return self._ok([item])

    def _sub_key(self, sub: SimAccount, api_key: object) -> SimKey:
        if not isinstance(api_key, str) or not api_key:
            raise OkxError("50014", "apiKey")
        found = self.state.key(api_key)
        if found is None or found.deleted or found.uid != sub.uid:
            raise OkxError("59506")
        return found

    def _subaccount_create_key(self, req: ApiRequest, key: SimKey | None) -> ApiResponse:
        assert key is not None
        body = self._json_body(req)
        label = body.get("label")
        passphrase = body.get("passphrase")
        with self.lock:
            sub = self._sub_account(key.uid, body.get("subAcct"))
            if not isinstance(label, str) or not label:
                raise OkxError("50014", "label")
            if not isinstance(passphrase, str) or not passphrase:
                raise OkxError("50014", "passphrase")
            _check_passphrase(passphrase)
            perm = _parse_sub_perm(body.get("perm") or "read_only")
            ips = _parse_ip_list(body.get("ip") or "")
            live = self._live_keys(sub.uid)
            if len(live) >= MAX_KEYS_PER_ACCOUNT:
                raise OkxError("59501")
            if any(k.label == label for k in live):
                raise OkxError("59502")
            new_key = SimKey(
                api_key=str(uuid.uuid4()),
                secret=secrets.token_hex(16).upper(),
                passphrase=passphrase,
                uid=sub.uid,
                label=label,
                perm=perm,
                ips=ips,
                demo=key.demo,
                region=self.state.region,
                created_ms=self.now_ms(),
            )
            self.state.keys.append(new_key)
            item = {
                "subAcct": sub.sub_acct,
                **self._key_okx(new_key),
                "secretKey": new_key.secret,
                "passphrase": new_key.passphrase,
            }
        return self._ok([item])

    def _subaccount_delete_key(self, req: ApiRequest, key: SimKey | None) -> ApiResponse:
        assert key is not None
        body = self._json_body(req)
        with self.lock:
            sub = self._sub_account(key.uid, body.get("subAcct"))
            target = self._sub_key(sub, body.get("apiKey"))
            target.deleted = True
        return self._ok([{"subAcct": sub.sub_acct}])
