"""Publishing a report to SNS: a text body for people, with attributes subscribers can filter on."""

from __future__ import annotations

from typing import Any

from okxcore.aws.clients import aws_client
from okxcore.errors import OkxShieldError
from okxcore.report import SNS_MESSAGE_LIMIT_BYTES, Report


class ReportDeliveryError(OkxShieldError):
    hint = "Check the topic ARN and that the function may publish to it (and use its KMS key)."


def report_attributes(report: Report) -> dict[str, dict[str, str]]:
    """Message attributes for filter policies, e.g. {"severity": ["CRITICAL"]} or {"failed": ["true"]}."""
    return {
        "severity": {"DataType": "String", "StringValue": report.severity},
        "failed": {"DataType": "String", "StringValue": "true" if report.failed else "false"},
        "report": {"DataType": "String", "StringValue": report.report_type},
        "environment": {"DataType": "String", "StringValue": report.environment},
    }


def publish_report(report: Report, topic_arn: str, *, sns_client: Any = None) -> str:
    """Publish one report; returns the SNS MessageId. Attributes only work with a plain string body."""
    if sns_client is None:
        sns_client = aws_client("sns")
    body = report.render_text()
    if len(body.encode()) > SNS_MESSAGE_LIMIT_BYTES - 4096:
        raise ReportDeliveryError("the rendered report is larger than one SNS message")
    subject = report.subject()  # UTF-8 is allowed (the cut mark "…" is not ASCII)
    try:
        answer = sns_client.publish(
            TopicArn=topic_arn,
            Subject=subject,
            Message=body,
            MessageAttributes=report_attributes(report),
        )
    except Exception as exc:  # botocore's errors name codes and ARNs, never message content
        raise ReportDeliveryError(f"publishing the {report.report_type} report to SNS failed: {exc}") from None
    return str(answer["MessageId"])
