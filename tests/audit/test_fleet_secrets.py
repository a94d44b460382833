"""Selecting key secrets by tag and/or name prefix, against moto's Secrets Manager."""

from __future__ import annotations

import boto3
import pytest

from okxcore.aws.fleet_secrets import SecretListingError, describe_secret, list_secrets
from okxcore.errors import InvalidInputError
from okxcore.key_secrets import TagSelector


@pytest.fixture
def secrets(aws):
    client = boto3.client("secretsmanager", region_name="us-east-1")

    def put(name, tags=None):
        client.create_secret(
            Name=name, SecretString="{}", Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()]
        )

    put("okx-shield/keys/b", {"okx-shield": "managed"})
    put("okx-shield/keys/a", {"okx-shield": "managed", "team": "desk1"})
    put("okx-shield/keys/untagged")
    put("okx-shield/keys/retired", {"okx-shield": "retired"})
    put("other/okx-shield/keys/c", {"okx-shield": "managed"})
    # tag-key and tag-value on two different tags: Secrets Manager's filters match it, the selection must not
    put("elsewhere/crossed", {"okx-shield": "other", "owner": "managed"})
    put("okx-shield/shield")
    return client


def names(found):
    return [meta.name for meta in found]


def test_by_exact_tag(secrets):
    found = list_secrets(tag=TagSelector.parse("okx-shield=managed"), client=secrets)
    assert names(found) == ["okx-shield/keys/a", "okx-shield/keys/b", "other/okx-shield/keys/c"]


def test_by_tag_key_with_any_value(secrets):
    found = list_secrets(tag=TagSelector.parse("okx-shield"), client=secrets)
    assert "okx-shield/keys/retired" in names(found)
    assert "okx-shield/keys/untagged" not in names(found)


def test_by_prefix(secrets):
    found = list_secrets(prefix="okx-shield/keys/", client=secrets)
    assert names(found) == [
        "okx-shield/keys/a",
        "okx-shield/keys/b",
        "okx-shield/keys/retired",
        "okx-shield/keys/untagged",
    ]


def test_tag_and_prefix_must_both_hold(secrets):
    found = list_secrets(tag=TagSelector.parse("okx-shield=managed"), prefix="okx-shield/keys/", client=secrets)
    assert names(found) == ["okx-shield/keys/a", "okx-shield/keys/b"]


def test_metadata_carries_dates_and_tags_but_no_value(secrets):
    [meta] = [m for m in list_secrets(prefix="okx-shield/keys/a", client=secrets)]
    assert meta.created is not None and meta.created.tzinfo is not None
    assert meta.tags == {"okx-shield": "managed", "team": "desk1"}
    assert not hasattr(meta, "secret_string")
    assert describe_secret("okx-shield/keys/a", client=secrets).created == meta.created


def test_pages_are_followed(secrets):
    for n in range(7):
        secrets.create_secret(Name=f"paged/{n}", SecretString="{}")
    assert len(list_secrets(prefix="paged/", client=secrets, page_size=3)) == 7


def test_no_selector_selects_nothing(secrets):
    assert list_secrets(client=secrets) == []


def test_errors_name_the_problem_not_a_value(secrets):
    with pytest.raises(SecretListingError, match="describing secret nope failed"):
        describe_secret("nope", client=secrets)
    with pytest.raises(InvalidInputError, match="key_secret_tag"):
        TagSelector.parse(" =x")
