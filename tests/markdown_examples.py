"""Executable Markdown, shared by the README and the documentation tests.

Every fenced ```python block of a page is a complete script: it runs on its own, from the project
root (where ``examples/`` is importable), with warnings as errors. A ```text block that follows it
with nothing but blank lines between is the exact output it must print. A block that must not run
is marked on the line above its fence with ``<!-- not run: why -->``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

from .conftest import ROOT

BLOCK = re.compile(r"```(\w+)[^\n]*\n(.*?)```", re.DOTALL)
NOT_RUN = re.compile(r"<!-- not run: [^>]*\S[^>]*-->\s*\Z")
"""The marker of a block that must not run, right before its fence; the reason is mandatory."""


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced block of a Markdown page."""

    path: Path
    line: int
    language: str
    body: str
    not_run: bool
    output_of_previous: bool
    """A ```text block right after a ```python block: that block's expected output."""


@dataclasses.dataclass(frozen=True)
class Example:
    """A ```python block to run, and the output it must print (None: not compared)."""

    path: Path
    line: int
    code: str
    expected: str | None

    @property
    def id(self) -> str:
        """``page.md:line``, for test ids and failure messages."""
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown file, in order."""
    return parse_blocks(path.read_text(), path)


def parse_blocks(text: str, path: Path) -> list[Block]:
    """The fenced blocks of Markdown ``text`` (read from ``path``), in order."""
    found: list[Block] = []
    previous_end = 0
    previous_language = ""
    for match in BLOCK.finditer(text):
        language, body = match.group(1), match.group(2)
        between = text[previous_end : match.start()]
        found.append(
            Block(
                path=path,
                line=text.count("\n", 0, match.start()) + 1,
                language=language,
                body=body,
                not_run=NOT_RUN.search(between) is not None,
                output_of_previous=(
                    language == "text"
                    and previous_language == "python"
                    and not between.strip()
                    and not found[-1].not_run
                ),
            )
        )
        previous_end, previous_language = match.end(), language
    return found


def python_examples(path: Path) -> list[Example]:
    """The ```python blocks of a Markdown file that must run, each with its expected output."""
    found = blocks(path)
    examples = []
    for index, block in enumerate(found):
        if block.language != "python" or block.not_run:
            continue
        following = found[index + 1] if index + 1 < len(found) else None
        expected = following.body if following and following.output_of_previous else None
        examples.append(Example(path, block.line, block.body, expected))
    return examples


def run_python_example(code: str, expected: str | None, tmp_path: Path) -> None:
    """Run ``code`` as a reader would; it must succeed and print exactly ``expected``."""
    script = tmp_path / "example.py"
    script.write_text(code)
    # As a reader runs it: from the project root, where examples/ is importable.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    if expected is not None:
        assert result.stdout == expected, f"printed instead:\n{result.stdout}"
