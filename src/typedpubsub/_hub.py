"""The hub: ``Hub``, the public facade, over ``HubCore``, its package-internal API."""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import weakref
from collections.abc import Callable, Coroutine
from threading import get_ident as _get_ident
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from typing_extensions import Self, TypeVar

from ._callbacks import check_listener_types, check_plain, check_result
from ._describe import callback_label, describe
from ._key import WILDCARD, Key, check_pattern, check_publishable, overlaps
from ._meta import Reporter
from ._request import DEFAULT_TIMEOUT, Requests, RequestTopic
from ._retain import DEFAULT_MAX_RETAINED, RetainedStore, check_max_retained, replay
from ._router import Target
from ._routing import Observer, Routing
from ._stats import Counters, HubStatistics
from ._topic import Topic, Validator, convert_for_listener
from .errors import ClosedError, InvalidKeyError, QueueFullError

if TYPE_CHECKING:
    from ._inbox import Bounded
    from ._publisher import Publisher
    from ._subscriber import Subscriber
    from ._telemetry import Telemetry

__all__ = ["Hub", "HubCore", "Topology", "internal", "topology"]

T = TypeVar("T", default=Any)
Req = TypeVar("Req", default=Any)
Resp = TypeVar("Resp", default=Any)

logger = logging.getLogger("typedpubsub")


class HubCore:
    """The package-internal API between a hub and its collaborators.

    ``Subscriber``, ``Stream``, ``Publisher``, the NATS bridge, ``RecordingHub`` and the schema
    export reach a hub only through this object (``internal(hub)``), never through underscored
    members of the hub:

    - ``subscribe`` / ``unsubscribe``: add or remove a target (a callback under a pattern);
      ``uses``, ``targets``, ``subscriptions`` and ``live_hits`` read them;
    - ``deliver``: the one way a validated message reaches its targets (publish, apublish,
      publish_threadsafe, meta messages and bridges all use it; ``Hub.publish`` inlines its
      synchronous case);
    - ``reporter``: logs, counts and publishes listener errors, drops and bridge errors;
    - ``observe``: see every dispatched message (``RecordingHub``);
    - ``retained``, ``replay``, ``clear_remote``, ``add_clear_listener`` /
      ``remove_clear_listener``: retained topics' last values (bridges send and apply
      tombstones);
    - ``instrument`` / ``telemetry``: trace every delivery (``telemetry.instrument``);
    - ``add_bridge`` / ``remove_bridge`` / ``bridge_count`` / ``bridge_seen``: bridges' state;
    - ``bind_loop``, ``check_thread``, ``call_in_loop``: the hub's event loop and its thread;
    - ``attach`` / ``add_publisher`` / ``publishers``: live subscribers and publishers;
    - ``requests``: responders, bridges forwarding requests, requests in flight (``_request``).
    """

    __slots__ = (
        "_backlog_tasks",
        "_backlogs",
        "_observe_meta",
        "_publishers",
        "_subscribers",
        "bridge_seen",
        "loop",
        "reporter",
        "retained",
        "requests",
        "routing",
    )

    def __init__(self, route_cache_size: int, max_retained: int = DEFAULT_MAX_RETAINED) -> None:
        self.reporter = Reporter(self._publish_meta, self._meta_wanted)
        self.retained = RetainedStore(max_retained)
        self.routing = Routing(route_cache_size, self.reporter, self.retained)
        self._observe_meta = False
        # (origin, message id) of messages delivered through any bridge of this hub, oldest
        # first: two bridges that receive one message deliver it once.
        self.bridge_seen: collections.OrderedDict[tuple[str, str], None] = collections.OrderedDict()
        self._subscribers: weakref.WeakSet[Subscriber] = weakref.WeakSet()
        self._publishers: weakref.WeakSet[Publisher] = weakref.WeakSet()
        self.loop: asyncio.AbstractEventLoop | None = None
        # publish_threadsafe messages that wait for room in a full 'block' queue, per thread
        self._backlogs: dict[int, collections.deque[tuple[Any, Any, Any]]] = {}
        self._backlog_tasks: set[asyncio.Task[None]] = set()
        self.requests = Requests(self)  # responders and requests in flight (_request.py)
        self.bind_loop()

    # -- delivery ---------------------------------------------------------------------------

    def deliver(
        self,
        key: Any,
        message: Any,
        source: Validator[Any] | None,
        *,
        local: bool = False,
        wait: bool = False,
        raise_errors: bool = False,
        cache: bool = True,
    ) -> Coroutine[Any, Any, None] | None:
        """Deliver a validated ``message`` on ``key`` (``source``: its topic's validator).

        ``local``: not to bridges' outbound targets (it arrived through a bridge, or is a
        bridge's report). ``wait``: where a bounded ``block`` queue it reaches is full, deliver
        nothing now and return a coroutine to await instead, which waits for room first.
        ``raise_errors``: a full queue's refusal raises (after the others got the message);
        else it is logged. ``cache``: keep the key's route for later (meta messages, on keys
        mostly never seen again, do not). Raises ClosedError on a closed hub, and the key's
        error for a key that cannot be published on.
        """
        routing = self.routing
        route = routing.route(key, cache)
        if local:
            route = routing.local_route(route)
        if wait and any(inbox.blocks() for inbox in route.bounded):
            return self._deliver_with_room(key, message, source, local, raise_errors)
        routing.dispatch(route, key, message, source, raise_errors)
        return None

    def must_wait(self, key: Any) -> bool:
        """Whether a waiting ``deliver`` on ``key`` would wait for room now."""
        return any(inbox.blocks() for inbox in self.routing.route(key).bounded)

    async def _deliver_with_room(
        self,
        key: Any,
        message: Any,
        source: Validator[Any] | None,
        local: bool,
        raise_errors: bool,
    ) -> None:
        routing = self.routing
        while True:
            route = routing.route(key)
            if local:
                route = routing.local_route(route)
            # A closing queue does not block: waiting for it would spin.
            full = [inbox for inbox in route.bounded if inbox.blocks()]
            if not full:
                break
            await full[0].wait_room(full[0].max_size - 1)
        # A full queue that still refuses (``raise``) counts and reports the drop itself.
        routing.dispatch(route, key, message, source, raise_errors)

    def deliver_from_thread(
        self, thread: int, key: Key[Any], message: Any, source: Validator[Any] | None
    ) -> None:
        """In the loop: deliver what ``publish_threadsafe`` sent from ``thread``, in its order."""
        if self.routing.closed:
            logger.warning("message on key %r arrived after the hub closed; not delivered", key)
            return
        backlog = self._backlogs.get(thread)
        if backlog is None:
            if not self.must_wait(key):
                # Errors (a full 'raise' queue, an invalid payload for a typed listener) are
                # reported there and logged here: the publishing thread has moved on.
                self.deliver(key, message, source)
                return
            # A full 'block' queue: wait for room in the loop, and queue this thread's later
            # messages behind it to keep their order.
            backlog = self._backlogs[thread] = collections.deque()
            assert self.loop is not None
            task = self.loop.create_task(self._drain_backlog(thread, backlog))
            self._backlog_tasks.add(task)
            task.add_done_callback(self._backlog_tasks.discard)
        backlog.append((key, message, source))

    async def _drain_backlog(self, thread: int, backlog: collections.deque[Any]) -> None:
        try:
            while backlog and not self.routing.closed:
                key, message, source = backlog[0]
                try:
                    waiting = self.deliver(key, message, source, wait=True)
                    if waiting is not None:
                        await waiting
                except ClosedError:
                    break
                backlog.popleft()
        finally:
            self._backlogs.pop(thread, None)
            if backlog:
                self.reporter.drop(
                    backlog[0][0], "publish_threadsafe", "closed", len(backlog), False
                )

    def _meta_wanted(self, key: tuple[str, ...]) -> bool:
        if self._observe_meta:
            return True
        router = self.routing.router
        return router.may_match_first("Hub") and bool(router.match(key))

    def _publish_meta(
        self, key: Key[Any], payload: Any, source: Validator[Any], local: bool
    ) -> None:
        try:
            self.deliver(key, payload, source, local=local, cache=False)
        except Exception:  # pragma: no cover - dispatch reports everything itself
            logger.exception("could not publish on %r", key)

    @property
    def telemetry(self) -> Telemetry | None:
        """The hub's instrumentation (telemetry.instrument), None if it is not instrumented."""
        return self.routing.telemetry

    def instrument(self, telemetry: Telemetry | None) -> None:
        """Trace every delivery through ``telemetry`` from now on (None: stop)."""
        self.routing.telemetry = telemetry
        self.routing.invalidate()

    def observe(self, observer: Observer, *, meta: bool) -> None:
        """Call ``observer(key, message)`` before each dispatch; ``meta``: build meta messages
        even when no listener wants them (the observer sees them)."""
        self.routing.observer = observer
        self._observe_meta = meta
        self.routing.invalidate()

    # -- subscriptions ----------------------------------------------------------------------

    def subscribe(
        self,
        key: Any,
        callback: Callable[[Any, Any], object],
        *,
        unread: Callable[[], int] | None = None,
        inbox: Bounded | None = None,
        stats: Counters | None = None,
        label: str | None = None,
        added: list[tuple[Target, int]] | None = None,
    ) -> bool:
        """Add a target: ``callback`` under the pattern ``key``; False (logged) if a repeat.

        ``inbox``: the queue ``callback`` puts into (waited for by waiting deliveries);
        ``stats``: the counters of its listener; ``unread``: its queue size, for queries;
        ``added`` (for :meth:`replay`) gets the new target with the retained store's count
        noted just before the target was in place.
        """
        self.check_open()
        pattern = check_pattern(key)
        label = label or callback_label(callback)
        mark = self.retained.seq
        count = self.routing.add(pattern, callback, unread, inbox, stats, label)
        if count is None:
            logger.warning("Repeated subscription to key = %r.", tuple(pattern))
            return False
        if added is not None:
            target = self.routing.router.get(pattern, callback)
            assert target is not None
            added.append((target, mark))
        logger.debug("Subscription to key = %r.", tuple(pattern))
        self.reporter.subscriber_event(True, pattern, count)
        return True

    def unsubscribe(self, key: Any, callback: object) -> bool:
        """Remove a target; False (logged) if there was none."""
        pattern = check_pattern(key)
        count = self.routing.remove(pattern, callback)
        if count is None:
            logger.warning("Unsubscribe from nonexistent subscription to key = %r.", tuple(pattern))
            return False
        logger.debug("Canceled subscription to key = %r.", tuple(pattern))
        self.reporter.subscriber_event(False, pattern, count)
        return True

    def uses(self, callback: object) -> bool:
        """Whether ``callback`` is subscribed (a subscription is known by its callback)."""
        return self.routing.uses(callback)

    # -- retained values --------------------------------------------------------------------

    def replay(self, added: list[tuple[Target, int]]) -> None:
        """Give the targets one subscription added (see :meth:`subscribe`) the retained values
        their retained topics match, oldest first, each once (see :func:`replay`)."""
        if not (added and len(self.retained)):
            return
        callback = added[0][0].callback
        others: list[tuple[str, ...]] = []
        if self.routing.callback_count(callback) > len(added):
            # Subscribed before under other patterns (subscribe(), add_subscriber()): what
            # those match reached it already, live or replayed.
            mine = {id(target) for target, _ in added}
            others = [t.key for t in self.routing if t.callback is callback and id(t) not in mine]
        replay(self.retained, added, self.routing.deliver_one, others)

    def clear(self, key: tuple[str, ...], topic: Topic[Any]) -> bool:
        """Forget the value retained for ``key``; tell the bridges (they send a tombstone)."""
        self.check_open()
        loop = self.loop
        if loop is not None and loop.is_running() and _get_ident() != self.loop_thread:
            raise RuntimeError("clear must be called in the hub's event loop thread")
        found = self.retained.clear(key)
        for on_clear in list(self.retained.on_clear):
            on_clear(topic)
        return found

    def clear_remote(self, key: Any) -> None:
        """Apply a tombstone that arrived through a bridge (no bridge is told of it)."""
        self.retained.clear(tuple(key))

    def add_clear_listener(self, callback: Callable[[Topic[Any]], None]) -> None:
        """Call ``callback(topic)`` on each ``Hub.clear`` (a bridge sends the tombstone)."""
        self.retained.on_clear.append(callback)

    def remove_clear_listener(self, callback: Callable[[Topic[Any]], None]) -> None:
        if callback in self.retained.on_clear:
            self.retained.on_clear.remove(callback)

    def targets(self, key: Any) -> list[Target]:
        """The targets a publish on ``key`` reaches (for a pattern: on some key it matches)."""
        return self.routing.targets(key)

    def subscriptions(self) -> list[Target]:
        """Every target, in subscription order."""
        return self.routing.subscriptions()

    def live_hits(self, stats: Counters) -> int:
        """Publishes that reached the listener counting into ``stats``, not yet folded in."""
        return self.routing.live_hits(stats)

    # -- bridges ----------------------------------------------------------------------------

    def add_bridge(self, callback: object) -> None:
        """Mark ``callback`` as a bridge's outbound target: local deliveries skip it."""
        self.routing.bridges.add(callback)
        self.routing.invalidate()

    def remove_bridge(self, callback: object) -> None:
        self.routing.bridges.discard(callback)
        self.routing.invalidate()

    def bridge_count(self) -> int:
        return len(self.routing.bridges)

    def is_bridge(self, callback: object) -> bool:
        return callback in self.routing.bridges

    # -- loop, lifecycle, registries --------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self.routing.closed

    @property
    def loop_thread(self) -> int | None:
        """The thread running the hub's event loop (kept by routing, for the hot path)."""
        return self.routing.loop_thread

    def check_open(self) -> None:
        if self.routing.closed:
            raise ClosedError("hub is closed; create a new Hub")

    def bind_loop(self) -> None:
        """Bind the hub to the running event loop, unless bound to one running elsewhere."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self.loop is not loop:
            old = self.loop
            if old is not None and old.is_running() and self.loop_thread != threading.get_ident():
                return  # bound to a loop running in another thread: stay with it
            self.loop = loop
            self.routing.loop_thread = threading.get_ident()

    def check_thread(self) -> None:
        """Refuse a publish from a thread other than that of the hub's running loop."""
        loop = self.loop
        if loop is not None and loop.is_running() and threading.get_ident() != self.loop_thread:
            raise RuntimeError(
                "publish must be called in the hub's event loop thread; "
                "use hub.publish_threadsafe(key, message) from other threads"
            )

    def call_in_loop(self, function: Callable[..., object], *args: Any) -> None:
        """Call ``function(*args)`` in the loop's thread: now if this is it (or none runs)."""
        loop = self.loop
        if loop is not None and loop.is_running() and self.loop_thread != threading.get_ident():
            loop.call_soon_threadsafe(function, *args)
        else:
            function(*args)

    def attach(self, subscriber: Subscriber) -> None:
        self.check_open()
        self.bind_loop()
        self._subscribers.add(subscriber)

    def add_publisher(self, publisher: Publisher) -> None:
        self._publishers.add(publisher)

    def publishers(self) -> list[Publisher]:
        return list(self._publishers)

    async def aclose(self, timeout: float | None) -> None:
        if self.routing.closed:
            return
        self.requests.close()  # requests in flight fail with ClosedError
        subscribers = list(self._subscribers)
        await asyncio.gather(*(s.aclose(timeout=timeout) for s in subscribers))
        self.routing.closed = True
        self.reporter.closed = True
        # Every cached route is stale: publish reaches route(), which refuses.
        self.routing.invalidate()
        tasks = list(self._backlog_tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        for backlog in self._backlogs.values():  # tasks cancelled before they ever ran
            if backlog:
                self.reporter.drop(
                    backlog[0][0], "publish_threadsafe", "closed", len(backlog), False
                )
                backlog.clear()
        self._backlogs.clear()


def internal(hub: Hub) -> HubCore:
    """The package-internal API of ``hub`` (see :class:`HubCore`)."""
    return hub._core


class Hub:
    """Accepts messages from publishers and routes them, by key, to subscribed callbacks.

    ``publish`` is synchronous: sync callbacks run before it returns; async listeners' queues
    receive the message before it returns. Routing cost does not grow with the number of
    subscriptions; resolved routes are cached for up to ``route_cache_size`` distinct keys.
    Values published through retained topics are kept for up to ``max_retained`` distinct
    keys (the least recently published key is forgotten first).
    """

    def __init__(
        self, *, route_cache_size: int = 65_536, max_retained: int = DEFAULT_MAX_RETAINED
    ) -> None:
        if type(route_cache_size) is not int:
            raise TypeError(f"route_cache_size must be int, got {describe(route_cache_size)}")
        if route_cache_size < 1:
            raise ValueError(f"route_cache_size must be >= 1, got {route_cache_size}")
        self._core = HubCore(route_cache_size, check_max_retained(max_retained))
        self._routing = self._core.routing  # the hot path's, one attribute away
        # wait_for's futures and patterns: aclose fails them with ClosedError
        self._waiters: dict[asyncio.Future[Any], tuple[str, ...]] = {}

    # -- publishing -------------------------------------------------------------------------

    def publish(self, key: Key[T], message: T) -> None:
        """Deliver ``message`` to every callback subscribed to a pattern that matches ``key``.

        Through a :class:`Topic` the payload is validated first; an invalid one raises
        :class:`PayloadValidationError` and reaches nobody. Errors of listeners are isolated
        (logged, counted, published on ``LISTENER_ERROR``); a full bounded queue whose policy is
        ``raise`` or ``block`` raises :class:`QueueFullError` after the others got the message.
        """
        # HubCore.deliver (with Routing.dispatch), inlined: the only copy, for the benchmark's
        # "1 -> 1 sync listener" and "real recorded keys" rows.
        # A closed hub has no cached routes: route() raises there.
        routing = self._routing
        # One C call and a compare (~75 ns of a ~330 ns publish on the CI machine, measured
        # with timeit): a foreign thread would otherwise corrupt the loop's state unnoticed.
        if _get_ident() != routing.loop_thread and routing.loop_thread is not None:
            self._core.check_thread()
        try:
            route = routing.cache.get(key)
        except TypeError:  # unhashable: route() explains what a key must be
            route = None
        if route is None:
            route = routing.route(key)
        source: Validator[Any] | None = None
        # type() first: isinstance on the generic Topic costs about twice as much (timeit).
        if type(key) is not Key and isinstance(key, Topic):
            source = key._validator
            message = key.validate(message)
            if key.retain:
                routing.retained.put(key, message, key._validator)
        route.hits += 1
        if route.slow and route.slow is not source:
            errors = routing.dispatch_slow(route, key, message, source)
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
                    routing.callback_failed(route, callback, key, exc)
        if errors:
            raise errors[0]

    async def apublish(self, key: Key[T], message: T) -> None:
        """Like :meth:`publish`, but first wait for room in bounded ``block`` queues it reaches."""
        core = self._core
        core.bind_loop()
        if core.loop_thread is not None and threading.get_ident() != core.loop_thread:
            core.check_thread()
        core.routing.route(key)  # a closed hub or a bad key raises before validation
        source = key._validator if isinstance(key, Topic) else None
        if isinstance(key, Topic):
            message = key.validate(message)
        waiting = core.deliver(key, message, source, wait=True, raise_errors=True)
        if waiting is not None:
            await waiting

    def publish_threadsafe(self, key: Key[T], message: T) -> None:
        """Publish from another thread into the hub's event loop; per-thread order is kept.

        The payload is validated in the calling thread (errors raise there); delivery happens
        in the loop thread, where listener errors are reported as usual.
        """
        core = self._core
        loop = core.loop
        if loop is None:
            raise RuntimeError(
                "hub has no event loop yet: create it, or add a listener to it, inside the loop"
            )
        core.check_open()
        check_publishable(key)
        if isinstance(key, Topic):
            message = key.validate(message)
        source = key._validator if isinstance(key, Topic) else None
        thread = threading.get_ident()
        if thread == core.loop_thread:
            core.deliver(key, message, source, raise_errors=True)
            return
        loop.call_soon_threadsafe(core.deliver_from_thread, thread, key, message, source)

    def report_listener_error(self, key: Any, listener: str, exc: BaseException) -> None:
        """Log, count and publish (on ``LISTENER_ERROR``) a failure of ``listener`` on ``key``."""
        self._core.reporter.listener_error(key, listener, exc)

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
            raise TypeError(f"callback must be callable, got {describe(callback)}")
        if unread is not None and not callable(unread):
            raise TypeError(f"unread must be callable or None, got {describe(unread)}")
        check_plain(callback, "a Subscriber's add_async_listener runs async functions")
        check_listener_types(callback, (check_pattern(key),))
        added: list[tuple[Target, int]] = []
        self._core.subscribe(key, callback, unread=unread, added=added)
        self._core.replay(added)

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
        self._core.unsubscribe(key, callback)

    # -- queries ----------------------------------------------------------------------------

    def has_subscribers(self, key: Key[Any] = Key("*")) -> bool:  # noqa: B008 - immutable
        """Whether a publish on ``key`` would reach a callback.

        For a wildcard ``key``: whether a publish on some key it matches would; the default
        ``Key('*')`` asks whether anything is subscribed at all.
        """
        pattern = check_pattern(key)
        if WILDCARD not in pattern:
            return bool(self._routing.route(pattern).callbacks)
        return any(overlaps(target.key, pattern) for target in self._routing)

    def get_subscriber_queue_sizes(self, key: Key[Any]) -> tuple[int, ...]:
        """Queue sizes of the queued subscriptions a publish on ``key`` reaches."""
        return tuple(t.unread() for t in self._routing.targets(key) if t.unread is not None)

    def get_all_subscriber_queue_sizes(self) -> dict[Key[Any], tuple[int, ...]]:
        """Queue sizes of queued subscriptions, by subscribed key."""
        sizes: dict[Key[Any], list[int]] = {}
        for target in self._routing.subscriptions():
            if target.unread is not None:
                sizes.setdefault(Key(*target.key), []).append(target.unread())
        return {key: tuple(values) for key, values in sizes.items()}

    def statistics(self) -> HubStatistics:
        """A frozen snapshot of this hub's counters."""
        routing = self._routing
        reporter = self._core.reporter
        published, delivered = routing.totals()
        return HubStatistics(
            published=published,
            delivered=delivered - reporter.skipped,
            dropped=reporter.dropped,
            failed=reporter.failed,
            subscriptions=routing.router.count,
            cached_routes=len(routing.cache),
            route_cache_size=routing.cache_size,
            retained=len(routing.retained),
            max_retained=routing.retained.max_size,
        )

    # -- retained values --------------------------------------------------------------------

    def last(self, topic: Topic[T]) -> T | None:
        """The value retained for the concrete, retained ``topic``, or None if there is none.

        A value retained through a topic of another payload type is converted as for a
        listener of ``topic`` (:class:`PayloadValidationError` if it does not validate).
        """
        key = _check_retained(topic, "last")
        entry = self._routing.retained.get(key)
        if entry is None:
            return None
        if entry.source is topic._validator:
            return cast("T", entry.message)
        return convert_for_listener(topic, key, entry.message, entry.source)

    def clear(self, topic: Topic[Any]) -> bool:
        """Forget the value retained for the concrete, retained ``topic`` (a tombstone).

        Later subscribers do not receive it, and bridges send the tombstone to their peers.
        Listeners already subscribed receive nothing. Returns whether a value was retained.
        """
        return self._core.clear(_check_retained(topic, "clear"), topic)

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._routing.closed

    async def aclose(self, *, timeout: float | None = None) -> None:
        """Close every subscriber of this hub (draining their queues), then refuse further use.

        ``timeout`` bounds each subscriber's drain; what is left after it is dropped and
        reported. Idempotent.
        """
        for waiter, pattern in list(self._waiters.items()):
            if not waiter.done():
                waiter.set_exception(
                    ClosedError(f"hub closed while waiting for a message on {pattern!r}")
                )
        await self._core.aclose(timeout)

    async def __aenter__(self) -> Self:
        self._core.check_open()
        self._core.bind_loop()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{self._routing.router.count} subscriptions"
        return f"<Hub {state}>"

    async def request(
        self,
        topic: RequestTopic[Req, Resp],
        payload: Req,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> Resp:
        """Send ``payload`` on the concrete ``topic`` and return the validated reply.

        The payload is validated first; listeners of the key observe it; the first responder
        registered for a matching pattern answers (or, if none is local, a bridge's remote
        one). Raises :class:`NoResponderError`, :class:`RequestTimeoutError` after ``timeout``
        seconds (None: wait for ever), or :class:`ResponderError` if the responder raised.
        """
        self._core.bind_loop()
        return await self._core.requests.request(topic, payload, timeout)

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
        :class:`TimeoutError` after ``timeout`` seconds (None: wait for ever),
        :class:`ClosedError` if the hub closes first, or what ``where`` raised.
        """
        if where is not None and not callable(where):
            raise TypeError(f"where must be callable or None, got {describe(where)}")
        if timeout is not None and type(timeout) not in (int, float):
            raise TypeError(f"timeout must be a number or None, got {describe(timeout)}")
        if timeout is not None and not timeout >= 0:
            raise ValueError(f"timeout must be >= 0, got {timeout!r}")
        self._core.bind_loop()
        future: asyncio.Future[tuple[Key, T]] = asyncio.get_running_loop().create_future()

        def listener(key: Key, message: T) -> None:
            if future.done():
                return
            try:
                wanted = where is None or where(message)
            except Exception as exc:  # the waiter's own error: it goes to the waiter
                future.set_exception(exc)
                return
            if wanted:
                future.set_result((Key(*key), message))

        # Not add_subscriber: the next message, never a retained one replayed.
        self._core.subscribe(topic, listener)
        self._waiters[future] = tuple(topic)
        try:
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            # Before Python 3.11 asyncio's TimeoutError is not the builtin one.
            raise TimeoutError(f"no message on {tuple(topic)!r} within {timeout} s") from None
        finally:
            del self._waiters[future]
            if not self.closed:
                self.remove_subscriber(topic, listener)


def _check_retained(topic: object, method: str) -> tuple[str, ...]:
    """The key of a concrete, retained topic given to ``method``, or the error saying why not."""
    if not isinstance(topic, Topic):
        raise TypeError(f"topic must be a Topic, got {describe(topic)}")
    if not topic.retain:
        raise ValueError(
            f"topic must be retained (Topic(..., retain=True)) for {method}(), got {topic!r}"
        )
    if WILDCARD in topic:
        raise InvalidKeyError(
            f"topic must be concrete (no wildcard '*') for {method}(), got {tuple(topic)!r}",
            tuple(topic),
        )
    return tuple(topic)


class Topology(NamedTuple):
    """What a hub holds, for drawing (``schema.mermaid_hub``) and export (``collect_topics``)."""

    subscriptions: tuple[tuple[tuple[str, ...], str], ...]
    """``(pattern, listener label)`` per subscription, in subscription order; a typed
    subscription's pattern is its ``Topic``."""
    publishers: tuple[tuple[str, ...], ...]
    """The key prefix of each live publisher, in no particular order."""


def topology(hub: Hub) -> Topology:
    """Package-internal: the subscriptions and publishers of ``hub``."""
    core = internal(hub)
    return Topology(
        tuple((t.key, t.label) for t in core.subscriptions()),
        tuple(tuple(p.prefix) for p in core.publishers()),
    )
