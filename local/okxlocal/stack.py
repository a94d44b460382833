"""The embedded local stack: everything a Lambda of okx-shield talks to, on this machine.

- the OKX simulator (HTTPS, throwaway CA) seeded with accounts and keys;
- a real proxy program standing in for Shield, whose outgoing connections leave from 127.0.0.2;
- moto for Secrets Manager (the Shield secret and one secret per key), SNS (the report topic, with an SQS
  queue subscribed so reports can be read back the way a subscriber gets them) and DynamoDB (state).

It sets the environment variables the handlers read, and restores them on exit. Used by the tests, by
`okx-shield demo` and by `okx-shield invoke`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from aws_lambda_powertools.utilities import parameters

from okxcore.audit.shards import UID_TAG
from okxcore.transport import close_shared_sessions
from okxlocal.moto_aws import MotoAws
from okxlocal.pki import LocalPKI, local_okx_hostname
from okxlocal.proxies import LISTEN_HOST, ProxyKind, ProxyStack, RunningProxy, start_proxy
from okxlocal.sim import OkxSimulator, SimKey, SimSeed
from okxlocal.template import fanout_definition, state_table_definition

AWS_REGION = "us-east-1"
SHIELD_SECRET_NAME = "okx-shield/shield"
KEY_SECRET_PREFIX = "okx-shield/keys/"
KEY_SECRET_TAG = ("okx-shield", "managed")
TABLE_NAME = "okx-shield-state"
TOPIC_NAME = "okx-shield-reports"
RUN_BUCKET = "okx-shield-audit-runs"
# Where `okx-shield plans deploy` puts the plans' schedules on the local stack: what a deployed stack's outputs
# PlanScheduleGroupName, TradeFunctionArn, PlanSchedulerRoleArn and DeadLetterQueueArn name (moto's account).
PLAN_SCHEDULE_GROUP = "okx-shield-plans"
TRADE_FUNCTION_ARN = f"arn:aws:lambda:{AWS_REGION}:123456789012:function:okx-shield-trade"
PLAN_SCHEDULER_ROLE_ARN = "arn:aws:iam::123456789012:role/okx-shield-plan-scheduler"
DEAD_LETTER_QUEUE_ARN = f"arn:aws:sqs:{AWS_REGION}:123456789012:okx-shield-dead-letters"
EGRESS_IP = "127.0.0.2"
# Shield has two static IPs; locally only 127.0.0.2 carries traffic, 127.0.0.3 is "the other one".
SECOND_SHIELD_IP = "127.0.0.3"


def key_secret_name(key: SimKey) -> str:
    return KEY_SECRET_PREFIX + (key.label or key.api_key)


def key_secret_body(key: SimKey, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "api_key": key.api_key,
        "api_secret": key.secret,
        "passphrase": key.passphrase,
        "label": key.label,
        "demo": key.demo,
        "region": key.region,
        # OKX has no API for a key's creation time: the product records it in the secret (docs/secrets.md).
        "created_at": datetime.fromtimestamp(key.created_ms / 1000, tz=UTC).isoformat(timespec="seconds"),
    }
    body.update(extra)
    return {name: value for name, value in body.items() if value is not None}  # None in extra drops a field


@dataclass
class ReportMessage:
    subject: str
    body: str
    attributes: dict[str, str]

    @property
    def text(self) -> str:
        """The body's words one space apart: what a reader sees, whichever line the body wrapped them on."""
        return " ".join(self.body.split())


@dataclass
class SharedPieces:
    """What stacks started one after another can share instead of each starting its own: the CA, the three
    proxies, a simulator and moto. Each stack resets what it uses (the simulator to its seed, moto to empty
    backends, a proxy a test stopped is started again); one stack at a time. The tests keep one per session."""

    pki: LocalPKI
    proxies: ProxyStack
    sim: OkxSimulator
    aws: MotoAws
    _in_use: bool = field(default=False, init=False, repr=False)

    @contextmanager
    def taken(self) -> Iterator[None]:
        if self._in_use:
            raise RuntimeError("the shared stack pieces serve one local stack at a time")
        self._in_use = True
        try:
            yield
        finally:
            self._in_use = False


@contextmanager
def start_simulator(seed: SimSeed, pki: LocalPKI, *, port: int = 0) -> Iterator[OkxSimulator]:
    """The simulator on loopback under the name the product uses for it, with a certificate from `pki` (on `port`,
    or a free one), and a host per OKX region (a key answers 50119 at another region's host, as at OKX)."""
    cert = pki.server_cert("okx-sim")
    with OkxSimulator(
        seed,
        certfile=cert.cert_chain_path,
        keyfile=cert.key_path,
        hostname=local_okx_hostname(),
        port=port,
        regional_hosts=True,
    ) as sim:
        yield sim


@dataclass
class LocalStack:
    seed: SimSeed
    workdir: Path
    proxy_kind: ProxyKind = ProxyKind.HTTPS
    expected_ips: tuple[str, ...] = (EGRESS_IP, SECOND_SHIELD_IP)
    environment: str = "local"
    key_secret_extras: dict[str, dict[str, Any]] = field(default_factory=dict)  # by key label
    skip_key_secrets: frozenset[str] = frozenset()
    # (label of a seed key, secret name): that key is the main account's key, stored apart from the bots' keys
    # (outside the prefix, as a deployment keeps it) and named in MASTER_KEY_SECRET_NAME.
    master_key: tuple[str, str] | None = None
    # Each key secret carries its OKX user as the tag okx-uid, which the fan-out groups by (docs/secrets.md).
    key_uid_tags: bool = True
    # Pieces kept running between stacks (the tests' session): reset for this stack instead of started.
    shared: SharedPieces | None = None
    # Where clients reach the proxy, and fixed ports/credentials (okxlocal.served: Lambda containers reach the
    # proxy at the Docker bridge's gateway, on ports named in their environment). Defaults: loopback, free ports.
    # Only for a stack that starts its own pieces (shared is None).
    listen_host: str = LISTEN_HOST
    proxy_port: int | None = None
    proxy_credentials: tuple[str, str] | None = None  # (username, password)
    sim_port: int = 0

    sim: OkxSimulator = field(init=False)
    proxy: RunningProxy = field(init=False)
    pki: LocalPKI = field(init=False)
    topic_arn: str = field(init=False)
    state_machine_arn: str = field(init=False)
    queue_url: str = field(init=False)
    env: dict[str, str] = field(init=False)

    def start(self, exits: ExitStack) -> LocalStack:
        # Secrets are cached by name (Powertools) and sessions by endpoint: a new stack must not see an old one's.
        forget_cached_secrets_and_sessions()
        exits.callback(forget_cached_secrets_and_sessions)
        if self.shared is None:
            self.pki = LocalPKI(self.workdir / "pki")
            self.sim = exits.enter_context(start_simulator(self.seed, self.pki, port=self.sim_port))
            username, password = self.proxy_credentials or (None, None)
            self.proxy = start_proxy(
                self.proxy_kind,
                self.workdir / f"proxy-{self.proxy_kind.name.lower()}",
                self.pki,
                username=username,
                password=password,
                listen_host=self.listen_host,
                port=self.proxy_port,
            )
            exits.callback(self.proxy.stop)
            exits.enter_context(patched_environ(fake_aws_environ()))
            exits.enter_context(MotoAws())
        else:
            exits.enter_context(self.shared.taken())
            self.pki, self.sim = self.shared.pki, self.shared.sim
            self.sim.reset(self.seed)
            self.proxy = self.shared.proxies.running(self.proxy_kind)
            exits.enter_context(patched_environ(fake_aws_environ()))
            self.shared.aws.reset()
            exits.callback(self.shared.aws.reset)  # nothing of this stack is left for whoever uses moto next
        self._create_aws_resources()
        self.env = {
            "ENVIRONMENT": self.environment,
            "SHIELD_SECRET_NAME": SHIELD_SECRET_NAME,
            "REPORT_TOPIC_ARN": self.topic_arn,
            "STATE_TABLE_NAME": TABLE_NAME,
            "OKX_BASE_URL": self.sim.url,
            # Each key goes to its region's host, as deployed (this takes precedence over OKX_BASE_URL).
            "OKX_REGION_BASE_URLS": ",".join(f"{region}={url}" for region, url in self.sim.region_urls.items()),
            "OKX_CA_BUNDLE": str(self.pki.ca_path),
            "SHIELD_CA_BUNDLE": str(self.pki.ca_path),
            "OKX_SHIELD_LOCAL": "true",  # the simulator is not an OKX host: the local/test setting allows it
            "KEY_SECRET_PREFIX": KEY_SECRET_PREFIX,
            # The fan-out's objects and state machine (moto records executions; okxlocal.fanout runs them).
            "AUDIT_RUN_BUCKET": RUN_BUCKET,
            "AUDIT_STATE_MACHINE_ARN": self.state_machine_arn,
            "ECHO_URLS": ",".join(
                f"{self.sim.url}/echo/{name}" for name in ("quotaguard?format=json", "ipify?format=json", "checkip")
            ),
            "POWERTOOLS_SERVICE_NAME": "okx-shield",
            "POWERTOOLS_METRICS_NAMESPACE": "OkxShield",
        }
        if self.master_key is not None:
            self.env["MASTER_KEY_SECRET_NAME"] = self.master_key[1]
        exits.enter_context(patched_environ(self.env))
        return self

    def _create_aws_resources(self) -> None:
        secrets = boto3.client("secretsmanager", region_name=AWS_REGION)
        secrets.create_secret(
            Name=SHIELD_SECRET_NAME,
            SecretString=json.dumps({"url": self.proxy.url(), "expected_ips": list(self.expected_ips)}),
        )
        master_label, master_name = self.master_key or ("", "")
        for key in self.seed.keys:
            if key.label in self.skip_key_secrets:
                continue
            secrets.create_secret(
                Name=master_name if master_label and key.label == master_label else key_secret_name(key),
                SecretString=json.dumps(key_secret_body(key, **self.key_secret_extras.get(key.label, {}))),
                Tags=[{"Key": KEY_SECRET_TAG[0], "Value": KEY_SECRET_TAG[1]}]
                + ([{"Key": UID_TAG, "Value": key.uid}] if self.key_uid_tags else []),
            )
        sns = boto3.client("sns", region_name=AWS_REGION)
        self.topic_arn = sns.create_topic(Name=TOPIC_NAME)["TopicArn"]
        sqs = boto3.client("sqs", region_name=AWS_REGION)
        self.queue_url = sqs.create_queue(QueueName=TOPIC_NAME + "-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=queue_arn)
        boto3.client("s3", region_name=AWS_REGION).create_bucket(Bucket=RUN_BUCKET)
        self.state_machine_arn = boto3.client("stepfunctions", region_name=AWS_REGION).create_state_machine(
            name="okx-shield-audit-fanout",
            definition=json.dumps(fanout_definition(bucket=RUN_BUCKET)),
            roleArn="arn:aws:iam::123456789012:role/okx-shield-audit-fanout",
        )["stateMachineArn"]
        dynamodb = boto3.client("dynamodb", region_name=AWS_REGION)
        dynamodb.create_table(**state_table_definition(TABLE_NAME))
        boto3.client("scheduler", region_name=AWS_REGION).create_schedule_group(Name=PLAN_SCHEDULE_GROUP)

    def put_secret(self, name: str, body: dict[str, Any] | str, *, tagged: bool = True) -> None:
        secrets = boto3.client("secretsmanager", region_name=AWS_REGION)
        text = body if isinstance(body, str) else json.dumps(body)
        tags = [{"Key": KEY_SECRET_TAG[0], "Value": KEY_SECRET_TAG[1]}] if tagged else []
        secrets.create_secret(Name=name, SecretString=text, Tags=tags)

    def reports(self) -> list[ReportMessage]:
        """Drain the SQS inbox: every report published since the last call, as a subscriber receives it."""
        return read_reports(self.queue_url)


def read_reports(queue_url: str) -> list[ReportMessage]:
    """Drain an SQS queue subscribed to the report topic: each report as a subscriber receives it."""
    sqs = boto3.client("sqs", region_name=AWS_REGION)
    out: list[ReportMessage] = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return out
        for message in batch:
            envelope = json.loads(message["Body"])
            attributes = {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}
            out.append(ReportMessage(envelope.get("Subject", ""), envelope["Message"], attributes))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


@contextmanager
def running_stack(
    seed: SimSeed, *, workdir: Path | None = None, proxy_kind: ProxyKind = ProxyKind.HTTPS, **options: Any
) -> Iterator[LocalStack]:
    with ExitStack() as exits:
        if workdir is None:
            workdir = Path(exits.enter_context(tempfile.TemporaryDirectory(prefix="okx-shield-")))
        stack = LocalStack(seed=seed, workdir=workdir, proxy_kind=proxy_kind, **options)
        yield stack.start(exits)


def forget_cached_secrets_and_sessions() -> None:
    parameters.clear_caches()
    close_shared_sessions()


def fake_aws_environ() -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": AWS_REGION,
        "AWS_REGION": AWS_REGION,
    }


@contextmanager
def patched_environ(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old
