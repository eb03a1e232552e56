"""The opt-in compiled build: which build is in use, and that the default build stays pure Python.

With ``TYPEDPUBSUB_EXPECT_COMPILED=1`` (the compiled run of ``.ci/run``) every module listed in
``typedpubsub._native.COMPILED_MODULES`` must import as a native extension; run from the source
tree (the editable install) none may.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.machinery
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import typedpubsub
from typedpubsub import Hub, Key
from typedpubsub._hub import internal
from typedpubsub._inbox import check_queue_options
from typedpubsub._native import COMPILED_MODULES, is_compiled, native_modules

from .conftest import ROOT

EXPECT_COMPILED = os.environ.get("TYPEDPUBSUB_EXPECT_COMPILED") == "1"
FROM_SOURCE = ROOT / "src" in Path(typedpubsub.__file__).resolve().parents


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "TYPEDPUBSUB_COMPILE"}
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**environ, **env},
        timeout=120,
        check=False,
    )


@pytest.mark.skipif(not EXPECT_COMPILED, reason="TYPEDPUBSUB_EXPECT_COMPILED=1 is not set")
@pytest.mark.parametrize("name", COMPILED_MODULES)
def test_listed_module_is_native(name: str) -> None:
    """In the compiled run each listed module is a native extension of the installed package."""
    module = importlib.import_module(name)
    assert module.__file__ is not None
    assert module.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    assert not FROM_SOURCE, f"imported from the source tree: {module.__file__}"


@pytest.mark.skipif(not EXPECT_COMPILED, reason="TYPEDPUBSUB_EXPECT_COMPILED=1 is not set")
def test_compiled_build_says_so() -> None:
    """The compiled build reports itself in typedpubsub._compiled and in --version."""
    assert typedpubsub._compiled is True
    assert is_compiled()
    result = run_python("from typedpubsub.__main__ import main; main(['--version'])")
    assert result.stdout.endswith("(compiled: yes)\n"), result.stderr


@pytest.mark.skipif(not FROM_SOURCE, reason="runs against an installed build, not src/")
def test_source_tree_is_pure_python() -> None:
    """Imported from src/ nothing is native: a stray extension there would shadow the sources."""
    assert native_modules() == []
    assert typedpubsub._compiled is False
    assert not [p.name for p in (ROOT / "src").rglob("*") if p.suffix in (".so", ".pyd")]


def test_build_requirements_depend_on_the_variable() -> None:
    """Without TYPEDPUBSUB_COMPILE the build asks for no mypy; with it, for a pinned mypyc."""
    code = (
        "from hatchling.builders.wheel import WheelBuilder; "
        "print(WheelBuilder('.').config.dependencies)"
    )
    default = run_python(code)
    assert default.returncode == 0, default.stderr
    assert "mypy" not in default.stdout
    off = run_python(code, TYPEDPUBSUB_COMPILE="0")
    assert off.stdout == default.stdout, off.stderr
    on = run_python(code, TYPEDPUBSUB_COMPILE="1")
    assert "'mypy[mypyc]==" in on.stdout, on.stderr
    assert "'pydantic" in on.stdout


def test_build_refuses_an_unclear_variable() -> None:
    """TYPEDPUBSUB_COMPILE takes 0 or 1; any other value stops the build with our message."""
    code = (
        "from hatchling.builders.wheel import WheelBuilder; WheelBuilder('.').config.dependencies"
    )
    result = run_python(code, TYPEDPUBSUB_COMPILE="yes")
    assert result.returncode != 0
    assert "ValueError: TYPEDPUBSUB_COMPILE must be 0 or 1, got 'yes'" in result.stderr


def test_default_wheel_is_pure_python(tmp_path: Path) -> None:
    """A plain wheel build is pure Python: a py3-none-any wheel without extension modules."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "TYPEDPUBSUB_COMPILE"},
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("typedpubsub-*.whl")
    assert wheel.name.endswith("-py3-none-any.whl")
    assert not [
        n
        for n in zipfile.ZipFile(wheel).namelist()
        if not n.endswith((".py", ".typed")) and "dist-info" not in n
    ]


@given(st.one_of(st.booleans(), st.text(), st.floats(), st.none(), st.lists(st.integers())))
def test_queue_size_type_check_keeps_our_message(value: object) -> None:
    """A compiled module answers a wrong type with our message, not mypyc's, and refuses bool."""
    with pytest.raises(TypeError, match=r"^max_queue_size must be int, got "):
        check_queue_options(value, "block")


@given(st.integers(min_value=0), st.text())
def test_overflow_value_check_keeps_our_message(size: int, overflow: str) -> None:
    """A compiled module answers an unknown overflow policy with our message."""
    if overflow in ("block", "drop_oldest", "drop_newest", "raise"):
        check_queue_options(size, overflow)
        return
    with pytest.raises(ValueError, match=r"^overflow must be one of block, drop_oldest, "):
        check_queue_options(size, overflow)


class _SendQueue:
    """A bounded queue that is not an Inbox, shaped like the NATS bridge's send queue."""

    def __init__(self) -> None:
        self.max_size = 1
        self.items: list[object] = []

    def __call__(self, key: object, message: object) -> None:
        self.items.append(message)

    def blocks(self) -> bool:
        return len(self.items) >= self.max_size

    async def wait_room(self, size: int) -> None:
        while len(self.items) > size:
            self.items.pop(0)
            await asyncio.sleep(0)


async def test_a_bounded_queue_need_not_be_an_inbox() -> None:
    """The compiled routing accepts any bounded queue as a target's inbox, as the bridge's is."""
    hub = Hub()
    queue = _SendQueue()
    assert internal(hub).subscribe(Key("a"), queue, inbox=queue)
    await asyncio.wait_for(hub.apublish(Key("a"), 1), 1)
    await asyncio.wait_for(hub.apublish(Key("a"), 2), 1)
    assert queue.items == [2]
