"""One invocation of the rotation function: a Secrets Manager step or the scheduled cleanup, and its report.

Reports: a finished rotation (what changed at OKX), every failure (the step, what is wrong, how to fix it),
and a cleanup that deleted something or failed. The steps in between publish nothing: Secrets Manager runs
four steps per rotation, and a success before the last one says little.

What a report states about Secrets Manager and OKX is read back after the step (Rotator.state_after, the
cleanup's listing after its deletes), never what the code path assumed had happened.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from okxcore.errors import OkxShieldError
from okxcore.findings import finding
from okxcore.inputs import input_error
from okxcore.keys.rotation.lease import RotationBusy
from okxcore.keys.rotation.model import (
    CleanupEvent,
    MasterKeyRotationRefused,
    RotationError,
    RotationStepEvent,
    Step,
    describe_error,
)
from okxcore.keys.rotation.ports import RotationLedger, StepResult
from okxcore.keys.rotation.record import RotationRecord
from okxcore.keys.rotation.rotator import Rotator
from okxcore.keys.rotation.sweep import Swept
from okxcore.report import Finding, Report, Status, secret_label


@dataclass
class RotationOutcome:
    report: Report | None
    result: dict[str, Any]
    error: Exception | None = None
    extra: list[str] = field(default_factory=list)

    def raise_if_failed(self) -> None:
        if self.error is not None:
            raise self.error


def parse_rotate_event(event: object) -> CleanupEvent | RotationStepEvent:
    # The shape picks the model, so that an error names a field of the event meant (a cleanup's dry_run),
    # not the first miss of the other kind.
    model: type[CleanupEvent | RotationStepEvent] = (
        CleanupEvent if isinstance(event, dict) and "cleanup" in event else RotationStepEvent
    )
    try:
        return model.model_validate(event)
    except ValidationError as exc:
        raise input_error(
            exc,
            source="rotation event",
            hint='Expected Secrets Manager\'s {"SecretId", "ClientRequestToken", "Step"} or {"cleanup": true}.',
            whole="(event)",
        ) from None


def run_rotation(
    event: CleanupEvent | RotationStepEvent,
    rotator: Rotator,
    *,
    environment: str,
    shield_requests: Callable[[], int] = lambda: 0,
) -> RotationOutcome:
    """One step (or the cleanup). `shield_requests`: this invocation's requests through Shield so far; a step adds
    them to its rotation's record, and the report of the rotation's end states what every step sent."""
    if isinstance(event, CleanupEvent):
        return _cleanup(rotator.ledger, rotator, environment, dry_run=event.dry_run)
    step = Step(event.step)
    try:
        result = rotator.run_step(event.secret_id, event.token, step)
    except Exception as exc:
        secret = getattr(exc, "secret", event.secret_id)
        if isinstance(exc, RotationBusy):
            busy = busy_report(secret, step, exc, environment=environment)
            return RotationOutcome(busy, busy.as_result(), error=exc)
        after = rotator.state_after(event.secret_id, event.token)
        failure = failure_report(secret, step, exc, environment=environment, after=after)
        _count_steps_requests(rotator.ledger, secret, event.token, shield_requests(), failure)
        return RotationOutcome(failure, failure.as_result(), error=exc)
    report = finished_report(result, environment=environment) if step is Step.FINISH and result.changed else None
    _count_steps_requests(rotator.ledger, result.secret, event.token, shield_requests(), report)
    return RotationOutcome(report, {"secret": result.secret, "step": result.step, "done": result.done})


def _count_steps_requests(ledger: RotationLedger, secret: str, token: str, sent: int, report: Report | None) -> None:
    """Add this step's requests to its rotation's record; a report gets the earlier steps' (the wiring adds this
    invocation's own when it publishes). The count is a nicety: a record that cannot be written stops nothing."""
    earlier = 0

    def add(record: RotationRecord) -> None:
        nonlocal earlier
        if record.token == token:
            earlier = record.shield_requests
            record.shield_requests += sent

    with contextlib.suppress(Exception):
        ledger.update(secret, add)
    if report is not None:
        report.details["shield_requests_by_earlier_steps"] = earlier


def failure_report(
    secret: str, step: Step | str, error: Exception, *, environment: str, after: list[str] | None = None
) -> Report:
    """`after`: what is true after the step, read back (Rotator.state_after); None when no step ran."""
    refused = isinstance(error, MasterKeyRotationRefused)
    hint = error.hint if isinstance(error, OkxShieldError) else ""
    if refused:
        key = "rotation.master_key"
    else:
        key = "rotation.step:failed" if isinstance(error, RotationError) else "rotation.step:error"
    weighed = finding(
        key,
        secret,
        ("rotation refused: " if refused else f"rotation failed at {step}: ") + describe_error(error),
        observed=f"step {step}",
        expected="a new key at OKX, tested through Shield, made AWSCURRENT; the old key deleted after the grace period",
        remediation=hint,
        check=None if refused else f"rotation.{step}",
    )
    return Report(
        report_type="rotation",
        environment=environment,
        title=f"{'refused' if refused else 'failed at ' + str(step)}: {secret_label(secret)}",
        findings=[weighed],
        summary=after if after is not None else ["No rotation step ran: nothing was read or changed."],
    )


def busy_report(secret: str, step: Step | str, error: RotationBusy, *, environment: str) -> Report:
    """Another run holds the secret: nothing was done, and Secrets Manager retries the step."""
    return Report(
        report_type="rotation",
        environment=environment,
        title=f"busy at {step}, retried: {secret_label(secret)}",
        findings=[
            finding("rotation.step:busy", secret, error.problem, remediation=error.hint, check=f"rotation.{step}")
        ],
        summary=["Nothing was read or changed by this step; Secrets Manager retries it."],
    )


def finished_report(result: StepResult, *, environment: str) -> Report:
    return Report(
        report_type="rotation",
        environment=environment,
        title=f"rotated: {secret_label(result.secret)}",
        findings=[finding("rotation.finishSecret", result.secret, result.done)],
        summary=[result.done],
        details=result.details or {},
    )


def _cleanup(ledger: RotationLedger, rotator: Rotator, environment: str, *, dry_run: bool) -> RotationOutcome:
    findings: list[Finding] = []
    deleted: dict[str, list[str]] = {}
    for name in ledger.secrets_to_clean(rotator.now_ms()):
        try:
            swept = rotator.cleanup(name, dry_run=dry_run)
        except RotationBusy:
            findings.append(finding("rotation.cleanup:busy", name, "a rotation step of this secret is running now"))
            continue
        except Exception as exc:  # one secret's problem never stops the others' cleanup
            findings.append(
                finding(
                    "rotation.cleanup:failed",
                    name,
                    f"deleting old keys failed: {describe_error(exc)}",
                    remediation=exc.hint if isinstance(exc, OkxShieldError) else "",
                )
            )
            continue
        if swept.deleted:
            deleted[name] = swept.deleted
        findings.extend(_swept_findings(name, swept, dry_run=dry_run))
    result: dict[str, Any] = {"cleanup": True, "dry_run": dry_run, "deleted": deleted}
    if not findings:
        return RotationOutcome(None, result)
    report = Report(
        report_type="rotation",
        environment=environment,
        title=_cleanup_title(deleted, len([f for f in findings if f.fails_run]), dry_run=dry_run),
        findings=findings,
        summary=[f"{f.resource}: {f.message}" for f in findings if f.status is Status.PASS],
        details=result,
    )
    failed = [f for f in findings if f.status is Status.ERROR]
    error = OkxShieldError(f"the cleanup failed for {len(failed)} secret(s)") if failed else None
    return RotationOutcome(report, {**report.as_result(), **result}, error=error)


def _cleanup_title(deleted: dict[str, list[str]], failed: int, *, dry_run: bool) -> str:
    keys = sum(len(labels) for labels in deleted.values())
    done = f"{keys} old key(s) {'would be ' if dry_run else ''}deleted"
    return (
        (f"{failed} secret(s) failed, " if failed else "")
        + f"{done}: cleanup of retired keys"
        + (" (dry run)" if dry_run else "")
    )


def _swept_findings(name: str, swept: Swept, *, dry_run: bool) -> list[Finding]:
    """What the cleanup did to one secret's keys, as OKX lists them afterwards."""
    out: list[Finding] = []
    gone = (
        "; the secret is deleted in Secrets Manager: the state table's record named them" if swept.secret_gone else ""
    )
    if swept.left:
        out.append(
            finding(
                "rotation.cleanup:left",
                name,
                f"the secret is deleted in Secrets Manager; the key it held last ({', '.join(swept.left)}) is left "
                "at OKX",
            )
        )
    if swept.deleted:
        if dry_run:
            message = f"would delete old key(s) at OKX: {', '.join(swept.deleted)}"
        else:
            message = f"deleted old key(s) at OKX (no longer listed, read back): {', '.join(swept.deleted)}"
        out.append(finding("rotation.cleanup:ok", name, message + gone))
    if swept.still_listed:
        out.append(
            finding(
                "rotation.cleanup:unconfirmed",
                name,
                f"OKX accepted deleting {', '.join(swept.still_listed)}, but still lists it (read back)",
            )
        )
    if swept.held:
        out.append(
            finding(
                "rotation.cleanup:held",
                name,
                f"kept {', '.join(swept.held)}: Secrets Manager holds it (AWSCURRENT or AWSPENDING) right now",
            )
        )
    return out
