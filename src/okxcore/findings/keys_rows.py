"""The key lifecycle's rows of the findings table (repair, rotation, and the audit's view of them)."""

from __future__ import annotations

from okxcore.findings.rule import (
    ERROR,
    FAIL,
    INVALID_EVENT,
    PASS,
    WARN,
    H,
    I,
    L,
    Rule,
    r,
)

ROWS: dict[str, Rule] = {
    "audit.key_age:managed": r(I, PASS, "rotated by okx-shield"),
    "audit.rotation:refused": r(
        H,
        FAIL,
        "rotation refused: a main account's key",
        "This is a main account's key: rotate it by hand (the rotation report lists the steps) and turn automatic "
        "rotation off for the secret.",
    ),
    "audit.rotation:failed": r(
        H,
        FAIL,
        "the last rotation failed",
        "Read the rotation report for the cause, fix it, then rotate again (`okx-shield keys rotate --secret NAME "
        "--real`, or `aws secretsmanager rotate-secret`).",
    ),
    "rotation.event": INVALID_EVENT,
    # Shown as rotation.<step> (createSecret, setSecret, testSecret, finishSecret): `check=` names the step.
    "rotation.step:failed": r(H, FAIL, "the rotation step failed", fails_run=True),
    "rotation.step:error": r(H, ERROR, "the rotation step stopped on an error"),
    "rotation.step:busy": r(
        L,
        WARN,
        "another run of this secret's rotation or cleanup is working on it: nothing was done, the step is retried",
        "Nothing to fix: Secrets Manager retries the step. If it stays busy for more than 5 minutes, a run died "
        "holding the secret's lease, which expires by itself.",
    ),
    "rotation.master_key": r(
        H, FAIL, "rotation refused: a main account's key is never rotated automatically", fails_run=True
    ),
    "rotation.finishSecret": r(I, PASS, "rotated"),
    "rotation.cleanup:failed": r(H, ERROR, "deleting old keys failed"),
    "rotation.cleanup:ok": r(I, PASS, "old keys deleted"),
    "rotation.cleanup:busy": r(
        I, PASS, "not cleaned in this run: a rotation step holds the secret", "Nothing to fix: the next run does it."
    ),
    "rotation.cleanup:left": r(
        L,
        WARN,
        "the secret is deleted; the key it held last is left at OKX",
        "If no bot uses the key any more, delete it in OKX's API management of the sub-account; if the secret was "
        "deleted by mistake, restore it (`aws secretsmanager restore-secret`) within its recovery window.",
    ),
    "rotation.cleanup:held": r(
        I,
        PASS,
        "a key due for deletion is held by AWSCURRENT or AWSPENDING again, so it was kept",
        "Nothing to fix: a key a stage holds is never deleted; it is retired again once no stage holds it.",
    ),
    "rotation.cleanup:unconfirmed": r(
        H,
        FAIL,
        "OKX accepted the delete, but its listing still shows the key",
        "Check the key in OKX's API management of the sub-account and delete it there; the next cleanup retries.",
        fails_run=True,
    ),
    "keys.repair.master": r(H, ERROR, "IP-binding repair could not use the master key"),
    "keys.repair.ip_binding:unchanged": r(I, PASS, "already bound to every Shield static IP"),
    "keys.repair.ip_binding:applied": r(I, PASS, "bound to every Shield static IP by the repair"),
    "keys.repair.ip_binding:planned": r(L, WARN, "the repair would change the key's IP list (plan mode)"),
    "keys.repair.ip_binding:manual": r(L, WARN, "the key needs a manual step to be bound"),
    "keys.repair.ip_binding:over_limit": r(H, FAIL, "not changed: the new list would pass OKX's 20 IPs"),
    "keys.repair.ip_binding:unconfirmed": r(H, FAIL, "changed, but OKX's list read afterwards does not show it"),
    "keys.repair.ip_binding:failed": r(H, ERROR, "the repair failed"),
}
