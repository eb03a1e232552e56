"""The hub: routes published messages to subscribed callbacks."""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import threading
import weakref
from collections.abc import Callable, Coroutine
from threading import get_ident as _get_ident
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from typing_extensions import Self, TypeVar

from ._callbacks import callback_label, check_listener_types, check_result, is_async_callable
from ._key import WILDCARD, Key, check_pattern, check_publishable, escape_wildcards, overlaps
from ._meta import (
    ADDED_SUBSCRIBER,
    LISTENER_ERROR,
    MESSAGE_DROPPED,
    REMOVED_SUBSCRIBER,
    ListenerFailure,
    MessageDropped,
    SubscriberEvent,
)
from ._router import Router, Target
from ._stats import Counters, HubStatistics
from ._topic import Topic, Validator, convert_for_listener
from .errors import ClosedError, PayloadValidationError, QueueFullError

if TYPE_CHECKING:
    from ._inbox import Inbox
    from ._publisher import Publisher
    from ._subscriber import Subscriber
    from ._telemetry import Telemetry

__all__ = ["Hub", "callback_label"]

T = TypeVar("T", default=Any)

logger = logging.getLogger("typedpubsub")

_ERROR_PREFIX = tuple(LISTENER_ERROR[:-1])
_DROP_PREFIX = tuple(MESSAGE_DROPPED[:-1])


class _Route:
    """What one concrete key reaches, computed once and cached until subscriptions change."""

    __slots__ = ("callbacks", "calls", "generation", "hits", "remote", "targets", "typed")

    def __init__(
        self, generation: int, targets: tuple[Target, ...], telemetry: Telemetry | None = None
    ) -> None:
        self.generation = generation
        self.targets = targets
        self.callbacks = tuple(t.callback for t in targets)
        # What delivery calls, target by target: the callbacks themselves, or (on a hub given to
        # telemetry.instrument) wrappers that trace each delivery, so that an uninstrumented
        # hub pays nothing per message for telemetry.
        self.calls = self.callbacks if telemetry is None else telemetry.wrap_targets(targets)
        self.typed = any(t.validator is not None for t in targets)
        # Publishes through this route: the only counter on the hot path. Hub and sync
        # listener statistics are derived from it (see Hub._retire_routes).
        self.hits = 0
        # The route of a message that arrived through a bridge (no bridge's outbound target)
        # and the bounded queues it reaches; see Hub._remote_route.
        self.remote: tuple[_Route, tuple[Inbox, ...]] | None = None


def _typed_key(topic: Topic[Any]) -> tuple[tuple[str, ...], object]:
    """A topic's pattern and payload type as a dict key (an unhashable type by identity)."""
    payload_type: object = topic.payload_type
    try:
        hash(payload_type)
    except TypeError:  # Annotated[int, {"unit": "ms"}]; the entry keeps the type alive
        payload_type = id(payload_type)
    return tuple(topic), payload_type


class Hub:
    """Accepts messages from publishers and routes them, by key, to subscribed callbacks.

    ``publish`` is synchronous: sync callbacks run before it returns; async listeners' queues
    receive the message before it returns. Routing cost does not grow with the number of
    subscriptions; resolved routes are cached for up to ``route_cache_size`` distinct keys.
    """

    def __init__(self, *, route_cache_size: int = 65_536) -> None:
        if type(route_cache_size) is not int:
            raise TypeError(f"route_cache_size must be int, got {route_cache_size!r}")
        if route_cache_size < 1:
            raise ValueError(f"route_cache_size must be >= 1, got {route_cache_size}")
        self._router = Router()
        self._routes: collections.OrderedDict[tuple[str, ...], _Route] = collections.OrderedDict()
        self._route_cache_size = route_cache_size
        self._shared_routes: dict[tuple[Target, ...], _Route] = {}
        self._shared_generation = 0
        self._generation = 0
        self._seq = itertools.count()
        self._key_counts: dict[tuple[str, ...], int] = {}
        # Subscriptions per callback: a subscription is known by its (pattern, callback), so a
        # caller that must not share a callback with another subscription asks here.
        self._callback_counts: dict[object, int] = {}
        # Bridges' outbound callbacks: what arrived through a bridge never reaches them.
        self._bridge_callbacks: set[object] = set()
        # (origin, message id) of messages delivered through any bridge of this hub, oldest
        # first: two bridges that receive one message deliver it once.
        self._bridge_seen: collections.OrderedDict[tuple[str, str], None] = (
            collections.OrderedDict()
        )
        self._closed = False
        self._subscribers: weakref.WeakSet[Subscriber] = weakref.WeakSet()
        self._publishers: weakref.WeakSet[Publisher] = weakref.WeakSet()
        self._published = 0  # publishes and deliveries of retired routes; see statistics()
        self._delivered = 0
        self._skipped = 0
        self._dropped = 0
        self._failed = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        # publish_threadsafe messages that wait for room in a full 'block' queue, per thread
        self._backlogs: dict[int, collections.deque[tuple[Any, Any, Any]]] = {}
        self._backlog_tasks: set[asyncio.Task[None]] = set()
        # Typed subscriptions by (pattern, payload type), to warn once about overlapping types.
        self._typed_patterns: dict[tuple[tuple[str, ...], object], list[Any]] = {}
        self._warned_overlaps: set[tuple[object, ...]] = set()
        # Set by telemetry.instrument() while this hub is instrumented: routes built meanwhile
        # trace their deliveries, bridges propagate the trace context in headers.
        self._telemetry: Telemetry | None = None
        self._bind_loop()

    # -- publishing -------------------------------------------------------------------------

    def publish(self, key: Key[T], message: T) -> None:
        """Deliver ``message`` to every callback subscribed to a pattern that matches ``key``.

        Through a :class:`Topic` the payload is validated first; an invalid one raises
        :class:`PayloadValidationError` and reaches nobody. Errors of listeners are isolated
        (logged, counted, published on ``LISTENER_ERROR``); a full bounded queue whose policy is
        ``raise`` or ``block`` raises :class:`QueueFullError` after the others got the message.
        """
        # The hot path, written out: _prepare and _dispatch do the same for the other callers.
        # A closed hub has no valid routes, so _route (which raises ClosedError) runs.
        # One C call and a compare (~75 ns of a ~330 ns publish on the CI machine, measured
        # with timeit): a foreign thread would otherwise corrupt the loop's state unnoticed.
        if _get_ident() != self._loop_thread and self._loop_thread is not None:
            self._check_thread()
        try:
            route = self._routes.get(key)
        except TypeError:  # unhashable: _route explains what a key must be
            route = None
        if route is None or route.generation != self._generation:
            route = self._route(key)
        if isinstance(key, Topic):
            source: Validator[Any] | None = key._validator
            message = key.validate(message)
        else:
            source = None
        route.hits += 1
        if route.typed:
            errors = self._dispatch_typed(route, key, message, source)
        else:
            errors = None
            for callback in route.calls:
                try:
                    if (result := callback(key, message)) is not None:
                        check_result(result)
                except QueueFullError as exc:
                    errors = errors or []
                    errors.append(exc)
                except Exception as exc:
                    self._callback_failed(route, callback, key, exc)
        if errors:
            raise errors[0]

    async def apublish(self, key: Key[T], message: T) -> None:
        """Like :meth:`publish`, but first wait for room in bounded ``block`` queues it reaches."""
        self._bind_loop()
        if self._loop_thread is not None and threading.get_ident() != self._loop_thread:
            self._check_thread()
        route, message, source = self._prepare(key, message)
        await self._deliver_waiting(route, key, message, source, True)

    async def _deliver_waiting(
        self,
        route: _Route | None,
        key: Any,
        message: Any,
        source: Validator[Any] | None,
        raise_errors: bool,
    ) -> None:
        """Deliver an already validated message once every bounded 'block' queue has room.

        The package-internal way to publish without losing a message to a full queue (the
        waiting half of :meth:`apublish`); ``route`` may be None.
        """
        if route is None:
            route = self._route(key)
        while True:
            full = [t.inbox for t in route.targets if t.inbox is not None and t.inbox.blocks()]
            if not full:
                break
            await full[0].wait_room(full[0].max_size - 1)
            route = self._route(key)
        self._dispatch(route, key, message, source, raise_errors)

    def _check_thread(self) -> None:
        loop = self._loop
        if loop is not None and loop.is_running() and threading.get_ident() != self._loop_thread:
            raise RuntimeError(
                "publish must be called in the hub's event loop thread; "
                "use hub.publish_threadsafe(key, message) from other threads"
            )

    def publish_threadsafe(self, key: Key[T], message: T) -> None:
        """Publish from another thread into the hub's event loop; per-thread order is kept.

        The payload is validated in the calling thread (errors raise there); delivery happens
        in the loop thread, where listener errors are reported as usual.
        """
        loop = self._loop
        if loop is None:
            raise RuntimeError(
                "hub has no event loop yet: create it, or add a listener to it, inside the loop"
            )
        self._check_open()
        check_publishable(key)
        if isinstance(key, Topic):
            message = key.validate(message)
        source = key._validator if isinstance(key, Topic) else None
        thread = threading.get_ident()
        if thread == self._loop_thread:
            self._dispatch(self._route(key), key, message, source, True)
            return
        loop.call_soon_threadsafe(self._publish_from_thread, thread, key, message, source)

    def _publish_from_thread(
        self, thread: int, key: Key[Any], message: Any, source: Validator[Any] | None
    ) -> None:
        if self._closed:
            logger.warning("message on key %r arrived after the hub closed; not delivered", key)
            return
        backlog = self._backlogs.get(thread)
        if backlog is None:
            route = self._route(key)
            if not any(t.inbox is not None and t.inbox.blocks() for t in route.targets):
                # Errors (a full 'raise' queue, an invalid payload for a typed listener) are
                # reported there and logged here: the publishing thread has moved on.
                self._dispatch(route, key, message, source, False)
                return
            # A full 'block' queue: wait for room in the loop, and queue this thread's later
            # messages behind it to keep their order.
            backlog = self._backlogs[thread] = collections.deque()
            assert self._loop is not None
            task = self._loop.create_task(self._drain_backlog(thread, backlog))
            self._backlog_tasks.add(task)
            task.add_done_callback(self._backlog_tasks.discard)
        backlog.append((key, message, source))

    async def _drain_backlog(self, thread: int, backlog: collections.deque[Any]) -> None:
        try:
            while backlog and not self._closed:
                key, message, source = backlog[0]
                try:
                    await self._deliver_waiting(None, key, message, source, False)
                except ClosedError:
                    break
                backlog.popleft()
        finally:
            self._backlogs.pop(thread, None)
            if backlog:
                self._report_drop(backlog[0][0], "publish_threadsafe", "closed", len(backlog))

    def _prepare(self, key: Any, message: Any) -> tuple[_Route, Any, Validator[Any] | None]:
        try:
            route = self._routes.get(key)
        except TypeError:
            route = None
        if route is None or route.generation != self._generation:
            route = self._route(key)
        if isinstance(key, Topic):
            return route, key.validate(message), key._validator
        return route, message, None

    def _route(self, key: Any) -> _Route:
        if self._closed:
            raise ClosedError("hub is closed; create a new Hub to publish")
        try:
            route = self._routes.get(key) if isinstance(key, tuple) else None
        except TypeError:  # unhashable parts: check_publishable says which
            route = None
        if route is not None and route.generation == self._generation:
            return route
        key = check_publishable(key)
        targets = tuple(self._router.match(key))
        # Keys that reach the same targets share one route object: a cached key then costs
        # little more than its dict entry.
        if len(self._shared_routes) >= self._route_cache_size:
            # Retired routes must not stay reachable from the key cache, or their hits would
            # go uncounted: start a new generation, which makes every cached route stale.
            self._generation += 1
        if self._shared_generation != self._generation:
            self._retire_routes()
            self._shared_generation = self._generation
        route = self._shared_routes.get(targets)
        if route is None:
            route = self._shared_routes[targets] = _Route(
                self._generation, targets, self._telemetry
            )
        routes = self._routes
        if len(routes) >= self._route_cache_size and key not in routes:
            # Evict the oldest entry (FIFO): it keeps memory bounded however many distinct keys
            # are published, in O(1); an LRU's reordering would cost every cache hit.
            routes.popitem(last=False)
        routes[key] = route
        return route

    def _retire_routes(self) -> None:
        """Drop the shared routes, folding their hit counts into the counters they stand for."""
        for route in self._shared_routes.values():
            hits = route.hits
            if hits:
                self._published += hits
                self._delivered += hits * len(route.targets)
                for target in route.targets:
                    if target.inbox is None and target.stats is not None:
                        target.stats.delivered += hits
        self._shared_routes = {}

    def _live_hits(self, callback: object) -> int:
        """Publishes that reached ``callback`` through routes not yet retired."""
        return sum(
            route.hits
            for route in self._shared_routes.values()
            if route.hits and callback in route.callbacks
        )

    def _deliver_remote(
        self, key: Any, message: Any, source: Validator[Any] | None
    ) -> Coroutine[Any, Any, None] | None:
        """Deliver a message that arrived through a bridge (the bridges' package-internal API).

        No bridge's outbound callback gets it, so it is never sent out again. Where a bounded
        queue is reached, returns a coroutine to await instead: a full ``block`` queue is
        waited for, as by :meth:`apublish`; a full ``raise`` queue's refusal is counted and
        reported as a drop (reason ``raise``). Nothing is lost silently.
        """
        route, bounded = self._remote_route(key)
        if bounded:
            return self._deliver_bounded(key, message, source)
        self._dispatch(route, key, message, source, False)
        return None

    async def _deliver_bounded(self, key: Any, message: Any, source: Validator[Any] | None) -> None:
        route, bounded = self._remote_route(key)
        while True:
            # A closing queue gets no room: waiting for it would spin.
            full = [inbox for inbox in bounded if inbox.blocks() and not inbox.closing]
            if not full:
                break
            await full[0].wait_room(full[0].max_size - 1)
            route, bounded = self._remote_route(key)
        # A full queue that still refuses (``raise``, or a ``block`` queue that is closing)
        # counts and reports the drop itself (Inbox.put); the others get the message.
        self._dispatch(route, key, message, source, False)

    def _remote_route(self, key: Any) -> tuple[_Route, tuple[Inbox, ...]]:
        """The route without bridges' outbound targets, and the bounded queues it reaches."""
        route = self._routes.get(key)
        if route is None or route.generation != self._generation:
            route = self._route(key)
        remote = route.remote
        if remote is None:
            bridges = self._bridge_callbacks
            targets = tuple(t for t in route.targets if t.callback not in bridges)
            local = route
            if len(targets) != len(route.targets):
                local = self._shared_routes.get(targets) or _Route(
                    self._generation, targets, self._telemetry
                )
                self._shared_routes[targets] = local
            bounded = tuple(t.inbox for t in targets if t.inbox is not None and t.inbox.max_size)
            remote = route.remote = (local, bounded)
        return remote

    def _dispatch(
        self,
        route: _Route,
        key: Any,
        message: Any,
        source: Validator[Any] | None,
        raise_errors: bool,
    ) -> None:
        route.hits += 1
        errors: list[Exception] | None = None
        if not route.typed:
            for callback in route.calls:
                try:
                    if (result := callback(key, message)) is not None:
                        check_result(result)
                except QueueFullError as exc:
                    errors = errors or []
                    errors.append(exc)
                except Exception as exc:
                    self._callback_failed(route, callback, key, exc)
        else:
            errors = self._dispatch_typed(route, key, message, source)
        if errors:
            if raise_errors:
                raise errors[0]
            for error in errors:
                logger.error("%s", error)

    def _dispatch_typed(
        self, route: _Route, key: Any, message: Any, source: Validator[Any] | None
    ) -> list[Exception] | None:
        errors: list[Exception] | None = None
        # Each listener type validates the message once per publish, not once per listener.
        converted: dict[Validator[Any], tuple[bool, Any]] = {}
        for target, call in zip(route.targets, route.calls, strict=True):
            validator = target.validator
            payload = message
            if validator is not None and validator is not source:
                outcome = converted.get(validator)
                if outcome is None:
                    outcome = converted[validator] = self._convert(target, key, message, source)
                    if not outcome[0] and source is None:
                        errors = errors or []
                        errors.append(outcome[1])
                if not outcome[0]:
                    self._skipped += 1
                    if source is None:  # untyped publish: the publisher hears of it
                        self._failed += 1
                        if target.stats is not None:
                            target.stats.failed += 1
                    else:  # valid for its own topic: a conflict between topics, reported
                        self._target_failed(target, key, outcome[1])
                    continue
                payload = outcome[1]
            try:
                if (result := call(key, payload)) is not None:
                    check_result(result)
            except QueueFullError as exc:
                errors = errors or []
                errors.append(exc)
            except Exception as exc:
                self._target_failed(target, key, exc)
        return errors

    def _convert(
        self, target: Target, key: Any, message: Any, source: Validator[Any] | None
    ) -> tuple[bool, Any]:
        try:
            topic = cast("Topic[Any]", target.key)  # only a topic's subscription has a validator
            return True, convert_for_listener(topic, key, message, source)
        except PayloadValidationError as error:
            if source is None:
                logger.error("not delivered to %s: %s", target.label, error)
            return False, error

    # -- failure reporting ------------------------------------------------------------------

    def _callback_failed(self, route: _Route, callback: object, key: Any, exc: Exception) -> None:
        for target, call in zip(route.targets, route.calls, strict=True):
            if call is callback:
                self._target_failed(target, key, exc)
                return

    def _target_failed(self, target: Target, key: Any, exc: BaseException) -> None:
        if target.stats is not None:
            target.stats.failed += 1
        self.report_listener_error(key, target.label, exc)

    def report_listener_error(self, key: Any, listener: str, exc: BaseException) -> None:
        """Log, count and publish (on ``LISTENER_ERROR``) a failure of ``listener`` on ``key``."""
        self._failed += 1
        logger.error("listener %s failed on key %r", listener, tuple(key), exc_info=exc)
        if self._closed or tuple(key[: len(_ERROR_PREFIX)]) == _ERROR_PREFIX:
            return  # a failing error listener must not feed itself
        try:
            text = str(exc)
        except Exception:  # a user's exception may fail to print; the report must not fail
            text = f"<unprintable {type(exc).__name__}>"
        event = ListenerFailure(Key(*key), listener, type(exc).__name__, text)
        self._publish_meta(LISTENER_ERROR, key, event)

    def _report_drop(
        self, key: Any, listener: str, reason: str, count: int, *, refused: bool = False
    ) -> None:
        """Count, log and publish a drop; ``refused``: on arrival, so it was never delivered."""
        self._dropped += count
        if refused:
            self._skipped += count
        total = self._dropped
        if total & (total - 1) == 0 or count > 1:  # log at 1, 2, 4, 8... drops, not on each one
            logger.warning(
                "%s dropped %d message(s) (%s), last on key %r; %d dropped by this hub so far",
                listener,
                count,
                reason,
                tuple(key),
                total,
            )
        if self._closed or tuple(key[: len(_DROP_PREFIX)]) == _DROP_PREFIX:
            return
        self._publish_meta(MESSAGE_DROPPED, key, MessageDropped(Key(*key), listener, reason, count))

    def _meta_wanted(self) -> bool:
        """Whether a meta message could reach anyone (else it is not even built)."""
        return self._router.may_match_first("Hub")

    def _publish_meta(self, topic: Topic[Any], key: Any, payload: Any) -> None:
        if not self._meta_wanted():
            return  # nobody could receive it: skip building the message
        full_key = Key(*topic[:-1], *escape_wildcards(key))
        try:
            self._dispatch(self._route(full_key), full_key, payload, topic._validator, False)
        except Exception:  # pragma: no cover - _dispatch reports everything itself
            logger.exception("could not publish on %r", full_key)

    # -- subscriptions ----------------------------------------------------------------------

    def add_subscriber(
        self,
        key: Key[T],
        callback: Callable[[Key, T], object],
        unread: Callable[[], int] | None = None,
    ) -> None:
        """Subscribe ``callback(key, message)`` to ``key`` (a pattern; ``'*'`` is a wildcard).

        ``unread`` reports the callback's queue size to :meth:`get_subscriber_queue_sizes`.
        Subscribing the same callback to the same key twice is logged and ignored.
        """
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {callback!r}")
        if unread is not None and not callable(unread):
            raise TypeError(f"unread must be callable or None, got {unread!r}")
        if is_async_callable(callback):
            raise TypeError(
                f"callback must be a plain function, got async {callback_label(callback)}; "
                "a Subscriber's add_async_listener runs async functions"
            )
        check_listener_types(callback, (check_pattern(key),))
        self._add(key, callback, unread=unread)

    def _add(
        self,
        key: Any,
        callback: Callable[[Any, Any], object],
        *,
        unread: Callable[[], int] | None = None,
        inbox: Inbox | None = None,
        stats: Counters | None = None,
        label: str | None = None,
    ) -> bool:
        self._check_open()
        pattern = check_pattern(key)
        if self._router.get(pattern, callback) is not None:
            logger.warning("Repeated subscription to key = %r.", tuple(pattern))
            return False
        validator = pattern._validator if isinstance(pattern, Topic) else None
        target = Target(
            pattern,
            callback,
            next(self._seq),
            validator,
            unread,
            inbox,
            stats,
            label or callback_label(callback),
        )
        self._router.add(target)
        if isinstance(pattern, Topic):
            self._add_typed(pattern)
        self._callback_counts[callback] = self._callback_counts.get(callback, 0) + 1
        self._generation += 1
        plain = tuple(pattern)
        count = self._key_counts[plain] = self._key_counts.get(plain, 0) + 1
        logger.debug("Subscription to key = %r.", plain)
        if self._meta_wanted():
            self._publish_meta(
                ADDED_SUBSCRIBER,
                pattern,
                SubscriberEvent(key=Key(*pattern), currentSubscriberCount=count),
            )
        return True

    def _add_typed(self, topic: Topic[Any]) -> None:
        """Count a typed subscription; warn once per pair overlapping another payload type."""
        entry = self._typed_patterns.get(_typed_key(topic))
        if entry is not None:
            entry[1] += 1
            return
        for other, _ in self._typed_patterns.values():
            pair = (*_typed_key(other), *_typed_key(topic))
            if other.payload_type == topic.payload_type or not overlaps(other, topic):
                continue
            if pair not in self._warned_overlaps:
                self._warned_overlaps.add(pair)
                logger.warning(
                    "typed subscription %r overlaps %r of another payload type: a message "
                    "valid for one may not be delivered to the other",
                    topic,
                    other,
                )
        self._typed_patterns[_typed_key(topic)] = [topic, 1]

    def _remove_typed(self, topic: Topic[Any]) -> None:
        key = _typed_key(topic)
        entry = self._typed_patterns[key]
        entry[1] -= 1
        if not entry[1]:
            del self._typed_patterns[key]

    def remove_subscriber(
        self,
        key: Key[T],
        callback: Callable[[Key, T], object],
        unread: Callable[[], int] | None = None,
    ) -> None:
        """Unsubscribe a callback previously added with :meth:`add_subscriber`.

        Removing a subscription that does not exist is logged and ignored, as in aiopubsub.
        """
        del unread  # accepted for aiopubsub compatibility; the subscription knows its own
        self._remove(key, callback)

    def _remove(self, key: Any, callback: object) -> bool:
        pattern = check_pattern(key)
        target = self._router.remove(pattern, callback)
        if target is None:
            logger.warning("Unsubscribe from nonexistent subscription to key = %r.", tuple(pattern))
            return False
        if isinstance(target.key, Topic):
            self._remove_typed(target.key)
        remaining = self._callback_counts[callback] - 1
        if remaining:
            self._callback_counts[callback] = remaining
        else:
            del self._callback_counts[callback]
        self._generation += 1
        plain = tuple(pattern)
        count = self._key_counts[plain] - 1
        if count:
            self._key_counts[plain] = count
        else:
            del self._key_counts[plain]
        logger.debug("Canceled subscription to key = %r.", plain)
        if not self._closed and self._meta_wanted():
            self._publish_meta(
                REMOVED_SUBSCRIBER,
                pattern,
                SubscriberEvent(key=Key(*pattern), currentSubscriberCount=count),
            )
        return True

    # -- queries ----------------------------------------------------------------------------

    def has_subscribers(self, key: Key[Any] = Key("*")) -> bool:  # noqa: B008 - immutable
        """Whether a publish on ``key`` would reach a callback.

        For a wildcard ``key``: whether a publish on some key it matches would; the default
        ``Key('*')`` asks whether anything is subscribed at all.
        """
        pattern = check_pattern(key)
        if WILDCARD not in pattern:
            return bool(self._route(pattern).callbacks)
        return any(overlaps(target.key, pattern) for target in self._router)

    def _targets_for(self, key: Any) -> list[Target]:
        pattern = check_pattern(key)
        if WILDCARD not in pattern:
            return list(self._route(pattern).targets)
        return sorted((t for t in self._router if overlaps(t.key, pattern)), key=lambda t: t.seq)

    def get_subscriber_queue_sizes(self, key: Key[Any]) -> tuple[int, ...]:
        """Queue sizes of the queued subscriptions a publish on ``key`` reaches."""
        return tuple(t.unread() for t in self._targets_for(key) if t.unread is not None)

    def get_all_subscriber_queue_sizes(self) -> dict[Key[Any], tuple[int, ...]]:
        """Queue sizes of queued subscriptions, by subscribed key."""
        sizes: dict[Key[Any], list[int]] = {}
        for target in sorted(self._router, key=lambda t: t.seq):
            if target.unread is not None:
                sizes.setdefault(Key(*target.key), []).append(target.unread())
        return {key: tuple(values) for key, values in sizes.items()}

    def statistics(self) -> HubStatistics:
        """A frozen snapshot of this hub's counters."""
        live = [route for route in self._shared_routes.values() if route.hits]
        return HubStatistics(
            published=self._published + sum(route.hits for route in live),
            delivered=self._delivered
            + sum(route.hits * len(route.targets) for route in live)
            - self._skipped,
            dropped=self._dropped,
            failed=self._failed,
            subscriptions=self._router.count,
            cached_routes=len(self._routes),
            route_cache_size=self._route_cache_size,
        )

    def _set_telemetry(self, telemetry: Telemetry | None) -> None:
        """Package-internal (telemetry.instrument): trace deliveries through routes from now on."""
        self._telemetry = telemetry
        self._generation += 1  # every cached route is stale: rebuilt with or without wrappers

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError("hub is closed; create a new Hub")

    def _bind_loop(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._loop is not loop:
            old = self._loop
            if old is not None and old.is_running() and self._loop_thread != threading.get_ident():
                return  # bound to a loop running in another thread: stay with it
            self._loop = loop
            self._loop_thread = threading.get_ident()

    def _attach(self, subscriber: Subscriber) -> None:
        self._check_open()
        self._bind_loop()
        self._subscribers.add(subscriber)

    async def aclose(self, *, timeout: float | None = None) -> None:
        """Close every subscriber of this hub (draining their queues), then refuse further use.

        ``timeout`` bounds each subscriber's drain; what is left after it is dropped and
        reported. Idempotent.
        """
        if self._closed:
            return
        subscribers = list(self._subscribers)
        await asyncio.gather(*(s.aclose(timeout=timeout) for s in subscribers))
        self._closed = True
        self._generation += 1  # every cached route is stale: publish reaches _route, which refuses
        tasks = list(self._backlog_tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        for backlog in self._backlogs.values():  # tasks cancelled before they ever ran
            if backlog:
                self._report_drop(backlog[0][0], "publish_threadsafe", "closed", len(backlog))
                backlog.clear()
        self._backlogs.clear()

    async def __aenter__(self) -> Self:
        self._check_open()
        self._bind_loop()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self._router.count} subscriptions"
        return f"<Hub {state}>"

    async def wait_for(
        self,
        topic: Key[T],
        *,
        where: Callable[[T], bool] | None = None,
        timeout: float | None = None,
    ) -> tuple[Key, T]:
        """The next ``(key, message)`` published on ``topic`` after the call, passing ``where``.

        A temporary listener subscribes through ``topic``, so a :class:`Topic` validates and
        converts the payload as for any listener; it is removed on return. Raises
        :class:`TimeoutError` after ``timeout`` seconds (None: wait for ever).
        """
        if where is not None and not callable(where):
            raise TypeError(f"where must be callable or None, got {where!r}")
        if timeout is not None and type(timeout) not in (int, float):
            raise TypeError(f"timeout must be a number or None, got {timeout!r}")
        if timeout is not None and not timeout >= 0:
            raise ValueError(f"timeout must be >= 0, got {timeout!r}")
        self._bind_loop()
        future: asyncio.Future[tuple[Key, T]] = asyncio.get_running_loop().create_future()

        def listener(key: Key, message: T) -> None:
            if not future.done() and (where is None or where(message)):
                future.set_result((Key(*key), message))

        self.add_subscriber(topic, listener)
        try:
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            # Before Python 3.11 asyncio's TimeoutError is not the builtin one.
            raise TimeoutError(f"no message on {tuple(topic)!r} within {timeout} s") from None
        finally:
            if not self._closed:
                self.remove_subscriber(topic, listener)


class Topology(NamedTuple):
    """What a hub holds, for drawing (``schema.mermaid_hub``) and export (``collect_topics``)."""

    subscriptions: tuple[tuple[tuple[str, ...], str], ...]
    """``(pattern, listener label)`` per subscription, in subscription order; a typed
    subscription's pattern is its ``Topic``."""
    publishers: tuple[tuple[str, ...], ...]
    """The key prefix of each live publisher, in no particular order."""


def topology(hub: Hub) -> Topology:
    """Package-internal: the subscriptions and publishers of ``hub``."""
    targets = sorted(hub._router, key=lambda t: t.seq)
    return Topology(
        tuple((t.key, t.label) for t in targets), tuple(tuple(p.prefix) for p in hub._publishers)
    )
