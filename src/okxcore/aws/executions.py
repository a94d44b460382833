"""Starting the fanned-out audit's Step Functions execution (the only module that calls Step Functions)."""

from __future__ import annotations

import json
from typing import Any

from okxcore.aws.clients import aws_client


def start_execution(state_machine_arn: str, name: str, payload: dict[str, Any], *, client: Any = None) -> str:
    """Start one execution per run; a retried start (same name) finds the one already started."""
    if client is None:
        client = aws_client("stepfunctions")
    try:
        answer = client.start_execution(stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload))
    except client.exceptions.ExecutionAlreadyExists:
        return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"
    return str(answer["executionArn"])
