"""Every Python block of the README runs, and prints the text block that follows it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import ROOT
from .markdown_examples import python_examples, run_python_example

EXAMPLES = [(example.code, example.expected) for example in python_examples(ROOT / "README.md")]


def test_readme_has_examples() -> None:
    """The README holds runnable examples (a guard against a parser that finds none)."""
    assert len(EXAMPLES) >= 2


@pytest.mark.parametrize(
    ("code", "expected"), EXAMPLES, ids=[f"block{i}" for i in range(len(EXAMPLES))]
)
def test_readme_example(code: str, expected: str | None, tmp_path: Path) -> None:
    """The block runs without error or warning and prints exactly the documented output."""
    run_python_example(code, expected, tmp_path)


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
