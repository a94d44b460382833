"""The client factory's timestamp parser: the instant botocore's parser gives, as a UTC datetime."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore.utils import parse_timestamp as botocore_parse_timestamp

from okxcore.aws.clients import aws_client, parse_timestamp


@pytest.mark.parametrize("value", [0, 1_700_000_000, 1_764_906_123.456789, 1_764_906_123.9999996, -86_400.5])
def test_epoch_seconds_are_the_instant_botocore_gives_in_utc(value: float) -> None:
    ours, theirs = parse_timestamp(value), botocore_parse_timestamp(value)
    assert ours == theirs
    assert ours.timestamp() == theirs.timestamp()
    assert ours.tzinfo is UTC


@pytest.mark.parametrize(
    "value", ["2026-12-05T03:27:42Z", "2026-12-05T03:27:42.123+01:00", "Sat, 05 Dec 2026 03:27:42 GMT"]
)
def test_text_goes_to_botocore(value: str) -> None:
    assert parse_timestamp(value) == botocore_parse_timestamp(value)


def test_out_of_range_epoch_is_botocore_s_to_decide() -> None:
    with pytest.raises(Exception) as ours:  # noqa: PT011  # whatever botocore raises, ours raises too
        parse_timestamp(10**20)
    with pytest.raises(Exception) as theirs:  # noqa: PT011
        botocore_parse_timestamp(10**20)
    assert type(ours.value) is type(theirs.value)


@pytest.mark.usefixtures("aws")
def test_a_factory_client_parses_dates_with_it() -> None:
    client = aws_client("secretsmanager")
    client.create_secret(Name="okx-shield/keys/one", SecretString="{}")
    listed = client.list_secrets()["SecretList"][0]["CreatedDate"]
    assert isinstance(listed, datetime) and listed.tzinfo is UTC
    read = client.batch_get_secret_value(SecretIdList=["okx-shield/keys/one"])["SecretValues"][0]["CreatedDate"]
    assert read.tzinfo is UTC
    assert abs(read.timestamp() - datetime.now(UTC).timestamp()) < 600
