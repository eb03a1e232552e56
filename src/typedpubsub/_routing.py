"""Routing: the subscriptions of a hub, the route of each concrete key (cached) and dispatch.

The subscriptions live in a trie (:mod:`._router`, one concept of its own: patterns to
targets). This module adds what a hub needs on top: a bounded cache of resolved routes by
concrete key, which holds only valid routes (a change drops the entries it affects); the hit
counters that statistics are derived from; and the dispatch loops that hand a message to the
targets of a route.
"""

from __future__ import annotations

import collections
import itertools
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, cast

from ._callbacks import check_result
from ._key import WILDCARD, Key, check_pattern, check_publishable, overlaps
from ._meta import Reporter
from ._retain import RetainedStore
from ._router import Router, Target
from ._stats import Counters
from ._topic import Topic, Validator, convert_or_error
from .errors import ClosedError, QueueFullError

if TYPE_CHECKING:
    from ._inbox import Bounded
    from ._telemetry import Telemetry

__all__ = ["Route", "Routing"]

logger = logging.getLogger("typedpubsub")

Observer = Callable[[Key[Any], Any], None]
"""Called with ``(key, message)`` before each dispatch (``RecordingHub`` records with it)."""


class Route:
    """What one concrete key reaches, computed once and cached until subscriptions change."""

    __slots__ = ("bounded", "callbacks", "calls", "hits", "local", "slow", "targets")

    def __init__(
        self, targets: tuple[Target, ...], observed: bool, telemetry: Telemetry | None = None
    ) -> None:
        self.targets = targets
        self.callbacks = tuple(t.callback for t in targets)
        # What dispatch calls, target by target: the callbacks themselves, or (on a hub given
        # to telemetry.instrument) wrappers that trace each delivery; so an uninstrumented hub
        # pays nothing per message for telemetry.
        self.calls = self.callbacks if telemetry is None else telemetry.wrap_targets(targets)
        # Typed targets (or an observer) need dispatch_slow; the plain loop serves the rest.
        # When every typed target has one validator, a message published through a topic of
        # that validator is already valid for each: ``slow`` is then that validator, and the
        # plain loop serves its publishers too (it names a failing target by its callback, so
        # only if callbacks are distinct). Typed 1 -> 1 publishes run the loop of untyped ones.
        validators = {t.validator for t in targets if t.validator is not None}
        distinct = len({id(callback) for callback in self.callbacks}) == len(self.callbacks)
        self.slow: bool | Validator[Any] = (
            validators.pop()
            if len(validators) == 1 and distinct and not observed
            else observed or bool(validators)
        )
        # Bounded queues reached: where a waiting delivery may have to wait for room.
        self.bounded: tuple[Bounded, ...] = tuple(
            t.inbox for t in targets if t.inbox is not None and t.inbox.max_size
        )
        # Publishes through this route: the only counter on the hot path. Hub and sync
        # listener statistics are derived from it (see Routing.retire).
        self.hits = 0
        # This route without bridges' outbound targets, for what arrived through a bridge.
        self.local: Route | None = None


def _typed_key(topic: Topic[Any]) -> tuple[tuple[str, ...], object]:
    """A topic's pattern and payload type as a dict key (an unhashable type by identity)."""
    payload_type: object = topic.payload_type
    try:
        hash(payload_type)
    except TypeError:  # Annotated[int, {"unit": "ms"}]; the entry keeps the type alive
        payload_type = id(payload_type)
    return tuple(topic), payload_type


class Routing:
    """A hub's subscriptions and routes; package-internal, used through the hub's core.

    ``route(key)`` resolves (and caches) what a concrete key reaches; ``dispatch`` hands a
    validated message to a route's targets, isolating and reporting their failures through
    the reporter. ``add`` / ``remove`` change the subscriptions; ``targets`` and
    ``subscriptions`` read them.
    """

    __slots__ = (
        "_callback_counts",
        "_order",
        "_seq",
        "_shared",
        "_typed_patterns",
        "_warned_overlaps",
        "bridges",
        "cache",
        "cache_size",
        "closed",
        "loop_thread",
        "observer",
        "published",
        "delivered",
        "reporter",
        "retained",
        "router",
        "telemetry",
    )

    def __init__(self, cache_size: int, reporter: Reporter, retained: RetainedStore) -> None:
        self.router = Router()
        self.reporter = reporter
        # The last values of retained topics: stored as they are dispatched (see dispatch).
        self.retained = retained
        # Concrete key -> its route. Every entry is valid: a change of subscriptions drops the
        # entries it affects (a concrete pattern's own, or all of them), so a hit needs no check.
        self.cache: dict[tuple[str, ...], Route] = {}
        # The cache's keys, oldest first (FIFO eviction), without an OrderedDict node per entry;
        # it may hold keys dropped since (skipped when evicting), so it is rebuilt when it
        # outgrows the cache twice over.
        self._order: collections.deque[tuple[str, ...]] = collections.deque()
        self.cache_size = cache_size
        self.closed = False
        # The thread running the hub's event loop (None: none yet), read by Hub.publish.
        self.loop_thread: int | None = None
        self.observer: Observer | None = None
        # Set while the hub is instrumented (telemetry.instrument): routes trace deliveries.
        self.telemetry: Telemetry | None = None
        # Bridges' outbound callbacks: what arrived through a bridge never reaches them.
        self.bridges: set[object] = set()
        self.published = 0  # publishes and deliveries of retired routes; see totals()
        self.delivered = 0
        # Routes by their targets: keys reaching the same targets share one route object, so
        # a cached key costs little more than its dict entry.
        self._shared: dict[tuple[Target, ...], Route] = {}
        self._seq = itertools.count()
        # Subscriptions per callback: a subscription is known by its (pattern, callback), so a
        # caller that must not share a callback with another subscription asks here.
        self._callback_counts: dict[object, int] = {}
        # Typed subscriptions by (pattern, payload type), to warn once about overlapping types.
        self._typed_patterns: dict[tuple[tuple[str, ...], object], list[Any]] = {}
        self._warned_overlaps: set[tuple[object, ...]] = set()

    # -- routes -----------------------------------------------------------------------------

    def route(self, key: Any, cache: bool = True) -> Route:
        """The route of concrete ``key``; raises ClosedError, or the key's error if it is none.

        ``cache``: keep it for the next publish on ``key`` (meta messages, mostly on keys never
        seen again, are routed without).
        """
        if self.closed:
            raise ClosedError("hub is closed; create a new Hub to publish")
        try:
            route = self.cache.get(key) if isinstance(key, tuple) else None
        except TypeError:  # unhashable parts: check_publishable says which
            route = None
        if route is not None:
            return route
        key = check_publishable(key)
        targets = tuple(self.router.match(key))
        route = self._shared.get(targets)
        if route is None:
            if len(self._shared) >= self.cache_size:
                # Retire the shared routes (their hits counted) and the cache entries that
                # reach them: memory stays bounded however many target sets there are.
                self.invalidate()
            route = self._shared[targets] = Route(
                targets, self.observer is not None, self.telemetry
            )
        if cache:
            self._keep(key, route)
        return route

    def _keep(self, key: Key[Any], route: Route) -> None:
        cache = self.cache
        # A Topic (with its own __dict__) is not kept as the cache's key: its plain parts are.
        plain: tuple[str, ...] = key if type(key) is Key else tuple(key)
        if plain not in cache:
            order = self._order
            if len(cache) >= self.cache_size:
                # Evict the oldest entry (FIFO): it keeps memory bounded however many distinct
                # keys are published, in O(1); an LRU's reordering would cost every cache hit.
                while cache.pop(order.popleft(), None) is None:
                    pass
            if len(order) >= 2 * self.cache_size:
                self._order = order = collections.deque(cache)
            order.append(plain)
        cache[plain] = route

    def local_route(self, route: Route) -> Route:
        """``route`` without bridges' outbound targets (for what arrived through a bridge)."""
        local = route.local
        if local is None:
            bridges = self.bridges
            targets = tuple(t for t in route.targets if t.callback not in bridges)
            local = route
            if len(targets) != len(route.targets):
                local = self._shared.get(targets) or Route(
                    targets, self.observer is not None, self.telemetry
                )
                self._shared[targets] = local
            route.local = local
        return local

    def invalidate(self) -> None:
        """Drop every cached route and retire the shared ones (a change that may affect all)."""
        self.retire()
        self.cache.clear()
        self._order.clear()

    def _changed(self, pattern: tuple[str, ...]) -> None:
        """Drop the cached routes a subscription change on ``pattern`` affects."""
        if WILDCARD in pattern:
            self.invalidate()
        else:  # only the key equal to a concrete pattern routes differently now
            route = self.cache.pop(pattern, None)
            if route is not None and any(t.key == pattern for t in route.targets):
                # Only this key reaches a target on this concrete pattern: retire its route
                # now rather than keep what it holds (a removed listener) until the next retire.
                if self._shared.get(route.targets) is route:
                    del self._shared[route.targets]
                self._fold(route)

    def retire(self) -> None:
        """Drop the shared routes, folding their hit counts into the counters they stand for."""
        for route in self._shared.values():
            if route.hits:
                self._fold(route)
        self._shared = {}

    def _fold(self, route: Route) -> None:
        hits = route.hits
        route.hits = 0
        self.published += hits
        self.delivered += hits * len(route.targets)
        for target in route.targets:
            if target.inbox is None and target.stats is not None:
                target.stats.delivered += hits

    def live_hits(self, stats: Counters) -> int:
        """Publishes that reached the targets counting into ``stats`` through live routes.

        By the counters, not the callback: a callback removed and subscribed again is a new
        listener, which must not count what routes still live counted for the old one.
        """
        return sum(
            route.hits
            for route in self._shared.values()
            if route.hits and any(t.stats is stats for t in route.targets)
        )

    def totals(self) -> tuple[int, int]:
        """``(published, delivered)`` so far, live routes included."""
        live = [route for route in self._shared.values() if route.hits]
        return (
            self.published + sum(route.hits for route in live),
            self.delivered + sum(route.hits * len(route.targets) for route in live),
        )

    # -- dispatch ---------------------------------------------------------------------------

    def dispatch(
        self,
        route: Route,
        key: Any,
        message: Any,
        source: Validator[Any] | None,
        raise_errors: bool,
    ) -> None:
        """Hand ``message`` (valid for ``source``, its topic's validator, if any) to ``route``.

        Failures of targets are isolated and reported; full queues that refuse it raise their
        :class:`QueueFullError` (the first one) after every other target got the message when
        ``raise_errors``, else they are logged (the drop is reported by the queue itself).
        """
        if source is not None and isinstance(key, Topic) and key.retain:
            # Retained when dispatched (not when validated): apublish may wait between the two.
            self.retained.put(key, message, source)
        route.hits += 1
        if route.slow and route.slow is not source:
            errors = self.dispatch_slow(route, key, message, source)
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
                    self.callback_failed(route, callback, key, exc)
        if errors:
            if raise_errors:
                raise errors[0]
            for error in errors:
                logger.error("%s", error)

    def dispatch_slow(
        self, route: Route, key: Any, message: Any, source: Validator[Any] | None
    ) -> list[Exception] | None:
        """The dispatch loop for typed targets (and an observer): returns the queues' refusals."""
        if self.observer is not None:
            self.observer(key, message)
        reporter = self.reporter
        errors: list[Exception] | None = None
        # Each listener type validates the message once per publish, not once per listener.
        converted: dict[Validator[Any], tuple[bool, Any]] = {}
        for target, call in zip(route.targets, route.calls, strict=True):
            validator = target.validator
            payload = message
            if validator is not None and validator is not source:
                outcome = converted.get(validator)
                if outcome is None:
                    # only a topic's subscription has a validator
                    topic = cast("Topic[Any]", target.key)
                    outcome = convert_or_error(topic, key, message, source, target.label)
                    converted[validator] = outcome
                    if not outcome[0] and source is None:
                        errors = errors or []
                        errors.append(outcome[1])
                if not outcome[0]:
                    reporter.skipped += 1
                    if source is None:  # untyped publish: the publisher hears of it
                        reporter.failed += 1
                        if target.stats is not None:
                            target.stats.failed += 1
                    else:  # valid for its own topic: a conflict between topics, reported
                        self.target_failed(target, key, outcome[1])
                    continue
                payload = outcome[1]
            try:
                if (result := call(key, payload)) is not None:
                    check_result(result)
            except QueueFullError as exc:
                errors = errors or []
                errors.append(exc)
            except Exception as exc:
                self.target_failed(target, key, exc)
        return errors

    def deliver_one(
        self, target: Target, key: Any, message: Any, source: Validator[Any] | None
    ) -> None:
        """Hand ``message`` to one target only (a retained value replayed to a subscription).

        Converted and counted as ``dispatch_slow`` would for this target; a full queue's
        refusal is counted and reported by the queue, never raised.
        """
        stats = target.stats
        if target.inbox is None and stats is not None:
            stats.delivered += 1  # a sync listener's count is of attempts, less its failures
        if target.validator is not None and target.validator is not source:
            topic = cast("Topic[Any]", target.key)
            converted, payload = convert_or_error(topic, key, message, source, target.label)
            if not converted:
                self.target_failed(target, key, payload)
                return
            message = payload
        self.delivered += 1
        try:
            if (result := target.callback(key, message)) is not None:
                check_result(result)
        except QueueFullError:
            pass
        except Exception as exc:
            self.target_failed(target, key, exc)

    def callback_failed(self, route: Route, callback: object, key: Any, exc: Exception) -> None:
        """Report the failure of ``callback`` (one of ``route``'s calls) on ``key``."""
        for target, call in zip(route.targets, route.calls, strict=True):
            if call is callback:
                self.target_failed(target, key, exc)
                return

    def target_failed(self, target: Target, key: Any, exc: BaseException) -> None:
        """Count and report the failure of ``target`` on ``key``."""
        if target.stats is not None:
            target.stats.failed += 1
        self.reporter.listener_error(key, target.label, exc)

    # -- subscriptions ----------------------------------------------------------------------

    def add(
        self,
        pattern: Key[Any],
        callback: Callable[[Any, Any], object],
        unread: Callable[[], int] | None,
        inbox: Bounded | None,
        stats: Counters | None,
        label: str,
    ) -> int | None:
        """Subscribe; the number of callbacks on exactly ``pattern`` after it, None if a repeat."""
        validator = pattern._validator if isinstance(pattern, Topic) else None
        target = Target(pattern, callback, next(self._seq), validator, unread, inbox, stats, label)
        count = self.router.add(target)
        if count is None:
            return None
        if validator is not None:
            self._add_typed(cast("Topic[Any]", pattern))
        self._callback_counts[callback] = self._callback_counts.get(callback, 0) + 1
        self._changed(pattern)
        return count

    def remove(self, pattern: Key[Any], callback: object) -> int | None:
        """Unsubscribe; the number of callbacks left on ``pattern``, None if it was not there."""
        removed = self.router.remove(pattern, callback)
        if removed is None:
            return None
        target, count = removed
        if isinstance(target.key, Topic):
            self._remove_typed(target.key)
        remaining = self._callback_counts[callback] - 1
        if remaining:
            self._callback_counts[callback] = remaining
        else:
            del self._callback_counts[callback]
        self._changed(pattern)
        return count

    def uses(self, callback: object) -> bool:
        """Whether ``callback`` is subscribed to some pattern."""
        return callback in self._callback_counts

    def callback_count(self, callback: object) -> int:
        """How many patterns ``callback`` is subscribed to."""
        return self._callback_counts.get(callback, 0)

    def targets(self, key: Any) -> list[Target]:
        """The targets a publish on ``key`` reaches (for a pattern: on some key it matches)."""
        pattern = check_pattern(key)
        if WILDCARD not in pattern:
            return list(self.route(pattern).targets)
        return [t for t in self.subscriptions() if overlaps(t.key, pattern)]

    def subscriptions(self) -> list[Target]:
        """Every subscription, in subscription order."""
        return sorted(self.router, key=_by_seq)

    def __iter__(self) -> Iterator[Target]:
        return iter(self.router)

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


def _by_seq(target: Target) -> int:
    return target.seq
