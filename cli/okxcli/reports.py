"""The SNS reports of a local stack, printed as a subscriber reads them (`okx-shield invoke`, the demo, `up`)."""

from __future__ import annotations

import textwrap
from typing import Protocol, TextIO

from okxlocal.stack import ReportMessage


class ReportSource(Protocol):
    """A local stack, embedded (okxlocal.stack.LocalStack) or the one `okx-shield up` keeps (okxlocal.attached)."""

    def reports(self) -> list[ReportMessage]: ...


def print_reports(stack: ReportSource, out: TextIO) -> None:
    for message in stack.reports():
        attributes = ", ".join(f"{k}={v}" for k, v in sorted(message.attributes.items()))
        out.write("\n" + "=" * 100 + "\n")
        out.write(f"SNS  Subject: {message.subject}\n     Attributes: {attributes}\n")
        out.write("-" * 100 + "\n")
        out.write(textwrap.indent(message.body, "  ") + "\n")
