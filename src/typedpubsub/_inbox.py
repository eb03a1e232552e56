"""Inbox: the per-listener queue between a synchronous publish and an asynchronous consumer."""

from __future__ import annotations

import asyncio
import collections
from typing import TYPE_CHECKING, Any, Literal, get_args

from ._key import _describe
from ._stats import Counters
from .errors import ClosedError, QueueFullError

if TYPE_CHECKING:
    from ._hub import Hub

__all__ = ["Inbox", "Overflow", "check_queue_options"]

Overflow = Literal["block", "drop_oldest", "drop_newest", "raise"]
"""What a bounded queue does with a message that finds it full.

``block``: ``apublish`` and ``publish_threadsafe`` wait for room (a plain ``publish`` raises
:class:`QueueFullError`); ``drop_oldest``: the oldest queued message is dropped;
``drop_newest``: the new message is dropped; ``raise``: the publisher gets
:class:`QueueFullError`. Every message a queue does not take is counted as dropped (not
delivered) and reported on ``MESSAGE_DROPPED``.
"""

OVERFLOW_POLICIES: tuple[str, ...] = get_args(Overflow)


def check_queue_options(max_queue_size: object, overflow: object) -> None:
    if type(max_queue_size) is not int:
        raise TypeError(f"max_queue_size must be int, got {_describe(max_queue_size)}")
    if max_queue_size < 0:
        raise ValueError(f"max_queue_size must be >= 0, got {max_queue_size}")
    if overflow not in OVERFLOW_POLICIES:
        raise ValueError(
            f"overflow must be one of {', '.join(OVERFLOW_POLICIES)}; got {overflow!r}"
        )


class Inbox:
    """A FIFO of ``(key, message)`` with an optional bound and overflow policy.

    ``put`` is the callback the hub calls; it never awaits. One consumer awaits ``get``.
    """

    __slots__ = (
        "_hub",
        "_room_waiters",
        "_waiter",
        "closing",
        "counters",
        "items",
        "label",
        "max_size",
        "overflow",
    )

    def __init__(
        self, hub: Hub, label: str, max_size: int = 0, overflow: Overflow = "block"
    ) -> None:
        self._hub = hub
        self.label = label
        self.items: collections.deque[tuple[Any, Any]] = collections.deque()
        self.max_size = max_size
        self.overflow = overflow
        self.counters = Counters()
        self.closing = False
        self._waiter: asyncio.Future[None] | None = None
        self._room_waiters: list[tuple[int, asyncio.Future[None]]] = []

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
        self._hub._report_drop(key, self.label, reason, count, refused=refused)

    def blocks(self) -> bool:
        """Whether a publish that must wait for room would wait on this inbox now."""
        return bool(self.max_size) and self.overflow == "block" and len(self.items) >= self.max_size

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
        item = self.items.popleft()
        if self._room_waiters:
            self.wake_room()
        return item

    def pop(self) -> tuple[Any, Any]:
        item = self.items.popleft()
        if self._room_waiters:
            self.wake_room()
        return item

    async def wait_room(self, size: int) -> None:
        """Wait until at most ``size`` messages are queued."""
        while len(self.items) > size and not self.closing:
            waiter = asyncio.get_running_loop().create_future()
            entry = (size, waiter)
            self._room_waiters.append(entry)
            try:
                await waiter
            finally:
                if entry in self._room_waiters:
                    self._room_waiters.remove(entry)

    def wake_room(self) -> None:
        size = len(self.items)
        remaining = []
        for limit, waiter in self._room_waiters:
            if size <= limit or self.closing:
                if not waiter.done():
                    waiter.set_result(None)
            else:
                remaining.append((limit, waiter))
        self._room_waiters = remaining

    def discard_all(self, reason: str) -> int:
        """Drop every queued message, counting and reporting them; return how many."""
        count = len(self.items)
        if count:
            first_key = self.items[0][0]
            self.items.clear()
            self._dropped(first_key, reason, count)
        self.closing = True
        self.wake_room()
        self.wake()
        return count
