"""The one report model: its severity, whether its run failed, its subject, and a body that fits one SNS message."""

from okxcore.report import SNS_MESSAGE_LIMIT_BYTES, Finding, Report, Severity, Status


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


def report_of(*findings: Finding) -> Report:
    return Report(report_type="probe", title="t", findings=list(findings))


def test_a_reports_severity_is_its_worst_findings_and_nothing_else():
    assert report_of().severity == "OK"
    assert report_of(finding(Severity.CRITICAL, Status.PASS)).severity == "OK"  # a passed check is no problem
    assert report_of(finding(Severity.MEDIUM), finding(Severity.LOW)).severity == "MEDIUM"
    high = report_of(finding(Severity.HIGH), finding(Severity.MEDIUM))
    assert high.severity == "HIGH"  # it used to say CRITICAL
    assert high.subject().startswith("[HIGH] ")
    assert "Severity: HIGH   Problems by severity: HIGH 1, MEDIUM 1" in high.render_text()
    assert high.as_result()["severity"] == "HIGH"


def test_whether_a_run_failed_is_its_own_signal_whatever_the_severity():
    could_not_run = report_of(finding(Severity.MEDIUM, Status.ERROR), finding(Severity.LOW))
    assert could_not_run.severity == "MEDIUM"  # an ERROR used to make any report CRITICAL
    assert could_not_run.failed
    assert "Run: FAILED: 1 finding(s) marked 'run failed'" in could_not_run.render_text()
    assert "- [MEDIUM/ERROR, run failed] bot:" in could_not_run.render_text()
    assert could_not_run.as_result()["failed"] is True
    found_problems = report_of(finding(Severity.CRITICAL, Status.FAIL))
    assert found_problems.severity == "CRITICAL" and not found_problems.failed
    assert "Run: complete" in found_problems.render_text()


def test_the_published_metrics_count_each_severity_as_what_it_is():
    from okxcore.report import report_metrics

    metrics = {name: value for name, _unit, value in report_metrics(report_of(finding(Severity.HIGH, Status.ERROR)))}
    assert metrics == {"CriticalFindings": 0.0, "HighFindings": 1.0, "RunFailed": 1.0}  # HIGH used to count as CRITICAL


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


def test_the_table_decides_which_findings_fail_the_run():
    from okxcore.findings import finding as weighed

    assert weighed("audit.shard", "shard 1 of 2").fails_run  # every ERROR: a check that could not run
    assert weighed("rotation.step:failed", "s", check="rotation.createSecret").fails_run  # a FAIL that says so
    assert weighed("trade.order:failed", "leg 0").fails_run
    assert not weighed("audit.permissions.withdraw:risk", "k").fails_run  # CRITICAL, but the audit did its job
    assert not weighed("audit.shield_ips.missing", "k").fails_run
    stored = weighed("audit.shard", "shard 1 of 2").model_dump(mode="json")
    del stored["fails_run"]  # a result stored before the field existed: its status decides
    assert Finding.model_validate(stored).fails_run
