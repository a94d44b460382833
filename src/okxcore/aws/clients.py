"""The one place that builds boto3 clients: every AWS call okx-shield makes goes through a client made here.

Each client gets one explicit, bounded configuration instead of botocore's defaults (60 s to connect, 60 s per
read, retry mode "legacy": up to 5 attempts, 10 for DynamoDB):
- CONNECT_TIMEOUT_S: an AWS endpoint accepts a connection within milliseconds from Lambda and well under a second
  from anywhere else; 3 s is ample.
- READ_TIMEOUT_S: the calls made here (20 secrets per read, DynamoDB items, an S3 object, SNS, Step Functions)
  answer within a second or two; 10 s per read leaves room for a slow moment.
- TOTAL_ATTEMPTS in retry mode "standard", the SDKs' recommended default: 3 attempts in all, exponential backoff
  with jitter (at most 1 s, then 2 s), throttling and transient errors retried, and a retry quota that stops
  retrying when most calls fail.
So a call whose endpoint refuses connections fails within 3 s (legacy: up to 15 s of backoff, which made a probe
with no AWS endpoint retry for 17-19 s), and one whose endpoint never answers within 12 s (3 x 3 s + 3 s).
AWS_MAX_ATTEMPTS and AWS_RETRY_MODE in the environment no longer change this: the configuration is the code's.

boto3 is imported on first use: a handler that never calls AWS does not pay for it at import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from botocore.config import Config

Service = Literal["dynamodb", "s3", "secretsmanager", "sns", "stepfunctions"]

CONNECT_TIMEOUT_S = 3
READ_TIMEOUT_S = 10
TOTAL_ATTEMPTS = 3  # the first call and two retries, in retry mode "standard"


def client_config() -> Config:
    from botocore.config import Config

    return Config(
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        retries={"mode": "standard", "total_max_attempts": TOTAL_ATTEMPTS},
    )


def aws_client(service: Service) -> Any:
    """A client of boto3's default session (its endpoint data is loaded once per process) with the bounded
    configuration above. Build clients in one thread: creating them concurrently is not thread-safe."""
    import boto3

    return boto3.client(service, config=client_config())
