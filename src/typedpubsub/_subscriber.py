"""Subscriber: listeners, subscriptions and streams on top of a hub."""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import warnings
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any, Generic, cast

from typing_extensions import Self, TypeVar

from ._callbacks import check_listener_types, is_async_callable
from ._hub import Hub, callback_label
from ._inbox import Inbox, Overflow, check_queue_options
from ._key import Key, _describe, check_pattern
from ._stats import Counters, ListenerStatistics
from .errors import ClosedError, ConsumeQueueNotFoundError, ListenerNotFoundError

if TYPE_CHECKING:
    from ._telemetry import Queued

__all__ = ["Stream", "Subscriber"]

T = TypeVar("T", default=Any)

logger = logging.getLogger("typedpubsub")

KeyArg = Key[T] | AbstractSet[Key[T]]


def _keyset(keys: object) -> frozenset[Key[Any]]:
    items: Iterable[object] = keys if isinstance(keys, set | frozenset) else (keys,)
    result = frozenset(check_pattern(key, "keys") for key in items)
    if not result:
        raise ValueError("keys must hold at least one key, got an empty set")
    return result


def _own_callback(callback: Callable[[Any, Any], object]) -> Callable[[Any, Any], object]:
    def deliver(key: Any, message: Any) -> object:
        return callback(key, message)  # the hub checks what it returns

    return deliver


def _keys_text(keys: frozenset[Key[Any]]) -> str:
    return ", ".join(repr(tuple(k)) for k in sorted(keys))


class _Listener:
    """A callback attached to keys; async ones own an inbox and a consumer task."""

    __slots__ = ("callback", "deliver", "inbox", "keys", "label", "stats", "stopping", "task")

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

    def statistics(self, hub: Hub) -> ListenerStatistics:
        inbox = self.inbox
        if inbox is None:  # sync: counted by the hub's routes, failures included
            delivered = self.stats.delivered + hub._live_hits(self.deliver) - self.stats.failed
        else:
            delivered = self.stats.delivered
        return ListenerStatistics(
            listener=self.label,
            keys=frozenset(Key(*k) for k in self.keys),
            queued=len(inbox.items) if inbox is not None else 0,
            delivered=delivered,
            dropped=self.stats.dropped,
            failed=self.stats.failed,
            peak_queue_size=self.stats.peak,
            max_queue_size=inbox.max_size if inbox is not None else 0,
        )


async def _consume(listener: _Listener, hub: Hub) -> None:
    inbox = listener.inbox
    assert inbox is not None
    items = inbox.items
    callback = listener.callback
    counters = listener.stats
    # Yield once first: listeners that were already waiting were woken, in publish order,
    # by messages queued before this task's first step, and should run before it.
    await asyncio.sleep(0)
    while True:
        if not items:
            if inbox.closing:
                return
            await inbox.wait_items()
            continue
        item = items.popleft()
        key, message = item
        if inbox._room_waiters:
            inbox.wake_room()
        try:
            if type(item) is tuple:
                await callback(key, message)
            else:  # queued by a hub given to telemetry.instrument: traced with its context
                await cast("Queued", item).process(callback)
        except Exception as exc:
            counters.failed += 1
            hub.report_listener_error(key, listener.label, exc)
        else:
            counters.delivered += 1


def _listener_done(
    listener: _Listener, hub: Hub, owner: weakref.ref[Subscriber], task: asyncio.Task[None]
) -> None:
    if listener.stopping or not (task.cancelled() or task.exception() is not None):
        return
    # Cancelled (or killed) by someone else: leave no subscription behind to fill a dead queue.
    listener.stopping = True
    subscriber = owner()
    if subscriber is not None:
        subscriber._forget(listener)
    _unsubscribe(hub, listener)
    assert listener.inbox is not None
    listener.inbox.discard_all("cancelled")
    logger.warning("listener %s was stopped from outside and is removed", listener.label)


def _unsubscribe(hub: Hub, listener: _Listener) -> None:
    for key in listener.keys:
        hub._remove(key, listener.deliver)


class _Subscription:
    __slots__ = ("callback", "inbox", "keys")

    def __init__(self, callback: Callable[[Any, Any], object], inbox: Inbox | None) -> None:
        self.callback = callback
        self.inbox = inbox
        self.keys: set[Key[Any]] = set()


class Subscriber:
    """Receives messages from a hub: listeners (callbacks), subscriptions and streams.

    ``id_`` names the subscriber in logs and statistics. Use it as an async context manager, or
    call :meth:`aclose`, to drain and stop its listeners.
    """

    DEFAULT_SUBSCRIPTION_ID = "default"

    def __init__(self, hub: Hub, id_: str) -> None:
        if not isinstance(hub, Hub):
            raise TypeError(f"hub must be a typedpubsub Hub, got {_describe(hub)}")
        if not isinstance(id_, str):
            raise TypeError(f"id_ must be str, got {_describe(id_)}")
        self.id = id_
        self._hub = hub
        self._subscriptions: dict[str, _Subscription] = {}
        self._listeners: dict[tuple[frozenset[Key[Any]], object], _Listener] = {}
        self._streams: weakref.WeakSet[Stream[Any]] = weakref.WeakSet()
        self._closed = False
        hub._attach(self)

    # -- aiopubsub's subscriptions ----------------------------------------------------------

    def sync_subscribe(
        self,
        key: Key[T],
        callback: Callable[[Key, T], object],
        subscription_id: str = DEFAULT_SUBSCRIPTION_ID,
    ) -> None:
        """Subscribe ``callback`` to ``key`` under ``subscription_id`` (called synchronously)."""
        self._check_open()
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {callback!r}")
        if is_async_callable(callback):
            raise TypeError(
                f"callback must be a plain function, got async {callback_label(callback)}; "
                "use add_async_listener for async functions"
            )
        pattern = check_pattern(key)
        sub = self._subscriptions.get(subscription_id)
        # As in aiopubsub, an existing subscription keeps its callback: that one must fit.
        check_listener_types(callback if sub is None else sub.callback, (pattern,))
        if sub is None:
            sub = self._subscriptions[subscription_id] = _Subscription(callback, None)
        self._hub._add(pattern, sub.callback, label=self._label(sub.callback))
        sub.keys.add(pattern)

    def async_subscribe(self, key: Key[T], subscription_id: str = DEFAULT_SUBSCRIPTION_ID) -> None:
        """Queue messages on ``key`` for :meth:`consume` under ``subscription_id``.

        One queue serves every key subscribed with the same ``subscription_id``.
        """
        self._check_open()
        pattern = check_pattern(key)
        sub = self._subscriptions.get(subscription_id)
        if sub is None:
            inbox = Inbox(self._hub, f"subscription {subscription_id!r} of subscriber {self.id!r}")
            sub = self._subscriptions[subscription_id] = _Subscription(inbox.put, inbox)
        inbox_ = sub.inbox
        self._hub._add(
            pattern,
            sub.callback,
            unread=inbox_.qsize if inbox_ is not None else None,
            inbox=inbox_,
            stats=inbox_.counters if inbox_ is not None else None,
            label=inbox_.label if inbox_ is not None else None,
        )
        sub.keys.add(pattern)

    subscribe = async_subscribe

    def unsubscribe(self, key: Key[Any], subscription_id: str = DEFAULT_SUBSCRIPTION_ID) -> None:
        """Stop the subscription ``subscription_id`` from receiving messages on ``key``."""
        pattern = check_pattern(key)
        sub = self._subscriptions.get(subscription_id)
        if sub is None:
            raise ListenerNotFoundError(
                f"subscription_id {subscription_id!r} has no subscription on subscriber {self.id!r}"
            )
        self._hub._remove(pattern, sub.callback)
        sub.keys.discard(pattern)

    async def consume(self, subscription_id: str = DEFAULT_SUBSCRIPTION_ID) -> tuple[Key, Any]:
        """Wait for and return the next ``(key, message)`` of the subscription."""
        sub = self._subscriptions.get(subscription_id)
        if sub is None or sub.inbox is None:
            what = "is a sync subscription" if sub is not None else "does not exist"
            raise ConsumeQueueNotFoundError(
                f"subscription_id {subscription_id!r} {what}: consume reads only what "
                "subscribe/async_subscribe queued"
            )
        return await sub.inbox.get()

    # -- listeners --------------------------------------------------------------------------

    def add_sync_listener(
        self, keys: Key[T] | AbstractSet[Key[T]], callback: Callable[[Key, T], object]
    ) -> None:
        """Call ``callback(key, message)`` synchronously, inside ``publish``, for each message.

        ``keys`` is one key or a set of keys. Exceptions are isolated: logged, counted and
        published on ``LISTENER_ERROR``, and the listener keeps receiving.
        """
        self._check_open()
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {_describe(callback)}")
        if is_async_callable(callback):
            raise TypeError(
                f"callback must be a plain function, got async {callback_label(callback)}; "
                "use add_async_listener for async functions"
            )
        keyset = _keyset(keys)
        check_listener_types(callback, keyset)
        if self._is_duplicate(keyset, callback):
            return
        deliver: Callable[[Any, Any], object] = callback
        if callback in self._hub._callback_counts:
            # The hub knows a subscription by its callback, and this one is in use (by this or
            # another subscriber): give this listener its own.
            deliver = _own_callback(callback)

        listener = _Listener(keyset, callback, deliver, None, Counters(), self._label(callback))
        self._register(listener)

    add_listener = add_sync_listener

    def add_async_listener(
        self,
        keys: Key[T] | AbstractSet[Key[T]],
        callback: Callable[[Key, T], Awaitable[None]],
        *,
        max_queue_size: int = 0,
        overflow: Overflow = "block",
    ) -> None:
        """Run ``await callback(key, message)`` for each message, one at a time, in publish order.

        Messages wait in a queue; one task per listener consumes it. ``keys`` is one key or a
        set of keys (one queue, one stream in publish order). ``max_queue_size`` bounds the
        queue (0: unbounded) and ``overflow`` says what a full queue does. A raising callback
        is reported and keeps receiving.
        """
        self._check_open()
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {_describe(callback)}")
        if not is_async_callable(callback):
            raise TypeError(
                f"callback must be an async function, got {callback_label(callback)}; "
                "use add_sync_listener for plain functions"
            )
        check_queue_options(max_queue_size, overflow)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "add_async_listener needs a running event loop: call it from async code"
            ) from None
        keyset = _keyset(keys)
        check_listener_types(callback, keyset)
        if self._is_duplicate(keyset, callback):
            return
        label = self._label(callback)
        inbox = Inbox(self._hub, label, max_queue_size, overflow)
        listener = _Listener(keyset, callback, inbox.put, inbox, inbox.counters, label)
        self._register(listener)
        listener.task = loop.create_task(
            _consume(listener, self._hub),
            name=f"typedpubsub listener {label} on {_keys_text(keyset)}",
        )
        listener.task.add_done_callback(
            functools.partial(_listener_done, listener, self._hub, weakref.ref(self))
        )

    def _is_duplicate(self, keyset: frozenset[Key[Any]], callback: object) -> bool:
        if (keyset, callback) in self._listeners:
            logger.warning(
                "listener %s is already on keys %s; not added again",
                self._label(callback),
                _keys_text(keyset),
            )
            return True
        return False

    def _register(self, listener: _Listener) -> None:
        added: list[Key[Any]] = []
        try:
            for key in sorted(listener.keys):
                inbox = listener.inbox
                self._hub._add(
                    key,
                    listener.deliver,
                    unread=inbox.qsize if inbox is not None else None,
                    inbox=inbox,
                    stats=listener.stats,
                    label=listener.label,
                )
                added.append(key)
        except BaseException:
            for key in added:
                self._hub._remove(key, listener.deliver)
            raise
        self._listeners[(listener.keys, listener.callback)] = listener

    def _label(self, callback: object) -> str:
        return f"{callback_label(callback)} of subscriber {self.id!r}"

    def _forget(self, listener: _Listener) -> None:
        self._listeners.pop((listener.keys, listener.callback), None)

    async def remove_listener(
        self,
        keys: Key[Any] | AbstractSet[Key[Any]],
        callback: Callable[..., Any],
        *,
        timeout: float | None = None,
    ) -> None:
        """Remove a listener added with exactly these ``keys`` and ``callback``.

        It stops receiving at once; what was already queued for it is delivered before this
        returns. After ``timeout`` seconds the rest is dropped (counted and reported).
        """
        keyset = _keyset(keys)
        listener = self._listeners.pop((keyset, callback), None)
        if listener is None:
            raise ListenerNotFoundError(
                f"no listener {callback_label(callback)} on keys {_keys_text(keyset)} in "
                f"subscriber {self.id!r}; pass the keys and callback given to add_*_listener"
            )
        _unsubscribe(self._hub, listener)
        await _drain([listener], timeout)

    async def remove_all_listeners(self, *, timeout: float | None = None) -> None:
        """Remove every listener, delivering what was queued first (as remove_listener does)."""
        listeners = list(self._listeners.values())
        self._listeners.clear()
        for listener in listeners:
            _unsubscribe(self._hub, listener)
        await _drain(listeners, timeout)

    # -- streams ----------------------------------------------------------------------------

    def stream(
        self,
        keys: Key[T] | AbstractSet[Key[T]],
        *,
        max_queue_size: int = 0,
        overflow: Overflow = "block",
    ) -> Stream[T]:
        """Subscribe now and return an async iterator of ``(key, message)``.

        ``async with subscriber.stream(TRADES) as trades: async for key, trade in trades: ...``
        """
        self._check_open()
        check_queue_options(max_queue_size, overflow)
        keyset = _keyset(keys)
        label = f"stream on {_keys_text(keyset)} of subscriber {self.id!r}"
        inbox = Inbox(self._hub, label, max_queue_size, overflow)
        stream: Stream[T] = Stream(self._hub, keyset, inbox)
        added: list[Key[Any]] = []
        try:
            for key in sorted(keyset):
                self._hub._add(
                    key,
                    inbox.put,
                    unread=inbox.qsize,
                    inbox=inbox,
                    stats=inbox.counters,
                    label=label,
                )
                added.append(key)
        except BaseException:
            for key in added:
                self._hub._remove(key, inbox.put)
            raise
        self._streams.add(stream)
        return stream

    # -- observability and lifecycle ---------------------------------------------------------

    def statistics(self) -> tuple[ListenerStatistics, ...]:
        """A frozen snapshot per listener, stream and queued subscription of this subscriber."""
        records = [listener.statistics(self._hub) for listener in self._listeners.values()]
        records.extend(stream.statistics() for stream in self._streams if not stream.closed)
        for sub in self._subscriptions.values():
            if sub.inbox is not None:
                records.append(
                    _Listener(
                        frozenset(sub.keys),
                        sub.callback,
                        sub.callback,
                        sub.inbox,
                        sub.inbox.counters,
                        sub.inbox.label,
                    ).statistics(self._hub)
                )
        return tuple(records)

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError(f"subscriber {self.id!r} is closed; create a new Subscriber")

    async def aclose(self, *, timeout: float | None = None) -> None:
        """Drain and remove every listener, end every stream and subscription. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for stream in list(self._streams):
            await stream.aclose()
        for subscription_id, sub in list(self._subscriptions.items()):
            for key in list(sub.keys):
                self.unsubscribe(key, subscription_id)
            if sub.inbox is not None:
                sub.inbox.closing = True
                sub.inbox.wake()
        await self.remove_all_listeners(timeout=timeout)

    async def __aenter__(self) -> Self:
        self._check_open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __del__(self) -> None:
        running = [
            listener
            for listener in getattr(self, "_listeners", {}).values()
            if listener.task is not None and not listener.task.done()
        ]
        if running:
            warnings.warn(
                f"subscriber {self.id!r} was garbage collected with {len(running)} listener "
                "task(s) still running; await subscriber.aclose() (or remove_all_listeners()) "
                "before dropping it",
                ResourceWarning,
                source=self,
                stacklevel=1,
            )

    def __repr__(self) -> str:
        return f"<Subscriber {self.id!r}: {len(self._listeners)} listeners>"


async def _drain(listeners: list[_Listener], timeout: float | None) -> None:
    """Let async listeners finish what is queued, then stop their tasks."""
    current = asyncio.current_task()
    tasks: dict[asyncio.Task[None], _Listener] = {}
    for listener in listeners:
        if listener.inbox is None or listener.task is None:
            continue
        listener.inbox.closing = True
        listener.inbox.wake()
        if listener.task is not current:  # a listener removing itself stops after this message
            tasks[listener.task] = listener
    if not tasks:
        return
    try:
        _, pending = await asyncio.wait(tasks, timeout=timeout)
    except asyncio.CancelledError:
        for task, listener in tasks.items():
            _abort(task, listener, "cancelled")
        raise
    for task in pending:
        _abort(task, tasks[task], "timeout")
    if pending:
        await asyncio.wait(pending)


def _close_stream(hub: Hub, keys: frozenset[Key[Any]], inbox: Inbox) -> None:
    for key in keys:
        hub._remove(key, inbox.put)
    inbox.discard_all("closed")


def _abort(task: asyncio.Task[None], listener: _Listener, reason: str) -> None:
    listener.stopping = True
    if listener.inbox is not None:
        listener.inbox.discard_all(reason)
    task.cancel()


class Stream(Generic[T]):
    """An async iterator of ``(key, message)`` from :meth:`Subscriber.stream`.

    Subscribed from creation until :meth:`close` or :meth:`aclose`; an async context manager.
    Messages still queued when it closes are dropped and reported. A stream collected while
    subscribed (``async for ... in subscriber.stream(k): break`` without ``async with``) is
    closed then, with a ``ResourceWarning``.
    """

    def __init__(self, hub: Hub, keys: frozenset[Key[Any]], inbox: Inbox) -> None:
        self._hub = hub
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
        _close_stream(self._hub, self._keys, self._inbox)

    async def aclose(self) -> None:
        """Unsubscribe; iteration ends (:meth:`close`, awaitable). Idempotent."""
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_closed", True):
            return
        hub, keys, inbox = self._hub, self._keys, self._inbox
        loop = hub._loop
        # Collection may run in any thread; the hub's state belongs to its loop's thread.
        if loop is not None and loop.is_running() and hub._loop_thread != threading.get_ident():
            loop.call_soon_threadsafe(_close_stream, hub, keys, inbox)
        else:
            _close_stream(hub, keys, inbox)
        warnings.warn(
            f"{inbox.label} was garbage collected while subscribed and is now closed; "
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
        inbox = self._inbox
        return ListenerStatistics(
            listener=inbox.label,
            keys=frozenset(Key(*k) for k in self._keys),
            queued=len(inbox.items),
            delivered=inbox.counters.delivered,
            dropped=inbox.counters.dropped,
            failed=inbox.counters.failed,
            peak_queue_size=inbox.counters.peak,
            max_queue_size=inbox.max_size,
        )
