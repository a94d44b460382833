"""The one place Powertools' Logger and Metrics are created; handlers import them from here, and emit okxcore's
metrics (MetricPoint, one shape for every function) through add_metrics."""

from __future__ import annotations

import warnings
from collections.abc import Iterable

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from okxcore.report import MetricPoint

logger = Logger(service="okx-shield")
metrics = Metrics(namespace="OkxShield", service="okx-shield")


def add_metrics(points: Iterable[MetricPoint]) -> None:
    for point in points:
        metrics.add_metric(name=point.name, unit=MetricUnit(point.unit), value=point.value)


# An invocation that emits no metric of its own (a fan-out step, a cleanup with nothing to do, a run stopped by
# invalid input) is normal: Powertools' warning about it would reach every log and `okx-shield invoke`'s output.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
