"""The public surface: __all__ of every public module, the CLI, and the built wheel."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import typedpubsub
from typedpubsub.__main__ import main

from .conftest import ROOT

PUBLIC_MODULES = [
    "typedpubsub",
    "typedpubsub.errors",
    "typedpubsub.nats",
    "typedpubsub.schema",
    "typedpubsub.telemetry",
    "typedpubsub.testing",
    "typedpubsub.testing.mocks",
    "typedpubsub.testing.natsserver",
    "typedpubsub.testing.pytest_plugin",
    "typedpubsub.utils",
]


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_lists_exactly_the_public_names(name: str) -> None:
    """__all__ names every public class, function and constant a module offers, and no more."""
    module = importlib.import_module(name)
    exported = set(module.__all__)
    for attr in exported:
        assert hasattr(module, attr), attr
    defined = {
        attr
        for attr, value in vars(module).items()
        if not attr.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and value.__module__.startswith(name)
    }
    assert defined <= exported
    if name == "typedpubsub":  # the facade: everything it holds is a deliberate re-export
        held = {
            attr
            for attr, value in vars(module).items()
            if not attr.startswith("_") and not inspect.ismodule(value)
        }
        assert held | {"errors", "utils", "__version__"} == exported


def test_errors_subclass_their_builtins() -> None:
    """Every error is a PubSubError and the builtin it refines."""
    from typedpubsub import errors

    assert issubclass(errors.InvalidKeyError, ValueError)
    assert issubclass(errors.PayloadValidationError, ValueError)
    assert issubclass(errors.KeyPartTypeError, TypeError)
    assert issubclass(errors.UnsupportedPayloadTypeError, TypeError)
    assert issubclass(errors.ClosedError, RuntimeError)
    assert issubclass(errors.ListenerNotFoundError, KeyError)
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.PubSubError)


def test_cli_version(capsys: pytest.CaptureFixture[str]) -> None:
    """--version prints the package version and whether this is the compiled build."""
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    compiled = "yes" if typedpubsub._compiled else "no"
    assert (
        capsys.readouterr().out == f"typedpubsub {typedpubsub.__version__} (compiled: {compiled})\n"
    )


def test_cli_help_through_python_m() -> None:
    """python -m typedpubsub --help describes the command."""
    result = subprocess.run(
        [sys.executable, "-m", "typedpubsub", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout.startswith("usage: typedpubsub")


def test_cli_without_a_command_through_python_m() -> None:
    """python -m typedpubsub alone prints usage on stderr and exits 2, as argparse errors do."""
    result = subprocess.run(
        [sys.executable, "-m", "typedpubsub"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("usage: typedpubsub")


def test_console_script_is_installed() -> None:
    """The typedpubsub console script runs."""
    script = Path(sys.executable).parent / "typedpubsub"
    result = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0
    compiled = "yes" if typedpubsub._compiled else "no"
    assert result.stdout.strip() == f"typedpubsub {typedpubsub.__version__} (compiled: {compiled})"


def test_wheel_ships_py_typed(tmp_path: Path) -> None:
    """The built wheel carries py.typed, so type checkers use the package's annotations."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("typedpubsub-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "typedpubsub/py.typed" in names
    assert not [n for n in names if n.startswith("tests/")]
