"""The SNS reports of a local stack, printed as a subscriber reads them (`okx-shield invoke`, the demo)."""

from __future__ import annotations

import textwrap
from typing import TextIO

from okxlocal.stack import LocalStack


def print_reports(stack: LocalStack, out: TextIO) -> None:
    for message in stack.reports():
        attributes = ", ".join(f"{k}={v}" for k, v in sorted(message.attributes.items()))
        out.write("\n" + "=" * 100 + "\n")
        out.write(f"SNS  Subject: {message.subject}\n     Attributes: {attributes}\n")
        out.write("-" * 100 + "\n")
        out.write(textwrap.indent(message.body, "  ") + "\n")
