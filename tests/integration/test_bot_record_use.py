"""bots.record_use: the one line for a bot that keeps its own transport. What DynamoDB (moto) holds afterwards is
what the audit reads as the key's last use."""

from __future__ import annotations

import boto3
import pytest

from okxcore import bots
from okxcore.aws.state import DynamoStateStore
from okxcore.bots import BotSettings
from okxcore.errors import InvalidInputError
from okxlocal.template import state_table_definition

TABLE = "okx-shield-state"


@pytest.fixture
def table(aws):
    boto3.client("dynamodb").create_table(**state_table_definition(TABLE))
    yield TABLE
    bots.reset()


def test_record_use_writes_the_keys_last_use_once_per_interval(table) -> None:
    settings = BotSettings.model_validate({"STATE_TABLE_NAME": table})

    assert bots.record_use("okx-shield/keys/own-transport-bot", settings=settings) is True
    first = DynamoStateStore(table).last_key_use("okx-shield/keys/own-transport-bot")
    assert bots.record_use("okx-shield/keys/own-transport-bot", settings=settings) is False  # within 5 minutes

    assert first is not None
    assert DynamoStateStore(table).last_key_use("okx-shield/keys/own-transport-bot") == first
    assert DynamoStateStore(table).last_key_use("okx-shield/keys/another") is None


def test_record_use_without_a_state_table_names_the_setting() -> None:
    with pytest.raises(InvalidInputError, match="STATE_TABLE_NAME"):
        bots.record_use("okx-shield/keys/x", settings=BotSettings.model_validate({}))
