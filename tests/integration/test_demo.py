"""`okx-shield demo` (README's first command) runs all three functions and shows each seeded case."""

from __future__ import annotations

import io
import re

import pytest

from okxcli.demo.run import run_demo

pytestmark = pytest.mark.e2e  # the whole demo, and every event file through okx-shield invoke


def test_demo_shows_every_case_and_only_the_static_ip_reached_okx():
    out = io.StringIO()
    assert run_demo(out) == 0
    text = out.getvalue()
    subjects = re.findall(r"SNS  Subject: (.*)", text)
    expected = ["probe", "audit", "trade", "audit", "trade", "trade", "rotation", "audit"]
    assert [s.split()[2] for s in subjects] == expected
    bodies = re.findall(r"-{100}\n(.*?)(?:\n\n>>>|\n\nAt the simulator|\n\nThe OKX simulator)", text, re.S)
    assert len(bodies) == len(subjects)
    for body in bodies:  # what the e-mail shows: no line over 100 columns (the demo indents each by 2)
        prose = body.partition("--- for machines (JSON) ---")[0]
        assert max(len(line) - 2 for line in prose.splitlines()) <= 100
    text = " ".join(text.split())  # the phrases below, whichever line the body wrapped them on
    assert subjects[0].startswith("[CRITICAL]")  # the fleet has problems, and the probe says so
    assert "Egress: 127.0.0.2, a Shield static IP" in text
    assert re.search(r"expiring-bot.*1\.0 day\(s\) left before OKX deletes it", text)
    assert re.search(r"deleted-bot.*50111|50111.*deleted-bot", text, re.S)
    assert re.search(r"withdraw-key: has withdraw permission", text)
    assert re.search(r"half-bound-bot.*127\.0\.0\.3", text)
    for healthy in ("bot-main", "bot-dca"):  # trading bots bound to both IPs
        assert re.search(rf"okx-shield/keys/{healthy}\s+OK\s", text)
    # The demo key bound to no IP: one judgement, LOW, in the probe and in the audit
    assert "[LOW/WARN] bot-demo (okx-shield/keys/bot-demo): The key is bound to no IP" in text
    assert re.search(r"okx-shield/keys/bot-demo\s+LOW\s", text)
    assert "5 of 8 key(s) need attention" in text
    # The master rebinds the half-bound and the expiring sub-account keys: planned, applied, and the audit is cleaner
    assert "after: 127.0.0.2, 127.0.0.3" in text
    assert re.search(r"expiring-bot\s+applied\s+\(no IP\)\s+127\.0\.0\.2, 127\.0\.0\.3", text)
    assert re.search(r"half-bound-bot\s+applied\s+127\.0\.0\.2\s+127\.0\.0\.2, 127\.0\.0\.3", text)
    assert "half-bound-bot: bound to 127.0.0.2, 127.0.0.3" in text
    assert "expiring-bot: bound to 127.0.0.2, 127.0.0.3" in text
    assert re.search(r"The audit after the repair: .*4 of 8 key\(s\) need attention", text)
    assert re.search(r"\[OK\] okx-shield trade .* 1 order\(s\) placed", text)
    # One sub-account key is rotated: a new key bound to both Shield IPs, the old one kept for its grace period
    assert "[OK] okx-shield rotation (local): rotated: okx-shield/keys/expiring-bot" in text
    assert re.search(
        r"okxs-[0-9a-f]{8}-[0-9a-f]{12}: perm read_only,trade, bound to 127\.0\.0\.2, 127\.0\.0\.3 \(new", text
    )
    assert "expiring-bot: perm read_only,trade, bound to 127.0.0.2, 127.0.0.3 (the old key" in text
    assert "received" in text
    # The fan-out step: 3 shards, the second crashing on every attempt, merged into one report
    assert "attempts shard 1: 1, shard 2: 3, shard 3: 1" in text
    assert "failed after every attempt: shard 2;" in text  # it said "failed: 2" (a count, or which?)
    assert re.search(r"shard 2 of 3 failed after its retries: \d key\(s\) not audited", text)
    # The fan-out's merged report: its worst finding's severity, the run failed, the unaudited keys need attention
    assert re.search(
        r"^\[HIGH\] okx-shield audit \(local\): 4 of 10 key\(s\) need attention \(3 not audited\)", subjects[-1]
    )
    assert "failed=true, report=audit, severity=HIGH" in text
    assert "from: 127.0.0.2 (only the proxy's static IP" in text
    # A limit order with a lifetime: open until its expiry, then canceled by the next slot with its fill kept
    assert re.search(r"limit order still open \(filled 0 of [0-9.]+\), canceled if unfilled at ", text)
    assert re.search(
        r"Open orders of plan eth-dip-bid, key okx-shield/keys/bot-main: 1 ETH-USDT buy .*: open,", text
    )
    assert re.search(
        r"\(its lifetime is over\): canceled: filled 0\.04, remaining 0\.060519, released [0-9.]+ USDT", text
    )
    assert "Orders at the simulator: 3." in text
    # The last step, as a user types it: the plans checked, a stack `okx-shield up` keeps, an order placed by one
    # command and listed by the next, the plans' schedules deployed on it, and `down`
    assert "$ okx-shield plans check ok plans/dca-btc-daily.json: dca-btc-daily, cron(0 12 * * ? *) UTC" in text
    assert re.search(r"\$ okx-shield up --background okx-shield local stack: up \(pid \d+", text)
    assert re.search(r"Open orders of plan eth-weekly-bid, key okx-shield/keys/bot-main: 1 ETH-USDT buy .* live", text)
    assert "create dca-btc-daily: cron(0 12 * * ? *) UTC, DISABLED" in text and "2 schedule(s) changed" in text
    assert "$ okx-shield down okx-shield local stack: stopped" in text
    assert '"_aws"' not in text  # metrics and logs are not mixed into what the user reads


def test_invoke_runs_every_event_file_on_the_local_stack(capsys):
    import json
    from pathlib import Path

    from okxcli.main import main

    events = sorted((Path(__file__).resolve().parents[2] / "events").glob("*.json"))
    assert len(events) >= 6
    for path in events:
        function = path.stem.split("-")[0]
        if function == "rotate" and path.stem != "rotate-cleanup":
            continue  # a rotation step needs a rotation in progress (an AWSPENDING token): tests/rotation
        assert main(["invoke", function, "--event", str(path)]) == 0, path.name
        printed = capsys.readouterr()
        result = json.loads(printed.out)  # stdout is the function's result alone, as with sam local invoke
        if function == "rotate":
            assert result == {"cleanup": True, "dry_run": False, "deleted": {}}  # nothing rotated: nothing to say
            continue
        if path.stem == "trade-sweep":  # no order is due: one Query, nothing to report
            assert result == {"sweep": "expired-orders", "status": "DONE", "ended": 0, "failed": 0}
            continue
        assert result["report_type"] == function, path.name
        assert "SNS  Subject: [" in printed.err
