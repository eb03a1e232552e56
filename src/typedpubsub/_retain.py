"""Retained topics: the last valid payload per concrete key, replayed to later subscribers.

The hub keeps a :class:`RetainedStore`; a publish through a ``Topic(..., retain=True)`` puts
its validated payload there at the moment it is dispatched, and a subscription through a
retained topic gets the matching values replayed (:func:`replay`) right after it is in place.
Both happen synchronously in the hub's loop thread, so each value reaches a new subscription
exactly once: from the replay if it was stored before the subscription, live otherwise.
"""

from __future__ import annotations

import collections
import operator
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ._describe import describe
from ._key import WILDCARD, is_subset
from ._topic import Topic

if TYPE_CHECKING:
    from ._router import Target
    from ._topic import Validator

__all__ = [
    "DEFAULT_MAX_RETAINED",
    "Retained",
    "RetainedStore",
    "check_max_retained",
    "is_retained",
    "replay",
]

DEFAULT_MAX_RETAINED = 10_000
"""Concrete keys a hub retains a value for at most, by default."""


def check_max_retained(value: object) -> int:
    if type(value) is not int:
        raise TypeError(f"max_retained must be int, got {describe(value)}")
    if value < 1:
        raise ValueError(f"max_retained must be >= 1, got {value}")
    return value


def is_retained(key: object) -> bool:
    """Whether ``key`` is a topic whose publishes are retained."""
    return isinstance(key, Topic) and key.retain


class Retained:
    """One retained value: the key it was published on, the payload, its validator, its rank."""

    __slots__ = ("key", "message", "seq", "source")

    def __init__(self, key: Any, message: Any, source: Validator[Any], seq: int) -> None:
        self.key = key
        self.message = message
        self.source = source
        self.seq = seq


class RetainedStore:
    """The last value per concrete key, least recently published first, at most ``max_size``.

    ``seq`` numbers the puts: a subscription notes it before it is added, and a value with a
    higher number was published while the subscription was in place (so it got it live).
    ``on_clear`` holds the callbacks told of each :meth:`Hub.clear` (the bridges' tombstones).
    """

    __slots__ = ("entries", "max_size", "on_clear", "seq")

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self.entries: collections.OrderedDict[tuple[str, ...], Retained] = collections.OrderedDict()
        self.seq = 0
        self.on_clear: list[Callable[[Any], None]] = []

    def __len__(self) -> int:
        return len(self.entries)

    def put(self, key: Any, message: Any, source: Validator[Any]) -> None:
        entries = self.entries
        self.seq += 1
        entries[key] = Retained(key, message, source, self.seq)
        # Least recently published last to go: a key published again moves to the end.
        entries.move_to_end(key)
        if len(entries) > self.max_size:
            entries.popitem(last=False)

    def get(self, key: tuple[str, ...]) -> Retained | None:
        return self.entries.get(key)

    def clear(self, key: tuple[str, ...]) -> bool:
        return self.entries.pop(key, None) is not None

    def matching(self, patterns: Sequence[tuple[str, ...]]) -> list[Retained]:
        """The values whose key one of ``patterns`` matches, in publish order (a snapshot)."""
        entries = self.entries
        if not entries:
            return []
        if all(WILDCARD not in pattern for pattern in patterns):
            found = [entry for p in set(patterns) if (entry := entries.get(p)) is not None]
            return sorted(found, key=lambda entry: entry.seq)
        if len(patterns) == 1:
            matches = _matcher(patterns[0])
            return [entry for key, entry in entries.items() if matches(key)]
        matchers = [_matcher(pattern) for pattern in patterns]
        return [entry for key, entry in entries.items() if any(m(key) for m in matchers)]


def _matcher(pattern: tuple[str, ...]) -> Callable[[tuple[str, ...]], bool]:
    """``is_subset(key, pattern)`` for one pattern, compiled: a replay tests every retained key.

    Comparing the fixed parts with one ``itemgetter`` call (in C) made the retained-subscribe
    benchmark (a wildcard over 10,000 keys) about 3x faster than ``is_subset`` per key.
    """
    size = len(pattern)
    deeper = pattern[-1] == WILDCARD
    fixed = [i for i, part in enumerate(pattern) if part != WILDCARD]
    if not fixed:
        if deeper:
            return lambda key: len(key) >= size
        return lambda key: len(key) == size
    get = operator.itemgetter(*fixed)
    want = get(pattern)
    if deeper:
        return lambda key: len(key) >= size and get(key) == want
    return lambda key: len(key) == size and get(key) == want


def replay(
    store: RetainedStore,
    added: Sequence[tuple[Target, int]],
    deliver: Callable[[Target, Any, Any, Any], None],
    others: Sequence[tuple[str, ...]] = (),
) -> None:
    """Give a new subscription the retained values its retained topics match, oldest first.

    ``added`` pairs each target the subscription added with ``store.seq`` noted just before it
    was added. A value is replayed only if no target of the subscription that matches its key
    was in place when it was published (else it arrived live), if none of ``others`` (the
    callback's earlier patterns) matches it, and only if it is still the retained value of its
    key when its turn comes (a sync listener may publish or clear meanwhile: a newer value
    arrives live, a cleared one is gone).
    """
    retained = [target.key for target, _ in added if is_retained(target.key)]
    if not retained:
        return
    current = store.entries.get
    if len(added) == 1 and not others:  # one pattern: the common case, without the checks
        ((target, mark),) = added
        for entry in store.matching(retained):
            if entry.seq <= mark and current(entry.key) is entry:
                deliver(target, entry.key, entry.message, entry.source)
        return
    for entry in store.matching(retained):
        key = entry.key
        if others and any(is_subset(key, pattern) for pattern in others):
            continue
        chosen: Target | None = None
        for target, mark in added:
            if not is_subset(key, target.key):
                continue
            if mark >= entry.seq:
                if chosen is None and is_retained(target.key):
                    chosen = target
            else:  # in place when the value was published: it got it live
                chosen = None
                break
        if chosen is not None and current(key) is entry:
            deliver(chosen, key, entry.message, entry.source)
