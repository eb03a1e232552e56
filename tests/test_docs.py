"""The documentation site's pages: every example runs and prints what the page shows."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from .conftest import ROOT
from .markdown_examples import Example, blocks, parse_blocks, python_examples, run_python_example
from .test_public_api import PUBLIC_MODULES

DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
GUIDES = [page for page in PAGES if "reference" not in page.relative_to(DOCS).parts]
EXAMPLES = [example for page in PAGES for example in python_examples(page)]

# aiopubsub's module path for the test doubles of typedpubsub.testing, documented there.
ALIAS_MODULES = {"typedpubsub.testing.mocks"}


def test_every_guide_page_has_an_example() -> None:
    """Each page outside the API reference runs an example (a guard against a parser finding none)."""
    assert len(GUIDES) >= 8
    assert [str(page.relative_to(DOCS)) for page in GUIDES if not python_examples(page)] == []


@pytest.mark.parametrize("example", EXAMPLES, ids=[example.id for example in EXAMPLES])
def test_docs_example(example: Example, tmp_path: Path) -> None:
    """The block runs without error or warning and prints exactly the documented output."""
    run_python_example(example.code, example.expected, tmp_path)


def _example_modules(directory: Path) -> list[str]:
    """Write each example as a module of ``directory``; the paths, for a type checker."""
    paths = []
    for index, example in enumerate(EXAMPLES):
        name = re.sub(r"\W", "_", example.id)
        path = directory / f"example_{index}_{name}.py"
        path.write_text(example.code)
        paths.append(str(path))
    return paths


def _checked(command: list[str], **env: str) -> None:
    """Run a type checker from the project root; it must find nothing."""
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        check=False,
        env={**os.environ, **env},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_examples_pass_mypy_strict(tmp_path: Path) -> None:
    """The examples type-check under mypy --strict, and each `# type: ignore[code]` is needed."""
    paths = _example_modules(tmp_path)
    # MYPYPATH: examples/ is importable from the project root, as when the examples run.
    _checked(
        [sys.executable, "-m", "mypy", "--config-file", "mypy.ini", *paths], MYPYPATH=str(ROOT)
    )


def test_examples_pass_basedpyright(tmp_path: Path) -> None:
    """The examples type-check under basedpyright too, and each `# type: ignore` is needed."""
    found = shutil.which("basedpyright", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("basedpyright is not installed: install the test extra")
    _example_modules(tmp_path)
    # Unlike the project's own settings, `# type: ignore` counts here: readers use either checker.
    config = {
        "pythonVersion": "3.10",
        "typeCheckingMode": "standard",
        "enableTypeIgnoreComments": True,
        "reportUnnecessaryTypeIgnoreComment": "error",
        "extraPaths": [str(ROOT)],
        "stubPath": str(ROOT / "stubs"),
    }
    (tmp_path / "pyrightconfig.json").write_text(json.dumps(config))
    _checked([found, "--project", str(tmp_path), "--pythonpath", sys.executable])


@pytest.mark.parametrize("page", PAGES, ids=[str(page.relative_to(DOCS)) for page in PAGES])
def test_every_block_runs_or_is_marked(page: Path) -> None:
    """A block that is neither run nor the output of one is marked not run, with a reason."""
    unchecked = [
        f"line {block.line} ({block.language})"
        for block in blocks(page)
        if not (block.language == "python" or block.output_of_previous or block.not_run)
    ]
    assert unchecked == []


@pytest.mark.parametrize("page", PAGES, ids=[str(page.relative_to(DOCS)) for page in PAGES])
def test_every_fence_is_parsed(page: Path) -> None:
    """No fence escapes the parser (one without a language, or indented, would never run)."""
    fences = re.findall(r"^[ \t]*```", page.read_text(), re.MULTILINE)
    assert len(fences) == 2 * len(blocks(page))
    assert all(fence == "```" for fence in fences), "indented fence"


def test_reference_covers_every_public_module() -> None:
    """The API reference renders every public module from its docstrings."""
    rendered = {
        match
        for page in (DOCS / "reference").glob("*.md")
        for match in re.findall(r"^::: ([\w.]+)$", page.read_text(), re.MULTILINE)
    }
    assert rendered == set(PUBLIC_MODULES) - ALIAS_MODULES


# Parts of a generated page: a fence with its language, a marker, a separator.
PIECES = st.lists(
    st.tuples(
        st.sampled_from(["python", "text", "sh"]),
        st.booleans(),  # marked not run
        st.sampled_from(["\n", "\n\n", "\nSome prose.\n\n"]),
    ),
    max_size=8,
)


@given(PIECES)
def test_parser_recovers_generated_pages(pieces: list[tuple[str, bool, str]]) -> None:
    """On any sequence of blocks, markers and prose, the parser finds each block as written."""
    text = "# Page\n"
    for index, (language, marked, separator) in enumerate(pieces):
        marker = "<!-- not run: needs a server -->\n" if marked else ""
        text += f"{separator}{marker}```{language}\nprint({index})\n```\n"
    found = parse_blocks(text, Path("generated.md"))
    assert [(b.language, b.not_run, b.body) for b in found] == [
        (language, marked, f"print({index})\n")
        for index, (language, marked, _) in enumerate(pieces)
    ]
    for index, block in enumerate(found):
        previous = pieces[index - 1] if index else None
        assert block.output_of_previous == (
            block.language == "text"
            and previous is not None
            and previous[0] == "python"
            and not previous[1]
            and not pieces[index][1]
            and not pieces[index][2].strip()
        )


def _sphinx_roles() -> ModuleType:
    """The reference's griffe extension (docs/_ext), loaded by path; it needs the docs extra."""
    pytest.importorskip("griffe", reason="the docs extra is not installed")
    spec = importlib.util.spec_from_file_location("sphinx_roles", DOCS / "_ext" / "sphinx_roles.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("docstring", "rendered"),
    [
        (":class:`~typedpubsub.errors.InvalidKeyError`", "`InvalidKeyError`"),
        (":class:`typedpubsub.Hub` and :meth:`Hub.publish`", "`typedpubsub.Hub` and `Hub.publish`"),
        (":py:func:`~a.b` :mod:`typedpubsub.nats`", "`b` `typedpubsub.nats`"),
        ("``code`` and :unknown:`x` stay", "``code`` and :unknown:`x` stay"),
    ],
)
def test_sphinx_roles_become_code_spans(docstring: str, rendered: str) -> None:
    """Sphinx cross-reference roles in docstrings render as code spans, the rest unchanged."""
    module = _sphinx_roles()
    assert module.ROLE.sub(module._code_span, docstring) == rendered
