"""README stays a newcomer's page whose map matches the tree, and every link and path the docs name is there.

Given README.md, docs/*.md and the examples' READMEs; when a reader follows a link, runs one of README's two
commands or looks for a path a page names; then it exists, in the tree as it is."""

from __future__ import annotations

import fnmatch
import re
import subprocess
from functools import cache
from pathlib import Path

import pytest
from doc_pages import DOCS, README, ROOT, Page, page, pages

README_LIMIT_BYTES = 15_000
# Inline paths are checked when they start in the tree, or in a package named without its root (okxcore/slot.py).
PACKAGE_ROOTS = {"okxcore": "src", "handlers": "src", "okxcli": "cli", "okxlocal": "local"}
_PATHLIKE = re.compile(r"^[\w.*<>-]+(/[\w.*<>-]*)+$|^[\w*-]+\.(py|json|yaml|yml|md|toml|txt|sh)$")


@cache
def tracked() -> tuple[str, ...]:
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    in_index = [line for line in files.splitlines() if (ROOT / line).exists()]  # a file deleted but not yet staged
    untracked = subprocess.run(
        ["git", "ls-files", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return tuple(sorted({*in_index, *untracked.splitlines()}))


def tree_dirs() -> set[str]:
    """Every directory that holds a file of the project (not one holding only __init__.py and folders)."""
    dirs = set()
    for name in tracked():
        path = Path(name)
        if path.name != "__init__.py" and len(path.parts) > 1:
            dirs.add(str(path.parent) + "/")
    return dirs


def in_tree(relative: str) -> bool:
    """A file or folder of the tree; `*` matches as in a shell glob."""
    relative = relative.rstrip("/")
    if "*" not in relative:
        return (ROOT / relative).exists()
    return any(fnmatch.fnmatch(name, relative) for name in tracked())


# --- README ------------------------------------------------------------------------------------------------------


def test_readme_is_a_newcomers_page():
    size = len(README.read_bytes())
    assert size < README_LIMIT_BYTES, (
        f"README.md is {size} bytes (limit {README_LIMIT_BYTES}): move the detail to the matching docs/ page"
    )
    headings = [line for line in README.read_text().splitlines() if line.startswith("## ")]
    assert headings == ["## Two commands", "## Map of the code", "## Where to go next"]


def test_readme_gives_the_two_commands_and_ci_runs_the_same_test_command():
    shell = [block for block in page("README.md").blocks() if block.language == "sh"]
    commands = [line.split("#")[0].strip() for line in shell[0].text.splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    ci_commands = [line for line in ci if line and not line.startswith("#")]
    assert ci_commands[-1] == "make test", ".ci/run must end by running README's test command"


def test_every_make_target_the_docs_name_exists():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][\w-]*):", makefile, flags=re.MULTILINE))
    named = set()
    for doc in pages():
        code = [*doc.inline_code(), *(block.text for block in doc.blocks())]
        for text in code:
            commands = "\n".join(line.split(" #")[0] for line in text.splitlines())  # not a shell comment's words
            named.update(re.findall(r"(?:^|[\s=;&(])make ([a-z][\w-]*)", commands, flags=re.MULTILINE))
    assert {"demo", "test"} <= named
    assert named <= targets, f"the docs name make targets the Makefile lacks: {sorted(named - targets)}"


def _map_rows() -> list[tuple[list[str], str]]:
    """README's map: (paths in the first column, the whole row) per row."""
    section = README.read_text().split("## Map of the code", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if line.startswith("| `"):
            first = line.split("|")[1]
            rows.append((re.findall(r"`([^`]+)`", first), line))
    return rows


def test_readme_map_names_only_what_is_there():
    rows = _map_rows()
    assert rows, "README has no map of the code"
    for paths, row in rows:
        for path in paths:
            assert in_tree(path), f"README's map names {path}, which is not in the tree"
        base = paths[0] if paths[0].endswith("/") else ""
        for relative in re.findall(r"`([\w.-]+/)`", row.split("|", 2)[2]):
            assert (ROOT / base / relative).is_dir(), f"README's map row {paths[0]} names {relative}: not in {base}"


def test_readme_map_covers_every_folder_of_the_tree():
    """Every folder with files of its own is a row of the map, or is named in the row of the folder above it."""
    rows = _map_rows()
    row_paths = {path for paths, _ in rows for path in paths if path.endswith("/")}
    uncovered = []
    for folder in sorted(tree_dirs()):
        if folder in row_paths:
            continue
        above = [p for p in row_paths if folder.startswith(p)]
        if not above:
            if any(p.startswith(folder) for p in row_paths) and folder.count("/") == 1:
                continue  # a top-level folder whose code has rows of its own (src/: Makefile, requirements.txt)
            uncovered.append(folder)
            continue
        parent = max(above, key=len)
        first = folder[len(parent) :].split("/")[0] + "/"
        row = next(line for paths, line in rows if parent in paths)
        if f"`{first}`" not in row:
            uncovered.append(folder)
    assert not uncovered, f"README's map lacks these folders (a row, or a name in the row above): {uncovered}"


# --- every page --------------------------------------------------------------------------------------------------


def test_every_docs_page_is_reachable_from_readme():
    linked = {(README.parent / link.split("#")[0]).resolve() for link in page("README.md").links()}
    for path in sorted(DOCS.glob("*.md")):
        assert path.resolve() in linked or any(
            path.resolve() == (p.path.parent / link.split("#")[0]).resolve()
            for p in pages()
            if p.path.parent == DOCS
            for link in p.links()
        ), f"{path.name} is linked from no page"


@pytest.mark.parametrize("doc", pages(), ids=lambda p: p.name)
def test_every_link_resolves(doc: Page):
    for link in doc.links():
        if re.match(r"^[a-z]+:", link):
            assert link.startswith(("https://", "mailto:")), f"{doc.name}: {link} (only https links)"
            continue
        target, _, fragment = link.partition("#")
        path = (doc.path.parent / target).resolve() if target else doc.path
        assert path.exists(), f"{doc.name}: the link {link} leads nowhere"
        if fragment:
            assert path.suffix == ".md", f"{doc.name}: {link}"
            anchors = Page(path, path.read_text()).anchors()
            assert fragment in anchors, f"{doc.name}: {link}: no heading with that anchor in {path.name}"


def _named_paths(doc: Page) -> list[str]:
    named = []
    code = [*doc.inline_code(), *(block.text for block in doc.blocks())]
    texts = [word for text in code for word in text.split()]
    top = {Path(name).parts[0] for name in tracked()}
    for text in texts:
        token = text.strip().removeprefix("file://").removeprefix("fileb://").rstrip(".,;:)")
        if not _PATHLIKE.match(token) or "<" in token:
            continue
        first = token.split("/")[0]
        if first in top and first not in (".gitignore",):
            named.append(token)
        elif first in PACKAGE_ROOTS and "/" in token:
            named.append(f"{PACKAGE_ROOTS[first]}/{token}")
    return named


@pytest.mark.parametrize("doc", pages(), ids=lambda p: p.name)
def test_every_path_a_page_names_is_in_the_tree(doc: Page):
    missing = [path for path in _named_paths(doc) if not in_tree(path)]
    assert not missing, f"{doc.name} names paths that are not in the tree: {missing}"


def test_the_events_the_docs_name_exist():
    """Every events/ (and plans/) file a page names: the ones a reader copies first."""
    named = {path for doc in pages() for path in _named_paths(doc) if path.startswith(("events/", "plans/"))}
    assert len(named) >= 10, sorted(named)
    assert all(in_tree(path) for path in named)
