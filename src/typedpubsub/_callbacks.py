"""Checks on callbacks at registration: sync or async, and whether they take the topic's type."""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Annotated, Any, TypeVar, Union, cast, get_args, get_origin

from ._describe import callback_label
from ._topic import Topic, type_name

__all__ = [
    "check_listener_types",
    "check_plain",
    "check_reply_type",
    "check_result",
    "is_async_callable",
]

_UNKNOWN = object()
# int is acceptable where float is expected, and both where complex is (PEP 484).
_PROMOTIONS: dict[object, tuple[type, ...]] = {float: (int,), complex: (int, float)}


def is_async_callable(obj: object) -> bool:
    while isinstance(obj, functools.partial):
        obj = obj.func
    if inspect.iscoroutinefunction(obj):
        return True
    call = getattr(type(obj), "__call__", None)  # noqa: B004 - a class's __call__, not callable()
    return not inspect.isfunction(obj) and inspect.iscoroutinefunction(call)


def check_plain(callback: object, hint: str) -> None:
    """Refuse an async callable where a plain function is called; ``hint``: what to use."""
    if is_async_callable(callback):
        raise TypeError(
            f"callback must be a plain function, got async {callback_label(callback)}; {hint}"
        )


def check_result(result: object) -> None:
    """Refuse what a sync callback returned if it is a coroutine, which would never run."""
    if isinstance(result, Coroutine):
        result.close()  # no "never awaited" warning: the failure is reported instead
        raise TypeError(
            "listener returned a coroutine, which was not awaited: "
            "register async callbacks with add_async_listener"
        )


def _message_parameter(callback: object) -> tuple[str, Any] | None:
    """The name and resolved annotation of the callback's message parameter, if knowable."""
    try:
        signature = inspect.signature(cast("Callable[..., object]", callback), eval_str=True)
    except Exception:  # unresolvable annotations, builtins without a signature: no check
        return None
    positional = [
        p
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    if len(positional) < 2 or positional[1].kind is inspect.Parameter.VAR_POSITIONAL:
        return None
    parameter = positional[1]
    if parameter.annotation is inspect.Parameter.empty:
        return None
    return parameter.name, parameter.annotation


def _is_union(tp: object) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def _accepts(annotation: Any, payload_type: Any) -> bool:
    """Whether a parameter annotated ``annotation`` may take every ``payload_type`` value.

    Only a clear contradiction between classes is ``False``; whatever cannot be decided here
    (protocols, TypedDicts, literals, type variables) is accepted.
    """
    if annotation is Any or annotation is object or annotation == payload_type:
        return True
    if get_origin(annotation) is Annotated:
        return _accepts(get_args(annotation)[0], payload_type)
    if get_origin(payload_type) is Annotated:
        return _accepts(annotation, get_args(payload_type)[0])
    if _is_union(payload_type):
        return all(_accepts(annotation, member) for member in get_args(payload_type))
    if _is_union(annotation):
        return any(_accepts(member, payload_type) for member in get_args(annotation))
    if isinstance(annotation, TypeVar):
        return True
    expected = get_origin(annotation) or annotation
    given = get_origin(payload_type) or payload_type
    if not isinstance(expected, type) or not isinstance(given, type):
        return True
    if given in _PROMOTIONS.get(expected, ()):
        return True
    try:
        if not issubclass(given, expected):
            return False
    except TypeError:  # TypedDicts and non-runtime protocols refuse class checks
        return True
    # list[str] for list[Point]: compare the type arguments pairwise when their shapes match.
    taken, sent = get_args(annotation), get_args(payload_type)
    if not taken or len(taken) != len(sent) or Ellipsis in taken or Ellipsis in sent:
        return True
    return all(_accepts(a, p) for a, p in zip(taken, sent, strict=True))


def check_listener_types(callback: object, keys: Iterable[object]) -> None:
    """Raise ``TypeError`` if ``callback``'s message annotation contradicts a topic's type."""
    topics = [key for key in keys if isinstance(key, Topic)]
    if not topics:
        return
    found = _message_parameter(callback)
    if found is None:
        return
    name, annotation = found
    for topic in sorted(topics):
        payload_type = topic.payload_type
        if not _accepts(annotation, payload_type):
            raise TypeError(
                f"callback {callback_label(callback)} takes {name}: {type_name(annotation)}, "
                f"but topic {topic!r} delivers {type_name(payload_type)}; "
                "annotate it with that type or a supertype"
            )


def check_reply_type(callback: object, response_type: Any, topic: object) -> None:
    """Raise ``TypeError`` if ``callback``'s return annotation is no ``response_type``."""
    try:
        signature = inspect.signature(cast("Callable[..., object]", callback), eval_str=True)
    except Exception:  # unresolvable annotations, builtins without a signature: no check
        return
    returned = signature.return_annotation
    if returned is inspect.Signature.empty or returned is Any:
        return
    if returned is None:
        returned = type(None)
    if get_origin(returned) in _AWAITABLES and not is_async_callable(callback):
        return  # a plain function returning an awaitable: the checkers judge it
    if not _accepts(response_type, returned):
        raise TypeError(
            f"callback {callback_label(callback)} returns {type_name(returned)}, "
            f"but topic {topic!r} replies with {type_name(response_type)}; "
            "return that type or a subtype"
        )


_AWAITABLES = frozenset({Coroutine, Awaitable})
