"""The probe's repair step: the keys this run found unbound (with trade/withdraw), missing a Shield IP, or
refused from a Shield IP (50110) are repaired through the master key (MASTER_KEY_SECRET_NAME).

Only when the egress is confirmed as Shield's: with a wrong egress, binding is not the problem, and binding the
Shield IPs could not make the calls work. A repaired key's binding findings are replaced by the repair's own
(the before/after is in the repair table), so that the report shows the keys as they are after the run.
"""

from __future__ import annotations

from okxcore.client import OkxClient
from okxcore.egress import compare_binding
from okxcore.errors import OkxShieldError
from okxcore.keys.repair.binding import (
    BindingRepairer,
    Outcome,
    RepairItem,
    RepairRecorder,
    RepairResult,
    SubKeyRef,
    manual_item,
)
from okxcore.keys.repair.locate import KeyToLocate, locate, master_uid, patiently
from okxcore.probe.checks import KeyCheck, keys_table
from okxcore.probe.ports import ProbeWiring
from okxcore.probe.reporting import ProbeRun

CHECK_MASTER = "keys.repair.master"
# The probe leaves the repair the last 20 s of its run (okxcore.probe.fleet), and OKX allows one modify-apikey per
# second: the rest waits for the next run.
PROBE_REPAIRS_PER_RUN = 10
BINDING_CHECKS = frozenset({"probe.keys.binding"})


def repair_probe_keys(
    run: ProbeRun,
    wiring: ProbeWiring,
    checks: list[KeyCheck],
    shield_ips: tuple[str, ...],
    *,
    egress_confirmed: bool,
) -> None:
    config = run.config
    targets = [check for check in checks if check.needs_binding]
    mode = config.repair_mode
    if not targets:
        run.summary.append(f"IP-binding repair ({mode}): no key needed it.")
        return
    deferred = max(0, len(targets) - PROBE_REPAIRS_PER_RUN)
    targets = targets[:PROBE_REPAIRS_PER_RUN]
    if not egress_confirmed or not shield_ips:
        why = "the egress is not confirmed as a Shield IP" if shield_ips else "the Shield secret lists no expected_ips"
        run.summary.append(f"IP-binding repair ({mode}) skipped: {why}.")
        return
    result = RepairResult(mode)
    master = _master(run, wiring, config.master_secret)
    if master is None:
        reason = (
            "no master key is configured (MASTER_KEY_SECRET_NAME)"
            if not config.master_secret
            else ("the master key cannot be used (see the master finding)")
        )
        result.items = [manual_item(c.resource, c.label, reason, shield_ips) for c in targets]
    else:
        client, own_uid = master
        refs = _locate_all(run, wiring, client, own_uid, targets, shield_ips, result)
        recorder = wiring.state if isinstance(wiring.state, RepairRecorder) else None
        repairer = BindingRepairer(client, shield_ips, mode, actor="probe function", recorder=recorder)
        result.items = repairer.repair(refs).items + result.items
    result.deferred = deferred
    _report(run, checks, result, shield_ips)


def _locate_all(
    run: ProbeRun,
    wiring: ProbeWiring,
    client: OkxClient,
    own_uid: str,
    targets: list[KeyCheck],
    shield_ips: tuple[str, ...],
    result: RepairResult,
) -> list[SubKeyRef]:
    """Where the master finds each key; what cannot be located goes into `result` (a repair problem is the
    repair's finding, never the end of the probe)."""
    try:
        subaccounts = patiently(client.subaccounts)
    except OkxShieldError as exc:
        run.add(
            CHECK_MASTER,
            run.config.master_secret,
            f"IP-binding repair could not list the master's sub-accounts: {exc.message}",
            remediation=exc.hint,
        )
        reason = "the master's sub-accounts could not be listed in this run"
        result.items.extend(manual_item(c.resource, c.label, reason, shield_ips) for c in targets)
        return []
    refs: list[SubKeyRef] = []
    for check in targets:
        api_key = wiring.load_key(check.secret_name).api_key.get_secret_value()
        target = KeyToLocate(check.resource, check.label, api_key, config=check.config)
        try:
            found = locate(client, own_uid, target, shield_ips=shield_ips, subaccounts=subaccounts)
        except OkxShieldError as exc:
            found = RepairItem(
                check.resource,
                check.label,
                Outcome.FAILED,
                f"the master could not look the key up ({exc.message}); nothing was changed",
                remediation=exc.hint,
            )
        if isinstance(found, RepairItem):
            result.items.append(found)
        else:
            refs.append(found)
    return refs


def _master(run: ProbeRun, wiring: ProbeWiring, name: str) -> tuple[OkxClient, str] | None:
    if not name:
        return None
    try:
        client = wiring.client(wiring.load_key(name), record_use=False, pool_maxsize=run.config.pool_maxsize)
        return client, master_uid(client, name)
    except OkxShieldError as exc:
        run.add(
            CHECK_MASTER,
            name,
            f"IP-binding repair could not use the master key: {exc.message}",
            remediation=exc.hint,
        )
        return None


def _report(run: ProbeRun, checks: list[KeyCheck], result: RepairResult, shield_ips: tuple[str, ...]) -> None:
    confirmed = result.confirmed_ips()
    run.findings[:] = [f for f in run.findings if not (f.resource in confirmed and f.check_id in BINDING_CHECKS)]
    for check in checks:
        if check.resource in confirmed:
            check.binding = compare_binding(confirmed[check.resource], shield_ips)
            check.result = "repaired"
    run.findings.extend(result.findings())
    run.summary.append(result.summary())
    run.tables[f"IP-binding repair ({result.mode})"] = result.table()
    run.tables["Keys"] = keys_table(checks)
