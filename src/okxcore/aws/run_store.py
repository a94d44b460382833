"""The fanned-out audit's objects in S3: shard entries, shard results, the merged per-key report.

The only module that knows where a run's objects live. Objects hold labels, secret names, permissions and
dates, never a key, secret or passphrase (the same content as the audit's structured log).
"""

from __future__ import annotations

import json
from typing import Any

from okxcore.aws.clients import aws_client


class S3RunStore:
    def __init__(self, bucket: str, *, client: Any = None) -> None:
        if client is None:
            client = aws_client("s3")
        self._client = client
        self.bucket = bucket

    def put_json(self, key: str, value: Any) -> str:
        body = json.dumps(value, default=str, separators=(",", ":")).encode()
        self._client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")
        return f"s3://{self.bucket}/{key}"

    def get_json(self, key: str) -> Any | None:
        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=key)
        except self._client.exceptions.NoSuchKey:
            return None
        return json.loads(answer["Body"].read())
