"""Subscriber: listeners, subscriptions and streams on top of a hub."""

from __future__ import annotations

import asyncio
import logging
import warnings
import weakref
from collections.abc import Awaitable, Callable, Iterable
from collections.abc import Set as AbstractSet
from typing import Any, cast

from typing_extensions import Self, TypeVar

from ._callbacks import check_listener_types, check_plain, is_async_callable
from ._describe import callback_label, describe, keys_text
from ._hub import Hub, HubCore, internal
from ._inbox import Inbox, Overflow, check_queue_options
from ._key import Key, check_pattern
from ._listener import Listener, drain
from ._request import Answerable, Handler, RequestTopic
from ._router import Target
from ._stats import Counters, ListenerStatistics
from ._stream import Stream
from .errors import ClosedError, ConsumeQueueNotFoundError, ListenerNotFoundError

__all__ = ["Stream", "Subscriber"]

T = TypeVar("T", default=Any)
Req = TypeVar("Req", default=Any)
Resp = TypeVar("Resp", default=Any)

logger = logging.getLogger("typedpubsub")

KeyArg = Key[T] | AbstractSet[Key[T]]

# A module constant, not the class attribute, as default argument (mypyc compiles this module).
_DEFAULT_SUBSCRIPTION_ID = "default"


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


def _subscribe_all(
    core: HubCore,
    keys: frozenset[Key[Any]],
    callback: Callable[[Any, Any], object],
    inbox: Inbox | None,
    stats: Counters,
    label: str,
) -> None:
    """Subscribe ``callback`` to every key, or (if one fails) to none of them; then replay
    the retained values its retained topics match."""
    added: list[Key[Any]] = []
    targets: list[tuple[Target, int]] = []
    try:
        for key in sorted(keys):
            core.subscribe(
                key,
                callback,
                unread=inbox.qsize if inbox is not None else None,
                inbox=inbox,
                stats=stats,
                label=label,
                added=targets,
            )
            added.append(key)
    except BaseException:
        for key in added:
            core.unsubscribe(key, callback)
        raise
    core.replay(targets)


def _unsubscribe_all(core: HubCore, listener: Listener) -> None:
    for key in listener.keys:
        core.unsubscribe(key, listener.deliver)


def _forget_lost(owner: weakref.ref[Subscriber], core: HubCore) -> Callable[[Listener], None]:
    """What a listener whose task was stopped from outside calls: leave no subscription behind."""

    def lost(listener: Listener) -> None:
        subscriber = owner()
        if subscriber is not None:
            subscriber._listeners.pop((listener.keys, listener.callback), None)
        _unsubscribe_all(core, listener)

    return lost


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

    DEFAULT_SUBSCRIPTION_ID = _DEFAULT_SUBSCRIPTION_ID

    def __init__(self, hub: Hub, id_: str) -> None:
        if not isinstance(hub, Hub):
            raise TypeError(f"hub must be a typedpubsub Hub, got {describe(hub)}")
        if not isinstance(id_, str):
            raise TypeError(f"id_ must be str, got {describe(id_)}")
        self.id = id_
        self._hub = hub
        self._core = internal(hub)
        self._subscriptions: dict[str, _Subscription] = {}
        self._listeners: dict[tuple[frozenset[Key[Any]], object], Listener] = {}
        self._streams: weakref.WeakSet[Stream[Any]] = weakref.WeakSet()
        self._responders: dict[tuple[Key[Any], object], None] = {}
        self._closed = False
        self._core.attach(self)

    # -- aiopubsub's subscriptions ----------------------------------------------------------

    def sync_subscribe(
        self,
        key: Key[T],
        callback: Callable[[Key, T], object],
        subscription_id: str = _DEFAULT_SUBSCRIPTION_ID,
    ) -> None:
        """Subscribe ``callback`` to ``key`` under ``subscription_id`` (called synchronously)."""
        self._check_open()
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {describe(callback)}")
        check_plain(callback, "use add_async_listener for async functions")
        pattern = check_pattern(key)
        sub = self._subscriptions.get(subscription_id)
        # As in aiopubsub, an existing subscription keeps its callback: that one must fit.
        check_listener_types(callback if sub is None else sub.callback, (pattern,))
        if sub is None:
            sub = self._subscriptions[subscription_id] = _Subscription(callback, None)
        added: list[tuple[Target, int]] = []
        self._core.subscribe(pattern, sub.callback, label=self._label(sub.callback), added=added)
        sub.keys.add(pattern)
        self._core.replay(added)

    def async_subscribe(self, key: Key[T], subscription_id: str = _DEFAULT_SUBSCRIPTION_ID) -> None:
        """Queue messages on ``key`` for :meth:`consume` under ``subscription_id``.

        One queue serves every key subscribed with the same ``subscription_id``.
        """
        self._check_open()
        pattern = check_pattern(key)
        sub = self._subscriptions.get(subscription_id)
        if sub is None:
            label = f"subscription {subscription_id!r} of subscriber {self.id!r}"
            inbox = Inbox(label, self._core.reporter.drop)
            sub = self._subscriptions[subscription_id] = _Subscription(inbox.put, inbox)
        inbox_ = sub.inbox
        added: list[tuple[Target, int]] = []
        self._core.subscribe(
            pattern,
            sub.callback,
            unread=inbox_.qsize if inbox_ is not None else None,
            inbox=inbox_,
            stats=inbox_.counters if inbox_ is not None else None,
            label=inbox_.label if inbox_ is not None else None,
            added=added,
        )
        sub.keys.add(pattern)
        self._core.replay(added)

    def subscribe(self, key: Key[T], subscription_id: str = _DEFAULT_SUBSCRIPTION_ID) -> None:
        """aiopubsub's name for :meth:`async_subscribe`."""
        self.async_subscribe(key, subscription_id)

    def unsubscribe(self, key: Key[Any], subscription_id: str = _DEFAULT_SUBSCRIPTION_ID) -> None:
        """Stop the subscription ``subscription_id`` from receiving messages on ``key``."""
        pattern = check_pattern(key)
        sub = self._subscriptions.get(subscription_id)
        if sub is None:
            raise ListenerNotFoundError(
                f"subscription_id {subscription_id!r} has no subscription on subscriber {self.id!r}"
            )
        self._core.unsubscribe(pattern, sub.callback)
        sub.keys.discard(pattern)

    async def consume(self, subscription_id: str = _DEFAULT_SUBSCRIPTION_ID) -> tuple[Key, Any]:
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
            raise TypeError(f"callback must be callable, got {describe(callback)}")
        check_plain(callback, "use add_async_listener for async functions")
        keyset = _keyset(keys)
        check_listener_types(callback, keyset)
        if self._is_duplicate(keyset, callback):
            return
        deliver: Callable[[Any, Any], object] = callback
        if self._core.uses(callback):
            # The hub knows a subscription by its callback, and this one is in use (by this or
            # another subscriber): give this listener its own.
            deliver = _own_callback(callback)

        listener = Listener(keyset, callback, deliver, None, Counters(), self._label(callback))
        self._register(listener)

    def add_listener(
        self, keys: Key[T] | AbstractSet[Key[T]], callback: Callable[[Key, T], object]
    ) -> None:
        """aiopubsub's name for :meth:`add_sync_listener`."""
        self.add_sync_listener(keys, callback)

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
            raise TypeError(f"callback must be callable, got {describe(callback)}")
        if not is_async_callable(callback):
            raise TypeError(
                f"callback must be an async function, got {callback_label(callback)}; "
                "use add_sync_listener for plain functions"
            )
        check_queue_options(max_queue_size, overflow)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "add_async_listener needs a running event loop: call it from async code"
            ) from None
        keyset = _keyset(keys)
        check_listener_types(callback, keyset)
        if self._is_duplicate(keyset, callback):
            return
        label = self._label(callback)
        inbox = Inbox(label, self._core.reporter.drop, max_queue_size, overflow)
        listener = Listener(keyset, callback, inbox.put, inbox, inbox.counters, label)
        self._register(listener)
        listener.start(self._core, _forget_lost(weakref.ref(self), self._core))

    def _is_duplicate(self, keyset: frozenset[Key[Any]], callback: object) -> bool:
        if (keyset, callback) in self._listeners:
            logger.warning(
                "listener %s is already on keys %s; not added again",
                self._label(callback),
                keys_text(keyset),
            )
            return True
        return False

    def _register(self, listener: Listener) -> None:
        _subscribe_all(
            self._core,
            listener.keys,
            listener.deliver,
            listener.inbox,
            listener.stats,
            listener.label,
        )
        self._listeners[(listener.keys, listener.callback)] = listener

    def _label(self, callback: object) -> str:
        return f"{callback_label(callback)} of subscriber {self.id!r}"

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
                f"no listener {callback_label(callback)} on keys {keys_text(keyset)} in "
                f"subscriber {self.id!r}; pass the keys and callback given to add_*_listener"
            )
        _unsubscribe_all(self._core, listener)
        await drain([listener], timeout)

    async def remove_all_listeners(self, *, timeout: float | None = None) -> None:
        """Remove every listener, delivering what was queued first (as remove_listener does)."""
        listeners = list(self._listeners.values())
        self._listeners.clear()
        for listener in listeners:
            _unsubscribe_all(self._core, listener)
        await drain(listeners, timeout)

    # -- responders -------------------------------------------------------------------------

    def add_responder(self, topic: Answerable[Req, Resp], handler: Handler[Req, Resp]) -> None:
        """Answer requests on ``topic``, a :class:`RequestTopic` (a pattern): ``handler(key,
        request)`` returns the reply (the topic's types bind the handler's exactly).

        ``handler`` may be async (run in its own task, cancelled at the request's timeout) or
        plain (run inside ``request``). Of several responders whose patterns match a key, the
        first registered answers. What it raises is reported as a listener's failure and
        reaches the requester as :class:`ResponderError`.
        """
        self._check_open()
        if self._core.requests.add(topic, handler, self._label(handler)):
            self._responders[(cast("Key[Any]", topic), handler)] = None

    def remove_responder(self, topic: RequestTopic[Any, Any], handler: Callable[..., Any]) -> None:
        """Stop ``handler`` answering on ``topic``; requests it is answering still complete."""
        self._core.requests.remove(topic, handler)
        self._responders.pop((topic, handler), None)

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
        label = f"stream on {keys_text(keyset)} of subscriber {self.id!r}"
        inbox = Inbox(label, self._core.reporter.drop, max_queue_size, overflow)
        _subscribe_all(self._core, keyset, inbox.put, inbox, inbox.counters, label)
        stream: Stream[T] = Stream(self._core, keyset, inbox)
        self._streams.add(stream)
        return stream

    # -- observability and lifecycle ---------------------------------------------------------

    def statistics(self) -> tuple[ListenerStatistics, ...]:
        """A frozen snapshot per listener, stream and queued subscription of this subscriber."""
        records = [listener.statistics(self._core) for listener in self._listeners.values()]
        records.extend(stream.statistics() for stream in self._streams if not stream.closed)
        records.extend(
            sub.inbox.statistics(sub.keys)
            for sub in self._subscriptions.values()
            if sub.inbox is not None
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
        for topic, handler in list(self._responders):
            self.remove_responder(cast("RequestTopic[Any, Any]", topic), cast("Any", handler))
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
