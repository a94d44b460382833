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

    metrics = {point.name: point.value for point in report_metrics(report_of(finding(Severity.HIGH, Status.ERROR)))}
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


def machine_part(body: str) -> dict:
    import json

    from okxcore.report import JSON_MARKER

    _, _, machine = body.partition(JSON_MARKER)
    assert machine, "every body ends with the JSON section"
    return json.loads(machine)


def test_a_cut_subject_keeps_its_start_and_ends_with_an_ellipsis():
    report = Report(report_type="trade", environment="prod", title="1 order(s) placed: LIVE " + "p" * 120)
    subject = report.subject()
    assert len(subject) == 99  # SNS: less than 100 characters
    assert subject.startswith("[OK] okx-shield trade (prod): 1 order(s) placed: LIVE pp")
    assert subject.endswith("…")  # it used to stop mid-word with no marker
    assert Report(report_type="trade", title="short").subject().endswith("short")


def test_the_body_is_at_most_100_columns_and_wide_tables_move_their_last_columns_to_a_details_line():
    header = ["leg", "instrument", "side", "size", "price", "result", "state", "ordId", "clOrdId"]
    row = ["0", "BTC-USDT", "buy", "100 USDT", "market (~60010)", "PLACED", "filled", "7" * 18, "c" * 32]
    report = Report(
        report_type="trade",
        title="t",
        summary=["A summary line that goes on " * 10],
        tables={"Orders": [header, row]},
        findings=[finding(Severity.HIGH, resource="leg 0 " + "x" * 150)],
    )
    body = report.render_text()
    text = body.partition("--- for machines")[0]
    assert max(len(line) for line in text.splitlines()) <= 100  # these were 144-169 wide
    assert f"\n      clOrdId {'c' * 32}\n" in text  # the id that did not fit, on the row's details line
    assert "A summary line that goes on A summary" in " ".join(text.split())  # wrapped, not cut


def test_every_body_ends_with_a_json_section_for_machines():
    report = Report(
        report_type="audit",
        environment="prod",
        title="2 of 3 key(s) need attention",
        findings=[finding(Severity.HIGH, Status.ERROR, resource="k1"), finding(Severity.LOW, resource="k2")],
        details={"run_id": "audit-1", "keys": [{"resource": "k1"}], "note": "n" * 500},
    )
    machine = machine_part(report.render_text())
    assert machine["severity"] == "HIGH" and machine["failed"] is True and machine["report"] == "audit"
    assert machine["counts"]["HIGH"] == 1
    assert [(p["resource"], p["severity"], p["fails_run"]) for p in machine["problems"]] == [
        ("k1", "HIGH", True),
        ("k2", "LOW", False),
    ]
    assert machine["details"] == {"run_id": "audit-1"}  # short scalars only; the rest is in the return value


def test_a_secret_arn_is_shown_as_the_secrets_name():
    from okxcore.report import secret_label

    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:okx-shield/keys/bot-main-AbC123"
    assert secret_label(arn) == "okx-shield/keys/bot-main"
    assert secret_label("okx-shield/keys/bot-main") == "okx-shield/keys/bot-main"
