"""The one place Powertools' Logger and Metrics are created; handlers import them from here, and emit okxcore's
metrics (MetricPoint, one shape for every function) through add_metrics."""

from __future__ import annotations

from collections.abc import Iterable

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from okxcore.report import MetricPoint

logger = Logger(service="okx-shield")
metrics = Metrics(namespace="OkxShield", service="okx-shield")


def add_metrics(points: Iterable[MetricPoint]) -> None:
    for point in points:
        metrics.add_metric(name=point.name, unit=MetricUnit(point.unit), value=point.value)
