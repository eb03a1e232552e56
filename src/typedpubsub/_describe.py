"""How values, callbacks and keys are written in error messages: one wording per error."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["callback_label", "describe", "keys_text"]


def describe(value: object) -> str:
    """``value`` as an error message shows a wrong argument: its repr and its type's name."""
    return f"{value!r} ({type(value).__name__})"


def callback_label(callback: object) -> str:
    """A callback's qualified name (its class's, for a callable object)."""
    name = getattr(callback, "__qualname__", None) or type(callback).__qualname__
    return str(name)


def keys_text(keys: Iterable[Sequence[str]]) -> str:
    """Key patterns as plain tuples, sorted, comma-separated."""
    return ", ".join(repr(tuple(k)) for k in sorted(tuple(k) for k in keys))
