"""Static typing: the check files type-check under mypy --strict and basedpyright.

The check files hold must-fail lines with coded ignores; an ignore that is no longer needed is
an error under both checkers, which the canary proves.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

CHECKS = ROOT / "tests" / "typecheck"
CANARY = CHECKS / "canary" / "canary.py"


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, capture_output=True, text=True, cwd=ROOT, timeout=600, check=False
    )


def basedpyright() -> str:
    found = shutil.which("basedpyright", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("basedpyright is not installed: install the test extra")
    return found


def test_check_files_pass_mypy_strict() -> None:
    """Every check file type-checks under mypy --strict, must-fail lines included."""
    result = run(sys.executable, "-m", "mypy", "--config-file", "mypy.ini", str(CHECKS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_files_pass_basedpyright() -> None:
    """Every check file type-checks under basedpyright, must-fail lines included."""
    result = run(basedpyright(), str(CHECKS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_reports_unused_ignores() -> None:
    """Canary: a needless ignore is an error under mypy, so must-fail lines cannot rot."""
    result = run(sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(CANARY))
    assert result.returncode == 1
    assert 'Unused "type: ignore" comment' in result.stdout


def test_basedpyright_reports_unused_ignores(tmp_path: Path) -> None:
    """Canary: a needless ignore is an error under basedpyright too, with our settings."""
    # The project's config excludes the canary folder, so check a copy from outside it.
    canary = tmp_path / "canary.py"
    canary.write_text(CANARY.read_text())
    result = run(basedpyright(), "--project", "pyproject.toml", str(canary))
    assert result.returncode == 1
    assert "reportUnnecessaryTypeIgnoreComment" in result.stdout
