"""template.yaml as the local stack reads it, so that what runs locally is what is deployed.

The state machine (run by okxlocal.fanout) and the state table (created by okxlocal.stack) are taken from the
template itself rather than restated here.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
FANOUT_STATE_MACHINE = "AuditFanoutStateMachine"
LOCAL_FANOUT_FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:okx-shield-audit-fanout"


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !Sub, ...) kept as {"Tag": value}."""


def _cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]


_CfnLoader.add_multi_constructor("!", _cfn_tag)


@cache
def _parsed_template() -> dict[str, Any]:
    """Parsed once per process: PyYAML's parser takes about 0.2 s over template.yaml, and every stack reads it twice."""
    template: dict[str, Any] = yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    return template


def load_template() -> dict[str, Any]:
    """A fresh copy each call (callers fill in substitutions)."""
    return copy.deepcopy(_parsed_template())


def resource_properties(name: str) -> dict[str, Any]:
    properties: dict[str, Any] = load_template()["Resources"][name]["Properties"]
    return properties


def state_table_definition(table_name: str) -> dict[str, Any]:
    """CreateTable arguments for the template's StateTable: its keys and indexes (moto ignores the rest)."""
    table = resource_properties("StateTable")
    return {
        "TableName": table_name,
        "KeySchema": table["KeySchema"],
        "AttributeDefinitions": table["AttributeDefinitions"],
        "GlobalSecondaryIndexes": table.get("GlobalSecondaryIndexes", []),
        "BillingMode": table["BillingMode"],
    }


def fanout_definition(*, bucket: str, function_arn: str = LOCAL_FANOUT_FUNCTION_ARN) -> dict[str, Any]:
    """The AuditFanout state machine's definition, its substitutions filled with local values."""
    text = json.dumps(resource_properties(FANOUT_STATE_MACHINE)["Definition"])
    for name, value in {"FanoutFunctionArn": function_arn, "RunBucket": bucket}.items():
        text = text.replace("${" + name + "}", value)
    definition: dict[str, Any] = json.loads(text)
    return definition
