"""The key-age audit of a fleet of OKX keys: checks and severities (rules), the concurrent runner (fleet),
inputs and facts (models), the report and metrics (reporting)."""

from okxcore.audit.fleet import AuditSources, run_audit
from okxcore.audit.models import AuditRequest, KeySubject, KeyVerdict, Thresholds
from okxcore.audit.pacing import FleetRetry, RateGate
from okxcore.audit.reporting import MetricPoint, invalid_input_report, metric_points

__all__ = [
    "AuditRequest",
    "AuditSources",
    "FleetRetry",
    "KeySubject",
    "KeyVerdict",
    "MetricPoint",
    "RateGate",
    "Thresholds",
    "invalid_input_report",
    "metric_points",
    "run_audit",
]
