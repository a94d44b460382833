"""The rotation tests' stack: the simulator behind a real proxy, moto, and the rotation handler in-process."""

from __future__ import annotations

import pytest
from rotation_helpers import RotationHarness, rotation_seed

from okxlocal import rotation as sm


@pytest.fixture
def rotation(local_stack, lambda_context, monkeypatch) -> RotationHarness:
    stack = local_stack(rotation_seed())
    harness = RotationHarness(stack, lambda_context)
    monkeypatch.setenv("MASTER_KEY_SECRET_NAME", harness.secret("master"))
    monkeypatch.setenv("ROTATION_GRACE_PERIOD_S", "3600")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    stack.sim.state.keys  # noqa: B018 - the simulator is up
    for label in ("bot-sub", "bot-ro", "master"):
        sm.enable_rotation(harness.secret(label))
    return harness
