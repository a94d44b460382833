"""Finding the managed key secrets in Secrets Manager (moto): prefix, tag, exclusions."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from okxcore.aws.probe_keys import KeyListingError, list_key_secret_names


@pytest.fixture
def secrets(aws):
    client = boto3.client("secretsmanager")
    managed = [{"Key": "okx-shield", "Value": "managed"}]
    client.create_secret(Name="okx-shield/shield", SecretString="{}")
    client.create_secret(Name="okx-shield/keys/bot-a", SecretString="{}", Tags=managed)
    client.create_secret(Name="okx-shield/keys/bot-b", SecretString="{}")
    client.create_secret(Name="OKX-SHIELD/keys/upper", SecretString="{}", Tags=managed)
    client.create_secret(Name="other/okx-shield/keys/nested", SecretString="{}", Tags=managed)
    client.create_secret(Name="okx-shield/keys/retired", SecretString="{}", Tags=managed)
    client.delete_secret(SecretId="okx-shield/keys/retired", RecoveryWindowInDays=7)
    return client


def test_secrets_under_the_prefix_are_listed_exactly_and_sorted(secrets):
    # Given secrets in and around the prefix / When listed / Then only exact, live prefix matches come back
    assert list_key_secret_names("okx-shield/keys/") == ["okx-shield/keys/bot-a", "okx-shield/keys/bot-b"]


def test_the_shield_secret_is_excluded_even_when_the_prefix_covers_it(secrets):
    names = list_key_secret_names("okx-shield/", exclude=["okx-shield/shield"])
    assert "okx-shield/shield" not in names
    assert names == ["okx-shield/keys/bot-a", "okx-shield/keys/bot-b"]


def test_a_tag_filter_keeps_only_tagged_secrets(secrets):
    assert list_key_secret_names("okx-shield/keys/", tag="okx-shield=managed") == ["okx-shield/keys/bot-a"]
    assert list_key_secret_names("okx-shield/keys/", tag="okx-shield") == ["okx-shield/keys/bot-a"]
    assert list_key_secret_names("okx-shield/keys/", tag="okx-shield=other") == []


def test_an_empty_prefix_is_refused_rather_than_treating_every_secret_as_a_key(secrets):
    with pytest.raises(KeyListingError):
        list_key_secret_names("")


def test_listing_errors_name_the_aws_error_code_only():
    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}}, "ListSecrets")

    class Client:
        def get_paginator(self, _name):
            raise denied

    with pytest.raises(KeyListingError) as caught:
        list_key_secret_names("okx-shield/keys/", secrets_client=Client())
    assert "AccessDeniedException" in str(caught.value)
    assert "ListSecrets" in caught.value.hint
