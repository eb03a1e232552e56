"""Test doubles: a hub that records what is published on it."""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any

from typing_extensions import TypeVar

from .._hub import Hub, internal
from .._key import Key, is_subset
from .._retain import DEFAULT_MAX_RETAINED
from .._topic import Topic
from ..errors import PayloadValidationError

__all__ = ["MockHub", "RecordingHub"]

T = TypeVar("T", default=Any)


class RecordingHub(Hub):
    """A real :class:`Hub` (routing, validation, listeners) that also records every publish.

    ``published`` lists ``(key, message)`` pairs in order, after validation, and
    ``published_by_key`` groups the messages by key, as aiopubsub's ``MockHub`` did. The hub's
    own meta messages are recorded only with ``record_meta=True``.
    """

    def __init__(
        self,
        *,
        record_meta: bool = False,
        route_cache_size: int = 65_536,
        max_retained: int = DEFAULT_MAX_RETAINED,
    ) -> None:
        self.published: list[tuple[Key[Any], Any]] = []
        self.published_by_key: collections.defaultdict[Key[Any], list[Any]] = (
            collections.defaultdict(list)
        )
        self._record_meta = record_meta
        super().__init__(route_cache_size=route_cache_size, max_retained=max_retained)
        # Every delivery, however published (meta messages and bridges' included), is seen
        # here before its listeners get it: RecordingHub overrides nothing of Hub.
        internal(self).observe(self._record, meta=record_meta)

    def _record(self, key: Key[Any], message: Any) -> None:
        if self._record_meta or not (key and key[0] == "Hub"):
            plain = Key(*key)
            self.published.append((plain, message))
            self.published_by_key[plain].append(message)

    def messages(self, key: Key[T]) -> list[T]:
        """The recorded messages whose key matches ``key`` (a pattern), oldest first."""
        return [message for published, message in self.published if is_subset(published, key)]

    def count(self, key: Key[T], expected: T | Callable[[T], bool] | None = None) -> int:
        """How many recorded messages match ``key`` (a pattern) and ``expected``, if given.

        ``expected`` is a payload (compared with ``==``) or a predicate on the payload. Through
        a :class:`Topic` the recorded payloads are first converted as for its listeners (those
        invalid for it do not match).
        """
        return len(self._matching(key, expected))

    def assert_published(
        self,
        key: Key[T],
        expected: T | Callable[[T], bool] | None = None,
        *,
        times: int | None = None,
    ) -> None:
        """Fail unless a message matching ``key`` and ``expected`` was published (``times``)."""
        found = self.count(key, expected)
        if (found == 0 and times is None) or (times is not None and found != times):
            wanted = "at least once" if times is None else f"{times} time(s)"
            raise AssertionError(
                f"expected {self._describe(key, expected)} published {wanted}, got {found}; "
                f"{self._published_on(key)}"
            )

    def assert_not_published(
        self, key: Key[T], expected: T | Callable[[T], bool] | None = None
    ) -> None:
        """Fail if a message matching ``key`` (and ``expected``, if given) was published."""
        found = self.count(key, expected)
        if found:
            raise AssertionError(
                f"expected {self._describe(key, expected)} not published, got {found}; "
                f"{self._published_on(key)}"
            )

    def _matching(self, key: Key[T], expected: object) -> list[tuple[Key[Any], Any]]:
        found = [(k, m) for k, m in self.published if is_subset(k, key)]
        if isinstance(key, Topic):  # compare what a listener of the topic would receive
            converted: list[tuple[Key[Any], Any]] = []
            for k, m in found:
                try:
                    converted.append((k, key.validate(m)))
                except PayloadValidationError:
                    continue
            found = converted
        if expected is None:
            return found
        if callable(expected) and not isinstance(expected, type):
            return [(k, m) for k, m in found if expected(m)]
        return [(k, m) for k, m in found if m == expected]

    @staticmethod
    def _describe(key: Key[Any], expected: object) -> str:
        what = "a message" if expected is None else f"{expected!r}"
        return f"{what} on {tuple(key)!r}"

    def _published_on(self, key: Key[Any]) -> str:
        found = [(k, m) for k, m in self.published if is_subset(k, key)]
        if not found:
            return f"nothing was published on {tuple(key)!r}"
        lines = "".join(f"\n  {tuple(k)!r}: {m!r}" for k, m in found)
        return f"published on {tuple(key)!r}:{lines}"

    def clear(self, topic: Topic[Any] | None = None) -> bool:
        """Forget what was recorded; with a ``topic``, clear its retained value (``Hub.clear``).

        Returns whether something was recorded (or retained, with a topic).
        """
        if topic is not None:
            return super().clear(topic)
        found = bool(self.published)
        self.published.clear()
        self.published_by_key.clear()
        return found


MockHub = RecordingHub
"""aiopubsub's name for the test double."""
