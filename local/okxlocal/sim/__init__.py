"""Local OKX v5 REST simulator (test and demo tooling; the stand-in for OKX on loopback)."""

from .engine import sign
from .errors import OkxError
from .faults import SimFaults
from .server import OkxSimulator
from .state import SimAccount, SimInstrument, SimKey, SimSeed, SimTicker
from .stats import RequestRecord, SimStats

__all__ = [
    "OkxError",
    "OkxSimulator",
    "RequestRecord",
    "SimAccount",
    "SimFaults",
    "SimInstrument",
    "SimKey",
    "SimSeed",
    "SimStats",
    "SimTicker",
    "sign",
]
