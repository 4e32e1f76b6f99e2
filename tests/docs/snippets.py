"""The docs' code blocks, read the way the snippet runner reads them.

Every fenced block whose info string is exactly ``python`` in ``docs/**/*.md`` is run, the
blocks of one page concatenated in order as one program. A block preceded (on the line
directly before its opening fence) by ``<!-- no-run -->`` is left out.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import attrs

DOCS = Path(__file__).resolve().parents[2] / "docs"
NO_RUN = "<!-- no-run -->"

_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


@attrs.frozen
class Block:
    """One fenced block: its info string, first line number (1-based) and dedented text."""

    info: str
    line: int
    text: str
    runs: bool


def blocks(page: Path) -> list[Block]:
    """Every fenced block of ``page``, in order."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _OPEN.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        closing = re.compile(rf"^{re.escape(indent)}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        end = index + 1
        while end < len(lines) and closing.match(lines[end]) is None:
            end += 1
        body = [
            line[len(indent) :] if line.startswith(indent) else line.lstrip()
            for line in lines[index + 1 : end]
        ]
        marked = index > 0 and lines[index - 1].strip() == NO_RUN
        info = opening["info"].strip()
        found.append(
            Block(
                info=info, line=index + 1, text="\n".join(body) + "\n", runs=info == "python" and not marked
            )
        )
        index = end + 1
    return found


def program(page: Path) -> str:
    """The page's runnable blocks as one program, each preceded by a comment naming its line."""
    parts = [f"# {page.name}, line {block.line}\n{block.text}" for block in blocks(page) if block.runs]
    return "\n".join(parts)


def pages_with_programs() -> list[Path]:
    """The pages that have at least one block to run, sorted."""
    return sorted(page for page in DOCS.rglob("*.md") if program(page))


def run_example(page: Path, heading: str) -> dict[str, Any]:
    """Execute the first ``python`` block after ``heading`` on ``page``; return its namespace.

    For tests that drive what an example defines (an aiohttp app, say) through its cases.
    """
    text = page.read_text(encoding="utf-8")
    assert heading in text, f"{page.name} lost its section {heading!r}"
    after = text.index(heading)
    found = [block for block in blocks(page) if block.info == "python" and _offset(text, block.line) > after]
    assert found, f"{page.name} has no python block after {heading!r}"
    namespace: dict[str, Any] = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    exec(compile(found[0].text, f"{page}:{found[0].line}", "exec"), namespace)
    return namespace


def _offset(text: str, line: int) -> int:
    """The character offset of the start of 1-based ``line`` in ``text``."""
    return sum(len(part) + 1 for part in text.split("\n")[: line - 1])
