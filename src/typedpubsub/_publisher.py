"""Publishers: a key prefix in front of a hub, and throttled (backpressured) publishing."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from typing_extensions import TypeVar

from ._describe import describe
from ._hub import Hub, internal
from ._key import Key, PossibleKey, TupleKey
from ._request import DEFAULT_TIMEOUT, RequestTopic
from ._topic import Topic

__all__ = ["Publisher", "ThrottledPublisher"]

T = TypeVar("T", default=Any)
Req = TypeVar("Req", default=Any)
Resp = TypeVar("Resp", default=Any)

_FULL_KEY_CACHE = 4096


class Publisher:
    """Publishes on a hub under a key prefix: ``publish(key, m)`` publishes on ``prefix + key``."""

    def __init__(self, hub: Hub, prefix: PossibleKey) -> None:
        if not isinstance(hub, Hub):
            raise TypeError(f"hub must be a typedpubsub Hub, got {describe(hub)}")
        self._hub = hub
        self.prefix: Key[Any] = Key.create_from(prefix)
        self._full_keys: dict[tuple[object, object], Key[Any]] = {}
        internal(hub).add_publisher(self)

    def full_key(self, key: Key[T] | str | TupleKey) -> Key[T]:
        """``prefix + key``; a :class:`Topic` stays a topic of the same payload type."""
        # Topics equal plain keys of the same parts, so the cache tells them apart by validator.
        cache_key = (key, key._validator if isinstance(key, Topic) else None)
        try:
            return self._full_keys[cache_key]
        except KeyError:
            pass
        except TypeError:  # an unhashable iterable of parts: no caching
            return self.prefix + Key.create_from(key)
        full = self.prefix + (key if isinstance(key, Topic) else Key.create_from(key))
        if len(self._full_keys) >= _FULL_KEY_CACHE:
            self._full_keys.clear()
        self._full_keys[cache_key] = full
        return full

    def publish(self, key: Key[T] | str | TupleKey, message: T) -> None:
        """Publish ``message`` on ``prefix + key`` (a str key is one part)."""
        self._hub.publish(self.full_key(key), message)

    async def apublish(self, key: Key[T] | str | TupleKey, message: T) -> None:
        """Like :meth:`publish`, waiting for room in bounded ``block`` queues first."""
        await self._hub.apublish(self.full_key(key), message)

    async def request(
        self,
        topic: RequestTopic[Req, Resp],
        payload: Req,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> Resp:
        """Like :meth:`Hub.request`, on ``prefix + topic``."""
        if not isinstance(topic, RequestTopic):
            raise TypeError(f"topic must be a RequestTopic, got {describe(topic)}")
        # Not through full_key's cache, which tells topics apart by request type only.
        return await self._hub.request(self.prefix + topic, payload, timeout=timeout)

    def has_subscribers(self, key: Key[Any] | str | TupleKey = Key("*")) -> bool:  # noqa: B008 - immutable
        """Whether a publish on ``prefix + key`` would reach a listener (``'*'``: any key)."""
        return self._hub.has_subscribers(self.full_key(key))

    def __repr__(self) -> str:
        return f"<Publisher prefix={tuple(self.prefix)!r}>"


class ThrottledPublisher:
    """Publishes, then waits until the queues the message reached hold at most ``max_qsize``.

    aiopubsub's backpressure utility with the same constructor. Instead of polling with the
    delays of ``delay_sequence_factory`` it wakes up as soon as a consumer makes room, so that
    argument is accepted for compatibility and ignored.
    """

    def __init__(
        self,
        hub: Hub,
        publisher: Publisher,
        max_qsize: int,
        delay_sequence_factory: Callable[[], Iterable[float]] | None = None,
    ) -> None:
        if type(max_qsize) is not int:
            raise TypeError(f"max_qsize must be int, got {describe(max_qsize)}")
        if max_qsize < 0:
            raise ValueError(f"max_qsize must be >= 0, got {max_qsize}")
        self._hub = hub
        self._publisher = publisher
        self._max_qsize = max_qsize
        del delay_sequence_factory

    async def publish(self, key: Key[T] | str | TupleKey, message: T) -> None:
        """Publish on ``prefix + key``, then wait for the reached queues to shrink to max_qsize."""
        full_key = self._publisher.full_key(key)
        self._hub.publish(full_key, message)
        for target in internal(self._hub).targets(full_key):
            inbox = target.inbox
            if inbox is not None and len(inbox.items) > self._max_qsize:
                await inbox.wait_room(self._max_qsize)
