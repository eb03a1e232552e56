"""Test doubles: a hub that records what is published on it."""

from __future__ import annotations

import collections
from typing import Any

from typing_extensions import TypeVar

from .._hub import Hub, _Route
from .._key import Key, is_subset
from .._topic import Validator

__all__ = ["MockHub", "RecordingHub"]

T = TypeVar("T", default=Any)


class RecordingHub(Hub):
    """A real :class:`Hub` (routing, validation, listeners) that also records every publish.

    ``published`` lists ``(key, message)`` pairs in order, after validation, and
    ``published_by_key`` groups the messages by key, as aiopubsub's ``MockHub`` did. The hub's
    own meta messages are recorded only with ``record_meta=True``.
    """

    def __init__(self, *, record_meta: bool = False, route_cache_size: int = 65_536) -> None:
        self.published: list[tuple[Key[Any], Any]] = []
        self.published_by_key: collections.defaultdict[Key[Any], list[Any]] = (
            collections.defaultdict(list)
        )
        self._record_meta = record_meta
        super().__init__(route_cache_size=route_cache_size)

    def _meta_wanted(self) -> bool:
        return self._record_meta or super()._meta_wanted()

    def publish(self, key: Key[T], message: T) -> None:
        route, validated, source = self._prepare(key, message)
        self._dispatch(route, key, validated, source, True)

    def _dispatch(
        self,
        route: _Route,
        key: Any,
        message: Any,
        source: Validator[Any] | None,
        raise_errors: bool,
    ) -> None:
        if self._record_meta or not (key and key[0] == "Hub"):
            plain = Key(*key)
            self.published.append((plain, message))
            self.published_by_key[plain].append(message)
        super()._dispatch(route, key, message, source, raise_errors)

    def messages(self, key: Key[T]) -> list[T]:
        """The recorded messages whose key matches ``key`` (a pattern), oldest first."""
        return [message for published, message in self.published if is_subset(published, key)]

    def clear(self) -> None:
        """Forget what was recorded."""
        self.published.clear()
        self.published_by_key.clear()


MockHub = RecordingHub
"""aiopubsub's name for the test double."""
