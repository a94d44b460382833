"""The repair mode, alone: the audit's and probe's input models need it without importing the repair itself."""

from __future__ import annotations

from typing import Literal

# off: nothing is read or written for repair (the default); plan: report exactly what would change; apply: change it.
RepairMode = Literal["off", "plan", "apply"]
REPAIR_MODES: tuple[RepairMode, ...] = ("off", "plan", "apply")
