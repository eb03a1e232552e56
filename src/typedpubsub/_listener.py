"""Listeners: a callback on keys; an async one owns an inbox and the task that consumes it.

This module owns the consumer task's lifecycle: ``start`` it, ``drain`` (let it finish what
is queued, then stop), ``abort`` (drop what is queued and cancel it).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from ._describe import keys_text
from ._key import Key
from ._stats import Counters, ListenerStatistics

if TYPE_CHECKING:
    from ._hub import HubCore
    from ._inbox import Inbox
    from ._telemetry import Queued

__all__ = ["Listener", "drain"]

logger = logging.getLogger("typedpubsub")


class Listener:
    """A callback attached to keys; async ones own an inbox and a consumer task.

    ``deliver`` is what the hub calls: the callback itself (sync), or the inbox's ``put``.
    ``on_lost`` is called if the task is cancelled or killed by someone else.
    """

    __slots__ = (
        "callback",
        "deliver",
        "finished",
        "inbox",
        "keys",
        "label",
        "on_lost",
        "stats",
        "stopping",
        "task",
    )

    def __init__(
        self,
        keys: frozenset[Key[Any]],
        callback: Callable[..., Any],
        deliver: Callable[[Any, Any], object],
        inbox: Inbox | None,
        stats: Counters,
        label: str,
    ) -> None:
        self.keys = keys
        self.callback = callback
        self.deliver = deliver
        self.inbox = inbox
        self.stats = stats
        self.label = label
        self.task: asyncio.Task[None] | None = None
        self.stopping = False
        self.on_lost: Callable[[Listener], None] | None = None
        # Set when the task ends, if a removal waits for it (see drain).
        self.finished: asyncio.Future[None] | None = None

    def statistics(self, core: HubCore) -> ListenerStatistics:
        """A frozen snapshot of this listener's counters."""
        inbox = self.inbox
        if inbox is not None:
            return inbox.statistics(self.keys)
        # sync: counted by the hub's routes, failures included
        delivered = self.stats.delivered + core.live_hits(self.stats) - self.stats.failed
        return ListenerStatistics(
            listener=self.label,
            keys=frozenset(Key(*k) for k in self.keys),
            queued=0,
            delivered=delivered,
            dropped=self.stats.dropped,
            failed=self.stats.failed,
            peak_queue_size=self.stats.peak,
            max_queue_size=0,
        )

    def start(self, core: HubCore, on_lost: Callable[[Listener], None]) -> None:
        """Start the task that consumes the inbox (an async listener's)."""
        self.on_lost = on_lost
        self.task = asyncio.get_running_loop().create_task(
            self._consume(core), name=f"typedpubsub listener {self.label} on {keys_text(self.keys)}"
        )
        self.task.add_done_callback(self._done)

    async def _consume(self, core: HubCore) -> None:
        inbox = self.inbox
        assert inbox is not None
        # deque[Any], not the inbox's deque[tuple[Any, Any]]: compiled (mypyc), a popped
        # fixed-size tuple is unboxed and boxed anew, and a traced item (a tuple subclass,
        # telemetry's Queued) would lose its class.
        items: collections.deque[Any] = inbox.items
        room = inbox.room
        callback = self.callback
        counters = self.stats
        reporter = core.reporter
        try:
            # Yield once first: listeners that were already waiting were woken, in publish
            # order, by messages queued before this task's first step, and should run before it.
            await asyncio.sleep(0)
            while True:
                if not items:
                    if inbox.closing:
                        return
                    await inbox.wait_items()
                    continue
                item = items.popleft()
                key, message = item
                if room:
                    room.wake(inbox)
                try:
                    if type(item) is tuple:
                        await callback(key, message)
                    else:  # queued by a hub given to telemetry.instrument: traced with its context
                        await cast("Queued", item).process(callback)
                except Exception as exc:
                    counters.failed += 1
                    reporter.listener_error(key, self.label, exc)
                else:
                    counters.delivered += 1
        finally:
            self._finish()

    def _finish(self) -> None:
        """Wake the removal waiting for this task's end, in its last step (one turn sooner
        than a done-callback would)."""
        finished = self.finished
        if finished is not None and not finished.done():
            finished.set_result(None)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._finish()  # a task cancelled before its first step runs no finally clause
        if self.stopping or not (task.cancelled() or task.exception() is not None):
            return
        # Cancelled (or killed) by someone else: leave no subscription behind to fill a dead
        # queue.
        self.stopping = True
        if self.on_lost is not None:
            self.on_lost(self)
        assert self.inbox is not None
        self.inbox.discard_all("cancelled")
        logger.warning("listener %s was stopped from outside and is removed", self.label)

    def abort(self, reason: str) -> None:
        """Drop what is queued (counted and reported as ``reason``) and cancel the task."""
        self.stopping = True
        if self.inbox is not None:
            self.inbox.discard_all(reason)
        if self.task is not None:
            self.task.cancel()


async def drain(listeners: list[Listener], timeout: float | None) -> None:
    """Let async listeners finish what is queued, then stop their tasks.

    After ``timeout`` seconds the rest is dropped (reason ``timeout``); cancelled, every
    listener is aborted (reason ``cancelled``).
    """
    current = asyncio.current_task()
    tasks: dict[asyncio.Task[None], Listener] = {}
    for listener in listeners:
        if listener.inbox is None or listener.task is None:
            continue
        listener.inbox.closing = True
        listener.inbox.wake()
        # A listener removing itself stops after this message; an ended task is not waited for.
        if listener.task is not current and not listener.task.done():
            tasks[listener.task] = listener
    if not tasks:
        return
    if timeout is None and len(tasks) == 1:
        # remove_listener's case: a future the task sets in its last step wakes this one a
        # loop turn sooner than asyncio.wait, whose done-callback runs a turn after the end.
        (listener,) = tasks.values()
        listener.finished = finished = asyncio.get_running_loop().create_future()
        try:
            await finished
        except asyncio.CancelledError:
            listener.abort("cancelled")
            raise
        return
    try:
        _, pending = await asyncio.wait(tasks, timeout=timeout)
    except asyncio.CancelledError:
        for listener in tasks.values():
            listener.abort("cancelled")
        raise
    for task in pending:
        tasks[task].abort("timeout")
    if pending:
        await asyncio.wait(pending)
