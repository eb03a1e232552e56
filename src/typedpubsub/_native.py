"""The opt-in compiled build: which modules it compiles with mypyc, and whether this one did.

``COMPILED_MODULES`` is the one list: the build hook (``hatch_build.py``) compiles exactly these
when ``TYPEDPUBSUB_COMPILE=1``, and the test suite checks them when it expects a compiled build.
Keys and topics (tuple subclasses), errors, pydantic-touching code and ``testing`` stay
interpreted, and so do the publishers: the hub holds them weakly (native instances cannot be
weakly referenced), ``ThrottledPublisher`` checks its arguments' types itself (a compiled
signature would answer first, in mypyc's words), and neither is on a hot path. This module
imports nothing from the package, so the build hook can read it alone.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
from collections.abc import Callable
from typing import TypeVar

__all__ = ["COMPILED_MODULES", "is_compiled", "mypyc_attr", "native_modules"]

_C = TypeVar("_C")

try:
    from mypy_extensions import mypyc_attr
except ImportError:  # the pure-Python install needs no mypy_extensions: the decorator is a no-op

    def mypyc_attr(*attrs: str, **kwattrs: object) -> Callable[[_C], _C]:
        del attrs, kwattrs
        return lambda cls: cls


COMPILED_MODULES: tuple[str, ...] = (
    "typedpubsub._router",
    "typedpubsub._routing",
    "typedpubsub._stats",
    "typedpubsub._inbox",
    "typedpubsub._listener",
)


def native_modules() -> list[str]:
    """The modules of ``COMPILED_MODULES`` that import as native extensions here."""
    native = []
    for name in COMPILED_MODULES:
        spec = importlib.util.find_spec(name)
        if spec is not None and isinstance(spec.loader, importlib.machinery.ExtensionFileLoader):
            native.append(name)
    return native


def is_compiled() -> bool:
    """Whether this installation is the compiled build (every listed module native)."""
    return len(native_modules()) == len(COMPILED_MODULES)
