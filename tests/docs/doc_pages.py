"""README.md and docs/*.md as the doc tests read them: pages, their fenced code blocks, their links and their
headings' anchors (GitHub's spelling)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"

_FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
_INLINE_CODE = re.compile(r"`([^`\n]+)`")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    language: str
    text: str

    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


@dataclass(frozen=True)
class Page:
    path: Path
    text: str

    @property
    def name(self) -> str:
        return str(self.path.relative_to(ROOT))

    def blocks(self) -> list[Block]:
        lines = self.text.splitlines()
        found: list[Block] = []
        index = 0
        while index < len(lines):
            opening = _FENCE.match(lines[index])
            if not opening:
                index += 1
                continue
            indent, language = opening.group(1), opening.group(2)
            end = index + 1
            while end < len(lines) and lines[end].strip() != "```":
                end += 1
            inside = lines[index + 1 : end]
            body = "\n".join(line[len(indent) :] if line.startswith(indent) else line for line in inside)
            found.append(
                Block(
                    page=self.path,
                    line=index + 1,
                    language=language,
                    text=body + "\n",
                )
            )
            index = end + 1
        return found

    def prose(self) -> str:
        """The text outside fenced blocks."""
        kept: list[str] = []
        inside = False
        for line in self.text.splitlines():
            if _FENCE.match(line):
                inside = not inside
                continue
            if not inside:
                kept.append(line)
        return "\n".join(kept)

    def links(self) -> list[str]:
        return _LINK.findall(self.prose())

    def inline_code(self) -> list[str]:
        return _INLINE_CODE.findall(self.prose())

    def anchors(self) -> set[str]:
        return {anchor(line.lstrip("#")) for line in self.prose().splitlines() if re.match(r"#{1,6} ", line)}


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped but for '-' and '_', spaces to '-'."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


@cache
def pages() -> tuple[Page, ...]:
    """README.md, every docs/*.md, and the examples' READMEs: what a reader follows links through."""
    paths = [README, *sorted(DOCS.glob("*.md")), *sorted((ROOT / "examples").glob("*/README.md"))]
    return tuple(Page(path, path.read_text()) for path in paths)


def page(name: str) -> Page:
    return next(p for p in pages() if p.name == name)


def blocks() -> list[Block]:
    return [block for p in pages() for block in p.blocks()]
