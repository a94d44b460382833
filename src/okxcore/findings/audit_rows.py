"""The audit's rows of the findings table."""

from __future__ import annotations

from okxcore.findings.rule import (
    ERROR,
    EXTRA_IPS,
    FAIL,
    INVALID_EVENT,
    PASS,
    SHIELD_IP_MISSING,
    UNBOUND_KEPT,
    WARN,
    C,
    H,
    I,
    L,
    M,
    Rule,
    r,
)

ROWS: dict[str, Rule] = {
    "audit.event": INVALID_EVENT,
    "audit.secret": r(
        H,
        ERROR,
        "not audited: the secret cannot be read or is malformed",
        "Check the secret and the function's permission to read it.",
    ),
    "audit.auth:ok": r(I, PASS, "authenticated through Shield"),
    "audit.ip_binding:unbound_safe": UNBOUND_KEPT,
    "audit.ip_binding:bound": r(I, PASS, "bound to IPs"),
    "audit.ip_binding:countdown_unknown": r(
        H, WARN, "a trade/withdraw key bound to no IP, and neither its creation nor its last use is known"
    ),
    "audit.ip_binding:countdown_critical": r(C, FAIL, "a trade/withdraw key bound to no IP, days from deletion"),
    "audit.ip_binding:countdown_high": r(H, WARN, "a trade/withdraw key bound to no IP, a week from deletion"),
    "audit.ip_binding:countdown_medium": r(M, WARN, "a trade/withdraw key bound to no IP: OKX's countdown runs"),
    "audit.shield_ips.missing": SHIELD_IP_MISSING,
    "audit.shield_ips.unknown": EXTRA_IPS,
    "audit.permissions.withdraw:allowed": r(
        I, PASS, "has withdraw permission, explicitly allowed by the secret's allowed_permissions"
    ),
    "audit.permissions.withdraw:risk": r(
        C,
        FAIL,
        "has withdraw permission: whoever holds the key can move funds out",
        "Permissions cannot be edited: create a new key without withdraw, bound to both Shield IPs, store it in "
        "the secret, and delete this one.",
    ),
    "audit.permissions.withdraw:none": r(I, PASS, "no withdraw permission"),
    "audit.permissions.purpose": r(
        M,
        WARN,
        "has more permission than its declared purpose needs",
        "Replace it with a key that has only what the purpose needs (permissions cannot be edited), or correct "
        "'purpose' in the secret.",
    ),
    "audit.key_age:ok": r(I, PASS, "young enough"),
    "audit.key_age:unknown": r(I, PASS, "age unknown"),
    "audit.key_age:due": r(M, WARN, "rotation due"),
    "audit.key_age:overdue": r(H, WARN, "rotation overdue"),
    "audit.dormancy:ok": r(I, PASS, "used recently"),
    "audit.dormancy:new": r(I, PASS, "new key, no use recorded yet"),
    "audit.dormancy:dormant_risky": r(M, WARN, "dormant trade/withdraw key"),
    "audit.dormancy:dormant_safe": r(L, WARN, "dormant read-only key"),
    "audit.limits.ips:near": r(
        M,
        WARN,
        "the key nears OKX's 20 IPs",
        "Remove bound IPs that are no longer used, so that a new Shield IP can still be added.",
    ),
    "audit.limits.ips:at": r(
        H,
        WARN,
        "the key has OKX's 20 IPs",
        "Remove bound IPs that are no longer used, so that a new Shield IP can still be added.",
    ),
    "audit.limits.keys:near": r(
        M,
        WARN,
        "the account nears OKX's 50 keys",
        "Delete keys that are no longer used, so that a rotation can still create a new one.",
    ),
    "audit.limits.keys:at": r(
        H,
        WARN,
        "the account has OKX's 50 keys",
        "Delete keys that are no longer used, so that a rotation can still create a new one.",
    ),
    "audit.master:ok": r(I, PASS, "listed the sub-accounts' keys"),
    "audit.master:failed": r(
        H,
        ERROR,
        "sub-account keys not audited: the master key could not list them",
        "Check the master key's secret and that it is the main account's key (read permission suffices for "
        "the audit; IP-binding repair and rotation need trade).",
    ),
    "audit.master:truncated": r(
        L,
        WARN,
        "the master's sub-account listing stopped early: sub-accounts past it were not audited",
        "Audit the remaining sub-accounts' keys through their own secrets (tag or prefix).",
    ),
    "audit.fleet:no_keys": r(
        M,
        WARN,
        "no key secrets matched: nothing was audited",
        "Check the tag/prefix in the event (or KEY_SECRET_TAG / KEY_SECRET_PREFIX) against your secrets.",
    ),
    "audit.fleet:listing_failed": r(
        H,
        ERROR,
        "the key secrets could not be listed: the fleet was not audited",
        "Check the function's permission secretsmanager:ListSecrets.",
    ),
    "audit.shard": r(H, ERROR, "a shard of the fanned-out audit left no result: its keys were not audited"),
    "audit.shard:malformed": r(
        H, ERROR, "a shard's stored result is not a shard result: its keys were left out of the report"
    ),
    "audit.run:plan_unreadable": r(
        C, ERROR, "the fanned-out audit could not read its own plan: no key of the run was reported"
    ),
    "audit.run:master_unreadable": r(
        H, ERROR, "the plan's audit of the master key is malformed: the master and its listing were left out"
    ),
    "audit.fleet:no_expected_ips": r(
        L,
        WARN,
        "the Shield secret lists no expected_ips: bound IPs were not compared with Shield's",
        'Add "expected_ips": [the two Shield static IPs] to the Shield secret.',
    ),
}
