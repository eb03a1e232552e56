"""Static typing: the check files type-check under mypy --strict and basedpyright.

They are checked against the *built wheel* installed in a clean virtual environment (which proves
that ``py.typed`` and every public module ship), from a folder outside the source tree, so nothing
resolves to ``src/``. The check files hold must-fail lines with coded ignores; an ignore that is no
longer needed is an error under both checkers, which the canary proves.
"""

from __future__ import annotations

import configparser
import importlib
import json
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from .conftest import ROOT

if sys.version_info >= (3, 11):
    import tomllib

    load_toml = tomllib.loads
else:  # the test extra installs tomli before 3.11
    load_toml = importlib.import_module("tomli").loads

CHECKS = ROOT / "tests" / "typecheck"
CANARY = CHECKS / "canary" / "canary.py"


def run(*command: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
        check=False,
    )


def basedpyright() -> str:
    found = shutil.which("basedpyright", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("basedpyright is not installed: install the test extra")
    return found


def env_python(env: Path) -> Path:
    return env / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The wheel installed (with the nats and otel extras) in a clean venv, and the check files.

    Returns ``(folder, python)``: the folder holds ``tests/typecheck`` and the checkers' settings
    (taken from mypy.ini and pyproject.toml), ``python`` is the clean environment's interpreter.
    """
    base = tmp_path_factory.mktemp("wheel")
    built = run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", base / "dist", ROOT)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (base / "dist").glob("typedpubsub-*.whl")
    env = base / "venv"
    venv.create(env, with_pip=True)
    python = env_python(env)
    installed = run(python, "-m", "pip", "install", "-q", f"{wheel}[nats,otel]")
    assert installed.returncode == 0, installed.stdout + installed.stderr

    folder = base / "checks"
    shutil.copytree(CHECKS, folder / "tests" / "typecheck", ignore=shutil.ignore_patterns("canary"))
    (folder / "tests" / "__init__.py").write_text("")

    mypy_config = configparser.ConfigParser()
    mypy_config.read(ROOT / "mypy.ini")
    for option in ("files", "exclude", "mypy_path"):
        mypy_config.remove_option("mypy", option)
    mypy_config.set("mypy", "python_executable", str(python))
    with (folder / "mypy.ini").open("w") as f:
        mypy_config.write(f)

    pyright = dict(load_toml((ROOT / "pyproject.toml").read_text())["tool"]["basedpyright"])
    for option in ("include", "exclude", "stubPath"):
        pyright.pop(option, None)
    (folder / "pyrightconfig.json").write_text(json.dumps(pyright))
    return folder, python


def test_the_wheel_hides_the_source_tree(workspace: tuple[Path, Path]) -> None:
    """The clean environment imports typedpubsub from the wheel, with py.typed, not from src/."""
    folder, python = workspace
    found = run(python, "-c", "import typedpubsub; print(typedpubsub.__file__)", cwd=folder)
    assert found.returncode == 0, found.stderr
    location = Path(found.stdout.strip()).parent
    assert ROOT / "src" not in location.parents
    assert (location / "py.typed").exists()


def test_check_files_pass_mypy_strict(workspace: tuple[Path, Path]) -> None:
    """Every check file type-checks under mypy --strict against the wheel, must-fail lines included."""
    folder, _ = workspace
    result = run(
        sys.executable, "-m", "mypy", "--config-file", "mypy.ini", "tests/typecheck", cwd=folder
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_files_pass_basedpyright(workspace: tuple[Path, Path]) -> None:
    """Every check file type-checks under basedpyright against the wheel, must-fail lines included."""
    folder, python = workspace
    result = run(basedpyright(), "--pythonpath", python, "tests/typecheck", cwd=folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 errors" in result.stdout


def test_mypy_reports_unused_ignores() -> None:
    """Canary: a needless ignore is an error under mypy, so must-fail lines cannot rot."""
    result = run(sys.executable, "-m", "mypy", "--strict", "--no-incremental", CANARY)
    assert result.returncode == 1
    assert 'Unused "type: ignore" comment' in result.stdout


def test_basedpyright_reports_unused_ignores(tmp_path: Path) -> None:
    """Canary: a needless ignore is an error under basedpyright too, with our settings."""
    # The project's config excludes the canary folder, so check a copy from outside it.
    canary = tmp_path / "canary.py"
    canary.write_text(CANARY.read_text())
    result = run(basedpyright(), "--project", "pyproject.toml", canary)
    assert result.returncode == 1
    assert "reportUnnecessaryTypeIgnoreComment" in result.stdout
