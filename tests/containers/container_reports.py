"""Reports as a subscriber reads them, made comparable across two runs of the same event: what differs between
runs by nature (times, ports, clOrdIds derived from the slot's time, durations, column widths) is masked; every
finding, severity, key, IP and count stays."""

from __future__ import annotations

import re
from dataclasses import dataclass

from okxlocal.stack import ReportMessage

_MASKS = (
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)?"), "<time>"),
    # Where the proxy and the simulator listen: loopback in-process, the Docker bridge's gateway for a container.
    (re.compile(r"\b(\d+\.\d+\.\d+\.\d+|localhost):\d+"), "<address>"),
    (re.compile(r"\bos[a-z0-9]{30,}\b"), "<clOrdId>"),
    (re.compile(r"\b\d+(\.\d+)? s\b"), "<seconds>"),
    (re.compile(r"(/echo/\S+\s+\S+\s+)\d+"), r"\1<ms>"),
    # Timing-dependent counts: how many keys were in flight at once, how many rate-limited calls needed a retry.
    (re.compile(r"at most \d+ key\(s\) in flight"), "at most <n> key(s) in flight"),
    (re.compile(r"Rate limits: \d+ call\(s\)"), "Rate limits: <n> call(s)"),
    (re.compile(r"^\s*-{3,}(\s+-{2,})*\s*$"), "<rule>"),  # a table's rule is as wide as its widest cell
    (re.compile(r"[ \t]+"), " "),
)


def mask(text: str) -> str:
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text.strip()


@dataclass(frozen=True)
class Comparable:
    subject: str
    attributes: tuple[tuple[str, str], ...]
    lines: tuple[str, ...]

    @property
    def severity(self) -> str:
        return dict(self.attributes).get("severity", "")


# A trade that waits for its limit order to fill (fill_wait_s) polls OKX for that time: how many polls fit varies.
_TRADE_REQUESTS = re.compile(r"^(Requests sent through Shield by this run:) \d+|(\"shield_requests\":) \d+")
# The probe's direct contrast call leaves from wherever the function runs: 127.0.0.1 in-process, the container's
# address in a container (where the simulator, on this machine's loopback, is out of reach). Compared apart.
CONTRAST = re.compile(r"^(For contrast, a direct|The direct contrast call)")


def _joined_contrast(body: str) -> list[str]:
    """The body's lines, with the contrast paragraph's wrapped lines joined into its first one."""
    out: list[str] = []
    contrast_indent: int | None = None
    for raw in body.splitlines():
        indent = len(raw) - len(raw.lstrip())
        if contrast_indent is not None and raw.strip() and indent > contrast_indent:
            out[-1] += " " + raw.strip()
            continue
        contrast_indent = indent if CONTRAST.match(raw.strip()) else None
        out.append(raw)
    return out


def comparable(message: ReportMessage) -> Comparable:
    lines = (mask(raw) for raw in _joined_contrast(message.body))
    if message.attributes.get("report") == "trade":
        lines = (_TRADE_REQUESTS.sub(lambda m: (m.group(1) or m.group(2)) + " <n>", line) for line in lines)
    return Comparable(
        subject=mask(message.subject),
        attributes=tuple(sorted(message.attributes.items())),
        lines=tuple(line for line in lines if line),
    )


def parse_cli_reports(stderr: str) -> list[ReportMessage]:
    """The SNS reports `okx-shield invoke` prints (okxcli.reports.print_reports), back into messages."""
    out: list[ReportMessage] = []
    for block in stderr.split("=" * 100)[1:]:
        head, _rule, body = block.partition("-" * 100 + "\n")
        subject = re.search(r"SNS  Subject: (.*)", head)
        attributes = re.search(r"Attributes: (.*)", head)
        if subject is None or attributes is None:
            continue
        pairs = dict(pair.split("=", 1) for pair in attributes.group(1).split(", ") if "=" in pair)
        lines = [line[2:] if line.startswith("  ") else line for line in body.splitlines()]
        while lines and (not lines[-1].strip() or lines[-1].startswith("error: ")):
            lines.pop()  # what the CLI prints after the reports
        out.append(ReportMessage(subject.group(1), "\n".join(lines), pairs))
    return out
