"""Every Python block of the README runs, and prints the text block that follows it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

BLOCK = re.compile(r"```(\w+)[^\n]*\n(.*?)```", re.DOTALL)


def readme_examples() -> list[tuple[str, str | None]]:
    """(code, expected output or None) for each python block; a ```text block right after is output."""
    blocks = [
        (m.group(1), m.group(2), m.start(), m.end())
        for m in BLOCK.finditer((ROOT / "README.md").read_text())
    ]
    text = (ROOT / "README.md").read_text()
    examples = []
    for index, (lang, body, _, end) in enumerate(blocks):
        if lang != "python":
            continue
        expected = None
        if index + 1 < len(blocks):
            next_lang, next_body, next_start, _ = blocks[index + 1]
            if next_lang == "text" and not text[end:next_start].strip():
                expected = next_body
        examples.append((body, expected))
    return examples


EXAMPLES = readme_examples()


def test_readme_has_examples() -> None:
    """The README holds runnable examples (a guard against a parser that finds none)."""
    assert len(EXAMPLES) >= 2


@pytest.mark.parametrize(
    ("code", "expected"), EXAMPLES, ids=[f"block{i}" for i in range(len(EXAMPLES))]
)
def test_readme_example(code: str, expected: str | None, tmp_path: Path) -> None:
    """The block runs without error or warning and prints exactly the documented output."""
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
        assert result.stdout == expected


def test_guarantees_cite_existing_tests() -> None:
    """Every test the README cites as evidence exists, so a guarantee cannot lose its test."""
    text = (ROOT / "README.md").read_text()
    cited = re.findall(r"`(test_\w+\.py)::(test_\w+)`", text)
    assert len(cited) >= 10
    for module, name in cited:
        source = (ROOT / "tests" / module).read_text()
        assert re.search(rf"^(async )?def {name}\(", source, re.MULTILINE), f"{module}::{name}"
    for name in re.findall(r"\| `(test_\w+)`", text) + re.findall(r", `(test_\w+)` \|", text):
        assert any(
            re.search(rf"^(async )?def {name}\(", path.read_text(), re.MULTILINE)
            for path in (ROOT / "tests").glob("test_*.py")
        ), name
