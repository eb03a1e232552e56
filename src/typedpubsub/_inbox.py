"""Inbox: the per-listener queue between a synchronous publish and an asynchronous consumer."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal, Protocol, get_args

from ._describe import describe
from ._key import Key
from ._stats import Counters, ListenerStatistics
from .errors import ClosedError, QueueFullError

__all__ = ["Bounded", "Inbox", "OnDrop", "Overflow", "Room", "check_queue_options"]

Overflow = Literal["block", "drop_oldest", "drop_newest", "raise"]
"""What a bounded queue does with a message that finds it full.

``block``: ``apublish`` and ``publish_threadsafe`` wait for room (a plain ``publish`` raises
:class:`QueueFullError`); ``drop_oldest``: the oldest queued message is dropped;
``drop_newest``: the new message is dropped; ``raise``: the publisher gets
:class:`QueueFullError`. Every message a queue does not take is counted as dropped (not
delivered) and reported on ``MESSAGE_DROPPED``.
"""

OVERFLOW_POLICIES: tuple[str, ...] = get_args(Overflow)


OnDrop = Callable[[Any, str, str, int, bool], None]
"""``on_drop(key, listener, reason, count, refused)``: how an inbox reports what it drops."""


def check_queue_options(max_queue_size: object, overflow: object) -> None:
    """Refuse a queue bound or overflow policy that a listener, stream or queue cannot take."""
    if type(max_queue_size) is not int:
        raise TypeError(f"max_queue_size must be int, got {describe(max_queue_size)}")
    if max_queue_size < 0:
        raise ValueError(f"max_queue_size must be >= 0, got {max_queue_size}")
    if overflow not in OVERFLOW_POLICIES:
        raise ValueError(
            f"overflow must be one of {', '.join(OVERFLOW_POLICIES)}; got {overflow!r}"
        )


class Bounded(Protocol):
    """What the hub needs of a bounded queue it may wait for room in.

    An :class:`Inbox`, or the NATS bridge's send queue: a protocol, not ``Inbox``, so that the
    compiled build (which checks annotated native classes at run time) accepts both.
    """

    max_size: int

    def blocks(self) -> bool: ...

    async def wait_room(self, size: int) -> None: ...


class _Holder(Protocol):
    closing: bool

    def __len__(self) -> int: ...


class Room:
    """Tasks waiting for a queue to hold at most some number of messages.

    Shared by :class:`Inbox` and the NATS bridge's send queue: the queue calls :meth:`wake`
    whenever it shrinks or starts closing (a closing queue releases every waiter).
    """

    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    def __bool__(self) -> bool:
        return bool(self._waiters)

    async def wait(self, queue: _Holder, size: int) -> None:
        """Wait until ``queue`` holds at most ``size`` messages, or is closing."""
        while len(queue) > size and not queue.closing:
            waiter = asyncio.get_running_loop().create_future()
            entry = (size, waiter)
            self._waiters.append(entry)
            try:
                await waiter
            finally:
                if entry in self._waiters:
                    self._waiters.remove(entry)

    def wake(self, queue: _Holder) -> None:
        """Release the waiters whose size ``queue`` holds now (all of them if it is closing)."""
        if not self._waiters:
            return
        size = len(queue)
        remaining = []
        for limit, waiter in self._waiters:
            if size <= limit or queue.closing:
                if not waiter.done():
                    waiter.set_result(None)
            else:
                remaining.append((limit, waiter))
        self._waiters = remaining


class Inbox:
    """A FIFO of ``(key, message)`` with an optional bound and overflow policy.

    ``put`` is the callback the hub calls; it never awaits. One consumer awaits ``get`` (or
    takes ``items`` itself and calls :meth:`took`). The inbox owns its overflow policy, the
    waiting for room and its counters; what it drops it reports through ``on_drop``.
    """

    __slots__ = (
        "_on_drop",
        "_waiter",
        "closing",
        "counters",
        "items",
        "label",
        "max_size",
        "overflow",
        "room",
    )

    def __init__(
        self, label: str, on_drop: OnDrop, max_size: int = 0, overflow: Overflow = "block"
    ) -> None:
        self._on_drop = on_drop
        self.label = label
        self.items: collections.deque[tuple[Any, Any]] = collections.deque()
        self.max_size = max_size
        self.overflow = overflow
        self.counters = Counters()
        self.closing = False
        self._waiter: asyncio.Future[None] | None = None
        self.room = Room()

    def __len__(self) -> int:
        return len(self.items)

    def qsize(self) -> int:
        return len(self.items)

    def put(self, key: Any, message: Any) -> None:
        items = self.items
        if self.max_size and len(items) >= self.max_size:
            if self.overflow == "drop_newest":
                self._dropped(key, "drop_newest", 1, refused=True)
                return
            if self.overflow == "drop_oldest":
                old_key, _ = items.popleft()
                self._dropped(old_key, "drop_oldest", 1)
            elif self.overflow == "raise":
                self._dropped(key, "raise", 1, refused=True)
                raise QueueFullError(
                    f"queue of {self.label} is full (max_queue_size={self.max_size}, "
                    f"overflow='raise'); message on key {tuple(key)!r} was not queued for it",
                    tuple(key),
                    self.label,
                )
            else:
                self._dropped(key, "block", 1, refused=True)
                raise QueueFullError(
                    f"queue of {self.label} is full (max_queue_size={self.max_size}, "
                    f"overflow='block'); use 'await apublish(...)' to wait for room, "
                    f"message on key {tuple(key)!r} was not queued for it",
                    tuple(key),
                    self.label,
                )
        items.append((key, message))
        if len(items) > self.counters.peak:
            self.counters.peak = len(items)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _dropped(self, key: Any, reason: str, count: int, *, refused: bool = False) -> None:
        self.counters.dropped += count
        self._on_drop(key, self.label, reason, count, refused)

    def blocks(self) -> bool:
        """Whether a publish that must wait for room would wait on this inbox now."""
        return (
            bool(self.max_size)
            and self.overflow == "block"
            and len(self.items) >= self.max_size
            and not self.closing
        )

    async def wait_items(self) -> None:
        """Wait until a message is queued (or the inbox is told to stop)."""
        if self.items or self.closing:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        try:
            await waiter
        finally:
            if self._waiter is waiter:
                self._waiter = None

    def wake(self) -> None:
        """Wake the consumer waiting in :meth:`wait_items`."""
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def get(self) -> tuple[Any, Any]:
        while not self.items:
            if self.closing:
                raise ClosedError(f"{self.label} is closed")
            await self.wait_items()
        return self.pop()

    def pop(self) -> tuple[Any, Any]:
        item = self.items.popleft()
        if self.room:
            self.room.wake(self)
        return item

    async def wait_room(self, size: int) -> None:
        """Wait until at most ``size`` messages are queued (or the inbox is closing)."""
        await self.room.wait(self, size)

    def close(self) -> None:
        """Stop: the consumer ends once the queue is empty, and room waiters are released."""
        self.closing = True
        self.room.wake(self)
        self.wake()

    def discard_all(self, reason: str) -> int:
        """Drop every queued message, counting and reporting them, and close; return how many."""
        count = len(self.items)
        if count:
            first_key = self.items[0][0]
            self.items.clear()
            self._dropped(first_key, reason, count)
        self.close()
        return count

    def statistics(self, keys: Iterable[Sequence[str]]) -> ListenerStatistics:
        """A frozen snapshot of this queue's counters, for a listener on ``keys``."""
        counters = self.counters
        return ListenerStatistics(
            listener=self.label,
            keys=frozenset(Key(*k) for k in keys),
            queued=len(self.items),
            delivered=counters.delivered,
            dropped=counters.dropped,
            failed=counters.failed,
            peak_queue_size=counters.peak,
            max_queue_size=self.max_size,
        )
