"""What the command line exports: a module or an attribute of one, and the topics it holds.

Also what ``schema.compatibility`` reads topics from; ``typedpubsub.schema`` re-exports both
functions, where they were first documented.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable, Mapping
from typing import Any

from ._hub import Hub, topology
from ._meta import META_TOPICS
from ._topic import Topic

__all__ = ["collect_topics", "load_target"]


def collect_topics(target: object) -> dict[str, Topic[Any]]:
    """The topics of a module (its module-level Topic objects), or of an object: a topic, a
    mapping or collection of topics, an object with a ``topics`` attribute, or a live Hub."""
    # Imported here: typedpubsub.schema, which this import loads first, re-exports this module.
    from .schema._jsonschema import topic_names

    if inspect.ismodule(target):
        return topic_names(
            {name: value for name, value in vars(target).items() if isinstance(value, Topic)}
        )
    if isinstance(target, Topic):
        return topic_names(target)
    if isinstance(target, Hub):
        topics = [key for key, _ in topology(target).subscriptions if isinstance(key, Topic)]
        return topic_names([t for t in topics if t not in META_TOPICS])
    if isinstance(target, Mapping):
        return topic_names({str(k): v for k, v in target.items() if isinstance(v, Topic)})
    inner = getattr(target, "topics", None)
    if inner is not None and not callable(inner):
        return collect_topics(inner)
    if isinstance(target, Iterable) and not isinstance(target, str | bytes):
        return topic_names([t for t in target if isinstance(t, Topic)])
    raise TypeError(f"cannot collect topics from {target!r}")


def load_target(spec: str) -> object:
    """Import ``MODULE`` or ``MODULE:ATTR`` (ATTR may be dotted). Raises LookupError with a
    one-line reason."""
    module_name, _, attr = spec.partition(":")
    try:
        target: object = importlib.import_module(module_name)
    except ImportError as exc:
        raise LookupError(f"cannot import module {module_name!r}: {exc}") from None
    for part in attr.split(".") if attr else []:
        try:
            target = getattr(target, part)
        except AttributeError:
            raise LookupError(f"module {module_name!r} has no attribute {attr!r}") from None
    return target
