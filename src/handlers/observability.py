"""The one place Powertools' Logger and Metrics are created; handlers import them from here."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="okx-shield")
metrics = Metrics(namespace="OkxShield", service="okx-shield")
