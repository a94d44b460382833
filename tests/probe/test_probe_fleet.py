"""The probe over a fleet: keys checked concurrently over one Shield session, paced within OKX's per-user rate
limit, within the run's time budget, and reported in the same order whatever finished first.

The OKX simulator (its per-user rate limits on, latency added where the test needs calls to overlap) sits behind
a real proxy program; the assertions are on what the simulator saw.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from handlers.probe import handler
from handlers.wiring import Wiring
from okxcore.aws.probe_keys import SecretBatches, list_key_secret_names
from okxcore.probe import parse_probe_event, run_probe
from okxlocal.seeds import new_key, seed_with
from okxlocal.stack import KEY_SECRET_PREFIX

SHIELD_IP, OTHER_SHIELD_IP = "127.0.0.2", "127.0.0.3"
BOTH = [SHIELD_IP, OTHER_SHIELD_IP]
CONFIG = "/api/v5/account/config"
ECHO_NAMES = ("quotaguard", "ipify", "checkip")


def config_answers(stack) -> dict[str, list[str]]:
    """api key -> the codes the simulator answered its account/config calls with, oldest first."""
    answers: dict[str, list[str]] = {}
    for record in stack.sim.stats.requests:
        if record.path.startswith(CONFIG) and record.api_key:
            answers.setdefault(record.api_key, []).append(record.code)
    return answers


def keys_rows(result: dict[str, Any]) -> list[list[str]]:
    return result["tables"]["Keys"][1:]


def test_many_keys_are_checked_concurrently_over_one_pool_each_exactly_once(local_stack, lambda_context):
    # Given 48 keys of 48 users, and OKX taking 100 ms per call (one after another: 4.8 s of calls)
    keys = [new_key(str(7000 + i), f"bot-{i:02d}", ips=BOTH) for i in range(48)]
    stack = local_stack(seed_with(keys))
    stack.sim.faults.latency_s = 0.1

    # When the probe runs with 8 checks at a time
    result = handler({"max_workers": 8}, lambda_context)

    # Then the simulator saw every key exactly once, answered, with no rate-limit answer
    answers = config_answers(stack)
    assert answers == {key.api_key: ["0"] for key in keys}
    # over more than one tunnel (the checks overlapped) and no more than the pool holds (tunnels were reused)
    tunnels = stack.sim.stats.connections_from(SHIELD_IP)
    assert 1 < tunnels <= 10
    stats = result["details"]["key_checks"]
    assert stats["workers"] == 8 and 1 < stats["max_in_flight"] <= 8
    # and the report lists the keys in the listing's order, all bound, whichever call finished first
    assert [row[0] for row in keys_rows(result)] == [f"bot-{i:02d}" for i in range(48)]
    assert {row[3] for row in keys_rows(result)} == {"ok"}
    assert result["severity"] == "OK"
    [message] = stack.reports()
    assert "Keys: 48 configured, 48 checked at OKX, 48 bound to every Shield IP." in message.text
    # and every call went through Shield: three echoes and one per key
    assert result["details"]["shield_requests"] == 3 + 48


def test_a_rate_limited_key_is_retried_until_it_is_checked(local_stack, lambda_context):
    # Given one OKX user with 9 keys: account/config allows 5 calls per 2 s per user, so 8 at once collide
    keys = [new_key("7100", f"desk-{i}", ips=BOTH) for i in range(9)]
    stack = local_stack(seed_with(keys))

    # When the probe checks them 8 at a time
    result = handler({"max_workers": 8}, lambda_context)

    # Then the simulator refused some calls with 50011, and every key was asked again until it answered
    answers = config_answers(stack)
    assert sum(codes.count("50011") for codes in answers.values()) >= 1
    assert {key.api_key: codes[-1] for key, codes in ((k, answers[k.api_key]) for k in keys)} == {
        key.api_key: "0" for key in keys
    }
    assert all(codes.count("0") == 1 for codes in answers.values())  # answered once, never asked again after
    # and the report shows all 9 checked, with no key left on a rate limit
    assert {row[3] for row in keys_rows(result)} == {"ok"}
    assert not [f for f in result["findings"] if f["check_id"] == "probe.keys.okx"]
    assert result["severity"] == "OK"


def test_keys_past_the_budget_are_reported_with_the_fix_and_never_reach_okx(local_stack):
    # Given 40 keys, OKX taking 200 ms per call, 2 checks at a time, and 1.5 s of the run for key checks (the
    # three echoes take 0.6 s of it)
    keys = [new_key(str(7200 + i), f"late-{i:02d}", ips=BOTH) for i in range(40)]
    stack = local_stack(seed_with(keys))
    stack.sim.faults.latency_s = 0.2

    wiring = Wiring.from_environ()
    outcome = run_probe(
        parse_probe_event({"max_workers": 2}),
        wiring,
        list_key_secrets=list_key_secret_names,
        load_keys=SecretBatches(wiring),
        time_left_s=21.5,
    )

    # Then the keys the simulator never saw are exactly the keys reported as not checked
    seen = set(config_answers(stack))
    rows = {row[0]: row[3] for row in outcome.report.tables["Keys"][1:]}
    assert len(rows) == 40  # every key is listed, reached or not
    # (a key not reached is named by its secret: its secret was never read, so its label is unknown)
    not_checked = {name for name, result in rows.items() if result == "not checked (time)"}
    assert not_checked == {KEY_SECRET_PREFIX + key.label for key in keys if key.api_key not in seen}
    assert 0 < len(not_checked) < 40
    assert outcome.keys_checked == 40 - len(not_checked)
    # and one finding counts them and says how to fix it
    [budget] = [f for f in outcome.report.findings if f.check_id == "probe.keys.budget"]
    assert budget.message.startswith(f"{len(not_checked)} key(s) were not checked, of 40")
    assert "1.5 s key-check budget (2 checked at a time" in budget.message
    assert "Raise the probe's Timeout" in budget.remediation and "key_secret_names" in budget.remediation
    assert (budget.severity, budget.status) == ("MEDIUM", "WARN")
    # and the egress was judged as ever
    assert outcome.egress_match


def _guard_run(lambda_context, workers: int) -> dict[str, Any]:
    Wiring.from_environ().state.resume_trading(set_by="probe")
    return handler({"max_workers": workers}, lambda_context)


def test_the_guard_and_the_report_are_the_same_checked_one_by_one_or_concurrently(local_stack, lambda_context):
    # Given Shield's expected IPs are 127.0.0.3/.4, the echoes all see 127.0.0.3 (a match), and some keys are
    # bound to exactly those IPs: OKX refuses them with 50110 naming 127.0.0.2, the real egress (not Shield's)
    expected = (OTHER_SHIELD_IP, "127.0.0.4")
    keys = [
        new_key(str(7300 + i), f"mixed-{i:02d}", ips=list(expected) if i % 4 == 0 else [] if i % 4 == 1 else BOTH)
        for i in range(24)
    ]
    stack = local_stack(seed_with(keys), expected_ips=expected)
    stack.sim.faults.echo_ip_override = dict.fromkeys(ECHO_NAMES, OTHER_SHIELD_IP)

    # When the same fleet is probed one key at a time, and then 16 at a time
    one_by_one = _guard_run(lambda_context, 1)
    concurrent = _guard_run(lambda_context, 16)

    # Then both pause trading for the egress OKX saw, with the same findings in the same order and the same table
    assert one_by_one["trading"] == concurrent["trading"] == "paused"
    assert one_by_one["details"]["egress"] == concurrent["details"]["egress"]
    assert concurrent["details"]["egress"]["okx_seen_outside"] == [SHIELD_IP]

    def shape(result: dict[str, Any]) -> list[tuple[str, ...]]:
        return [(f["check_id"], f["resource"], f["severity"], f["message"]) for f in result["findings"]]

    assert shape(one_by_one) == shape(concurrent)
    assert one_by_one["tables"]["Keys"] == concurrent["tables"]["Keys"]
    assert (one_by_one["details"]["key_checks"]["max_in_flight"], concurrent["details"]["key_checks"]["workers"]) == (
        1,
        16,
    )
    # and both runs asked OKX about every key once
    assert Counter(len(codes) for codes in config_answers(stack).values()) == Counter({2: 24})
