"""The repair's pure parts: the new IP list, and the check of a list before it is sent."""

from __future__ import annotations

import pytest

from okxcore.errors import InvalidInputError
from okxcore.keys.repair.binding import plan_binding
from okxcore.models import ip_list_text

SHIELD = ("52.0.0.1", "52.0.0.2")


def test_keeps_every_ip_in_order_and_appends_the_missing_shield_ips():
    plan = plan_binding(["10.1.1.1", "52.0.0.2", "2001:db8::1"], SHIELD)
    assert plan.after == ("10.1.1.1", "52.0.0.2", "2001:db8::1", "52.0.0.1")
    assert (plan.added, plan.removed, plan.changes, plan.over_limit) == (("52.0.0.1",), (), True, False)


def test_a_cidr_entry_that_covers_a_shield_ip_counts_as_bound():
    plan = plan_binding(["52.0.0.0/30"], SHIELD)
    assert not plan.changes
    assert plan.after == ("52.0.0.0/30",)


def test_nothing_is_removed_unless_named():
    plan = plan_binding(["10.1.1.1", "10.1.1.2"], SHIELD, remove=["10.1.1.2", "10.9.9.9"])
    assert plan.after == ("10.1.1.1", "52.0.0.1", "52.0.0.2")
    assert plan.removed == ("10.1.1.2",)


def test_twenty_ips_are_not_overfilled():
    twenty = [f"10.0.0.{n}" for n in range(20)]
    assert plan_binding(twenty, SHIELD).over_limit
    assert not plan_binding(twenty, SHIELD, remove=twenty[:2]).over_limit
    # a key already bound to both is no change, however many IPs it has
    assert not plan_binding([*twenty[:18], *SHIELD], SHIELD).changes


def test_an_ip_list_is_checked_before_sending_and_the_error_names_the_field_not_the_value():
    assert ip_list_text([" 10.0.0.1", "10.0.0.1", "10.0.0.0/8"], source="modify-apikey") == "10.0.0.1,10.0.0.0/8"
    with pytest.raises(InvalidInputError) as bad:
        ip_list_text(["10.0.0.1", "secret-looking-value"], source="modify-apikey")
    assert (bad.value.field, "secret-looking-value" in str(bad.value)) == ("ip", False)
    assert "entry 2" in str(bad.value)
    with pytest.raises(InvalidInputError, match="at most 20"):
        ip_list_text([f"10.0.0.{n}" for n in range(21)], source="modify-apikey")
