"""Streams: a subscription read as an async iterator of ``(key, message)``."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Generic

from typing_extensions import Self, TypeVar

from ._key import Key
from ._stats import ListenerStatistics

if TYPE_CHECKING:
    from ._hub import HubCore
    from ._inbox import Inbox

__all__ = ["Stream"]

T = TypeVar("T", default=Any)


def _close_stream(core: HubCore, keys: frozenset[Key[Any]], inbox: Inbox) -> None:
    for key in keys:
        core.unsubscribe(key, inbox.put)
    inbox.discard_all("closed")


class Stream(Generic[T]):
    """An async iterator of ``(key, message)`` from :meth:`Subscriber.stream`.

    Subscribed from creation until :meth:`close` or :meth:`aclose`; an async context manager.
    Messages still queued when it closes are dropped and reported. A stream collected while
    subscribed (``async for ... in subscriber.stream(k): break`` without ``async with``) is
    closed then, with a ``ResourceWarning``.
    """

    def __init__(self, core: HubCore, keys: frozenset[Key[Any]], inbox: Inbox) -> None:
        self._core = core
        self._keys = keys
        self._inbox = inbox
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def __aiter__(self) -> AsyncIterator[tuple[Key, T]]:
        return self

    async def __anext__(self) -> tuple[Key, T]:
        inbox = self._inbox
        while not inbox.items:
            if self._closed:
                raise StopAsyncIteration
            await inbox.wait_items()
        inbox.counters.delivered += 1
        return inbox.pop()

    def close(self) -> None:
        """Unsubscribe now; iteration ends once the queue is empty. Idempotent."""
        if self._closed:
            return
        self._closed = True
        _close_stream(self._core, self._keys, self._inbox)

    async def aclose(self) -> None:
        """Unsubscribe; iteration ends (:meth:`close`, awaitable). Idempotent."""
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_closed", True):
            return
        # Collection may run in any thread; the hub's state belongs to its loop's thread.
        self._core.call_in_loop(_close_stream, self._core, self._keys, self._inbox)
        warnings.warn(
            f"{self._inbox.label} was garbage collected while subscribed and is now closed; "
            "use 'async with subscriber.stream(...)' or call close()",
            ResourceWarning,
            source=self,
            stacklevel=1,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def statistics(self) -> ListenerStatistics:
        """A frozen snapshot of this stream's counters."""
        return self._inbox.statistics(self._keys)
