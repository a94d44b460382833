"""The large-fleet paths: batched secret and state reads (against moto), and the compact return value."""

from __future__ import annotations

import json

import boto3

from okxcore.audit.reporting import RESULT_MAX_FINDINGS, compact_result
from okxcore.aws.secretstore import load_okx_keys
from okxcore.aws.state import DynamoStateStore
from okxcore.report import Finding, Report, Severity, Status

SECRET_VALUE = "S3CR3T-never-shown"
PASSPHRASE = "Pp-never-shown"


def key_body(n: int) -> str:
    return json.dumps({"api_key": f"key-{n}", "api_secret": SECRET_VALUE, "passphrase": PASSPHRASE, "label": f"k{n}"})


def test_45_secrets_are_read_in_batches_of_20_and_a_bad_one_is_named_without_its_values(aws):
    # Given 44 valid key secrets and one whose passphrase is missing, plus a name that does not exist
    client = boto3.client("secretsmanager")
    names = [f"okx-shield/keys/k{n:02d}" for n in range(45)]
    for n, name in enumerate(names):
        body = key_body(n) if n != 7 else json.dumps({"api_key": "key-7", "api_secret": SECRET_VALUE})
        client.create_secret(Name=name, SecretString=body)
    calls: list[int] = []
    client.meta.events.register(
        "provide-client-params.secrets-manager.BatchGetSecretValue",
        lambda params, **_: calls.append(len(params["SecretIdList"])),
    )

    # When they are loaded together with the missing one
    loaded = load_okx_keys([*names, "okx-shield/keys/missing"], client=client, defaults={"region": "www"})

    # Then Secrets Manager was asked 3 times (20 + 20 + 6), every name has its key or its error
    assert calls == [20, 20, 6]
    assert sum(1 for v in loaded.values() if not isinstance(v, Exception)) == 44
    bad, missing = loaded["okx-shield/keys/k07"], loaded["okx-shield/keys/missing"]
    assert isinstance(bad, Exception) and "passphrase" in bad.describe()
    assert isinstance(missing, Exception) and "does not exist in Secrets Manager" in missing.describe()
    # And no error text carries a secret value
    assert all(SECRET_VALUE not in str(v.describe()) for v in (bad, missing))
    assert loaded["okx-shield/keys/k03"].label == "k3"


def test_last_uses_are_read_100_per_call_and_unknown_keys_have_none(aws):
    # Given 150 keys, 120 of them with a recorded use
    boto3.client("dynamodb").create_table(
        TableName="state",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    store = DynamoStateStore("state", client=boto3.client("dynamodb"))
    names = [f"okx-shield/keys/k{n:03d}" for n in range(150)]
    for n, name in enumerate(names[:120]):
        store.record_key_use(name, 1_000_000 + n)

    # When they are read in one go
    uses = store.last_key_uses(names)

    # Then each recorded use is found and the rest are None
    assert uses[names[0]] == 1_000_000 and uses[names[119]] == 1_000_119
    assert all(uses[name] is None for name in names[120:])
    assert len(uses) == 150


def test_a_large_runs_return_value_keeps_the_worst_problems_and_says_where_the_rest_is():
    # Given a report of 600 keys, 300 of them with a MEDIUM problem and one CRITICAL
    findings = [
        Finding(check_id="audit.dormancy", severity=Severity.MEDIUM, status=Status.WARN, resource=f"k{n}", message="m")
        for n in range(300)
    ]
    findings.append(
        Finding(check_id="audit.auth", severity=Severity.CRITICAL, status=Status.FAIL, resource="x", message="gone")
    )
    findings += [
        Finding(check_id="audit.auth", severity=Severity.INFO, status=Status.PASS, resource=f"k{n}", message="ok")
        for n in range(600)
    ]
    report = Report(
        report_type="audit", title="t", findings=findings, details={"keys": [{"resource": f"k{n}"} for n in range(600)]}
    )

    # When it becomes the function's return value
    result = compact_result(report)

    # Then it holds the summary counts of the whole run, the worst problems first, and no per-key list
    assert result["counts"]["MEDIUM"] == 300 and result["counts"]["CRITICAL"] == 1
    assert result["severity"] == "CRITICAL"
    assert len(result["findings"]) == RESULT_MAX_FINDINGS and result["findings"][0]["severity"] == "CRITICAL"
    assert "keys" not in result["details"] and result["details"]["keys_audited"] == 600
    assert result["details"]["findings_left_out"] == 301 - RESULT_MAX_FINDINGS
    assert "structured log" in result["details"]["full_result"]
    assert len(json.dumps(result)) < 1024 * 1024
