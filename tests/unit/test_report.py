"""The one report model: overall severity, subject, and a body that always fits one SNS message."""

from okxcore.report import SNS_MESSAGE_LIMIT_BYTES, Finding, Overall, Report, Severity, Status


def finding(severity: Severity, status: Status = Status.FAIL, resource: str = "bot") -> Finding:
    return Finding(
        check_id="x.check",
        severity=severity,
        status=status,
        resource=resource,
        message=f"{severity.value} thing",
        observed="seen",
        expected="wanted",
        remediation="do this",
    )


def test_overall_follows_the_worst_problem():
    assert Report(report_type="probe", title="t").overall is Overall.OK
    assert (
        Report(report_type="probe", title="t", findings=[finding(Severity.CRITICAL, Status.PASS)]).overall is Overall.OK
    )
    assert Report(report_type="probe", title="t", findings=[finding(Severity.MEDIUM)]).overall is Overall.WARNING
    assert Report(report_type="probe", title="t", findings=[finding(Severity.HIGH)]).overall is Overall.CRITICAL
    assert (
        Report(report_type="probe", title="t", findings=[finding(Severity.INFO, Status.ERROR)]).overall
        is Overall.CRITICAL
    )


def test_subject_is_one_short_line():
    report = Report(
        report_type="audit",
        environment="prod",
        title="a very long title\nwith a newline " * 10,
        findings=[finding(Severity.CRITICAL)],
    )
    subject = report.subject()
    assert subject.startswith("[CRITICAL] okx-shield audit (prod):")
    assert len(subject) <= 100
    assert "\n" not in subject


def test_body_lists_worst_first_with_the_fix():
    report = Report(
        report_type="audit",
        title="fleet",
        findings=[
            finding(Severity.LOW, resource="low-bot"),
            finding(Severity.CRITICAL, resource="crit-bot"),
            finding(Severity.INFO, Status.PASS, resource="ok-bot"),
        ],
    )
    body = report.render_text()
    assert body.index("crit-bot") < body.index("low-bot")
    assert "fix: do this" in body
    assert "1 check(s) passed." in body
    assert "CRITICAL 1, LOW 1" in body


def test_a_huge_fleet_still_fits_one_sns_message():
    findings = [finding(Severity.HIGH, resource=f"bot-{i:05d}-" + "é" * 40) for i in range(5000)]
    rows = [["key", "state"]] + [[f"bot-{i}", "x" * 30] for i in range(5000)]
    report = Report(report_type="audit", title="fleet", findings=findings, tables={"keys": rows})
    body = report.render_text()
    assert len(body.encode()) < SNS_MESSAGE_LIMIT_BYTES - 4096
    assert "left out to fit one SNS message" in body or "cut to fit one SNS message" in body
    assert report.as_result()["counts"]["HIGH"] == 5000
