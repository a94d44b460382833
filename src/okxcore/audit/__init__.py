"""The key-age audit of a fleet of OKX keys: checks and severities (rules), the concurrent runner (fleet),
inputs and facts (models), the report and metrics (reporting)."""

from okxcore.audit.fleet import run_audit
from okxcore.audit.models import AuditRequest, KeySubject, KeyVerdict, Thresholds
from okxcore.audit.reporting import audit_invalid_input_report, metric_points
from okxcore.audit.sources import AuditSources
from okxcore.pacing import FleetRetry, RateGate

__all__ = [
    "AuditRequest",
    "AuditSources",
    "FleetRetry",
    "KeySubject",
    "KeyVerdict",
    "RateGate",
    "Thresholds",
    "audit_invalid_input_report",
    "metric_points",
    "run_audit",
]
