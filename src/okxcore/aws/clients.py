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

Timestamps: the JSON services (Secrets Manager, DynamoDB, Step Functions) send epoch seconds, which botocore turns
into datetimes in dateutil's tzlocal, about 9 µs each (a 1,000-key probe parses 3,000: every listed secret's
CreatedDate and LastChangedDate, every batch-read value's CreatedDate). The clients made here turn them into UTC
datetimes instead (0.3 µs): the same instant, timezone-aware as before; every reader takes the instant
(`.timestamp()`) or compares datetimes, never the zone. Text timestamps (SNS, S3) still take botocore's parser.

boto3 is imported on first use: a handler that never calls AWS does not pay for it at import.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from botocore.config import Config
    from botocore.session import Session as BotocoreSession

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
    configuration above and the timestamp parser below. Build clients in one thread: creating them concurrently
    is not thread-safe."""
    import boto3

    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    session = boto3.DEFAULT_SESSION
    assert session is not None
    _parse_epoch_in_utc(session._session)
    return session.client(service, config=client_config())


def parse_timestamp(value: Any) -> datetime:
    """botocore's timestamp parser, with epoch seconds (what the JSON services send) made UTC datetimes directly
    rather than through dateutil's tzlocal: the same instant, about 30 times cheaper. Anything else (ISO 8601,
    RFC 822 text) goes to botocore's parser as before."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            pass  # botocore's parser decides what such a value is (or raises its own error)
    from botocore.utils import parse_timestamp as botocore_parse_timestamp

    parsed: datetime = botocore_parse_timestamp(value)
    return parsed


def _parse_epoch_in_utc(session: BotocoreSession) -> None:
    """Clients made from now on by `session` parse timestamps with parse_timestamp. Set before every client (it is
    one dict update), so that a default session set up again (boto3.setup_default_session) gets it too."""
    session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=parse_timestamp)
