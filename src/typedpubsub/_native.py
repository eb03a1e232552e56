"""The opt-in compiled build: which modules it compiles with mypyc, and whether this one did.

``COMPILED_MODULES`` is the one list: the build hook (``hatch_build.py``) compiles exactly these
when ``TYPEDPUBSUB_COMPILE=1``, and the test suite checks them when it expects a compiled build.
What stays interpreted, and why: keys and topics (tuple subclasses), errors (they subclass
several builtins), pydantic-touching code (``_topic``; ``_meta``, whose TypedDict pydantic
refuses below Python 3.12 once compiled, as issue 11 reports) and ``testing``; and the public
classes (``Hub``, ``Subscriber``, ``Stream``, the publishers). Those check their arguments'
types themselves, which a compiled signature would pre-empt with mypyc's own message (and an
``int`` parameter would accept ``True``); ``Hub`` is subclassed by ``RecordingHub`` and by
users; the hub holds publishers weakly, and native instances cannot be weakly referenced.
``_routing`` (route cache, dispatch) stays interpreted while its hot caller ``Hub.publish``
is: CPython specialises attribute access on slotted instances, not on native ones, and
compiling it alone cut sync 1->1 from 0.48x to 0.33x the floor and real keys from 0.68x to
0.30x (benchmarks/run.py, one noisy run each). This module imports nothing from the package,
so the build hook can read it alone.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util

__all__ = ["COMPILED_MODULES", "is_compiled", "native_modules"]

COMPILED_MODULES: tuple[str, ...] = (
    "typedpubsub._router",
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
