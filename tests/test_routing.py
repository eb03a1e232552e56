"""Routing and the one delivery path: cached routes against a model, and who delivers how."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from typedpubsub import (
    ADDED_SUBSCRIBER,
    LISTENER_ERROR,
    MESSAGE_DROPPED,
    Hub,
    Key,
    MessageDropped,
    Subscriber,
)
from typedpubsub._hub import internal
from typedpubsub._inbox import Inbox
from typedpubsub._key import is_subset
from typedpubsub.testing import RecordingHub

PATTERNS = [
    ("a",),
    ("a", "b"),
    ("a", "*"),
    ("*", "b"),
    ("*",),
    ("a", "b", "c"),
    ("a", "*", "c"),
    ("b", "b"),
]
KEYS = [("a",), ("b",), ("a", "b"), ("a", "c"), ("b", "b"), ("a", "b", "c"), ("a", "x", "c")]

Operation = tuple[str, int]
operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, len(PATTERNS) - 1)),
        st.tuples(st.just("remove"), st.integers(0, len(PATTERNS) - 1)),
        st.tuples(st.just("publish"), st.integers(0, len(KEYS) - 1)),
    ),
    max_size=40,
)


class _Callback:
    """A sync listener that records the keys it got."""

    def __init__(self, name: int) -> None:
        self.name = name

    def __call__(self, key: Key, message: object) -> None:
        if isinstance(message, list):  # else one of the hub's own messages
            message.append(self.name)


@settings(max_examples=150, deadline=None)
@given(ops=operations, cache_size=st.integers(1, 4))
def test_cached_routes_match_a_model_through_any_interleaving(
    ops: list[Operation], cache_size: int
) -> None:
    """Whatever the order of subscribes, unsubscribes and publishes, a publish reaches exactly
    the subscribed patterns matching its key, in subscription order, and statistics agree."""
    hub = Hub(route_cache_size=cache_size)
    callbacks = [_Callback(i) for i in range(len(PATTERNS))]
    subscribed: list[int] = []  # model: pattern indexes in subscription order
    published = delivered = 0
    meta = False  # a pattern starting with '*' also gets the hub's own messages
    for op, index in ops:
        if op == "add":
            meta = meta or PATTERNS[index][0] == "*"
            hub.add_subscriber(Key(*PATTERNS[index]), callbacks[index])
            if index not in subscribed:
                subscribed.append(index)
        elif op == "remove":
            hub.remove_subscriber(Key(*PATTERNS[index]), callbacks[index])
            if index in subscribed:
                subscribed.remove(index)
        else:
            got: list[int] = []
            hub.publish(Key(*KEYS[index]), got)
            expected = [i for i in subscribed if is_subset(KEYS[index], PATTERNS[i])]
            assert got == expected
            published += 1
            delivered += len(expected)
    stats = hub.statistics()
    if not meta:
        assert (stats.published, stats.delivered) == (published, delivered)
    assert stats.subscriptions == len(subscribed)
    assert stats.cached_routes <= cache_size


@settings(max_examples=100, deadline=None)
@given(ops=operations, cache_size=st.integers(1, 4))
def test_sync_listener_statistics_match_a_model_through_any_interleaving(
    ops: list[Operation], cache_size: int
) -> None:
    """Each sync listener's delivered count matches a model however routes are cached,
    dropped for a concrete pattern's change, or retired."""
    hub = Hub(route_cache_size=cache_size)
    subscriber = Subscriber(hub, "model")
    callbacks = [_Callback(i) for i in range(len(PATTERNS))]
    subscribed: set[int] = set()
    delivered = [0] * len(PATTERNS)
    for op, index in ops:
        pattern = Key(*PATTERNS[index])
        if op == "add" and index not in subscribed:
            subscriber.add_sync_listener(pattern, callbacks[index])
            subscribed.add(index)
        elif op == "remove" and index in subscribed:
            asyncio.run(subscriber.remove_listener(pattern, callbacks[index]))
            subscribed.discard(index)
            delivered[index] = 0  # a new listener starts from zero
        elif op == "publish":
            hub.publish(Key(*KEYS[index]), [])
            for i in subscribed:
                delivered[i] += is_subset(KEYS[index], PATTERNS[i])
    by_label = {s.keys: s.delivered for s in subscriber.statistics()}
    expected = {frozenset({Key(*PATTERNS[i])}): delivered[i] for i in subscribed}
    if not any(PATTERNS[i][0] == "*" for i in subscribed):  # else meta messages count too
        assert by_label == expected


async def test_a_listener_added_again_counts_only_its_own_deliveries() -> None:
    """A callback removed and added again is a new listener: what a route evicted from the
    cache (and not yet retired) counted for the old one is not counted for it."""
    hub = Hub(route_cache_size=2)
    subscriber = Subscriber(hub, "again")
    callback = _Callback(0)
    subscriber.add_sync_listener(Key("a"), callback)
    hub.publish(Key("a"), [])
    hub.publish(Key("b"), [])
    hub.publish(Key("c"), [])  # evicts ('a',) from the cache; its route lives on
    await subscriber.remove_listener(Key("a"), callback)
    subscriber.add_sync_listener(Key("a"), callback)
    ((stats),) = subscriber.statistics()
    assert stats.delivered == 0
    hub.publish(Key("a"), [])
    ((stats),) = subscriber.statistics()
    assert stats.delivered == 1
    assert hub.statistics().published == 4


def test_a_concrete_pattern_drops_only_its_own_cached_route() -> None:
    """Subscribing to a concrete key leaves the other cached routes in place; a wildcard
    pattern drops them all."""
    hub = Hub()
    hub.add_subscriber(Key("k", "*"), _Callback(0))
    for part in "abc":
        hub.publish(Key("k", part), [])
    assert hub.statistics().cached_routes == 3
    hub.add_subscriber(Key("k", "a"), _Callback(1))
    assert hub.statistics().cached_routes == 2
    got: list[int] = []
    hub.publish(Key("k", "a"), got)
    assert got == [0, 1]
    hub.add_subscriber(Key("*", "b"), _Callback(2))
    assert hub.statistics().cached_routes == 0


def test_eviction_order_stays_bounded_when_entries_are_dropped_early() -> None:
    """Keys dropped from the cache by a concrete change are skipped at eviction, and the FIFO
    order never grows past twice the cache however often that happens."""
    hub = Hub(route_cache_size=2)
    routing = internal(hub).routing
    for i in range(200):
        callback = _Callback(i)
        hub.publish(Key("a"), [])
        hub.add_subscriber(Key("a"), callback)  # drops ('a',) from the cache
        got: list[int] = []
        hub.publish(Key("a"), got)
        assert got == [i]
        hub.publish(Key("other", str(i)), [])  # evicts, skipping a dropped key when first
        hub.remove_subscriber(Key("a"), callback)
        assert hub.statistics().cached_routes <= 2
        assert len(routing._order) <= 4
    stats = hub.statistics()
    assert (stats.published, stats.delivered) == (600, 200)
    hub = Hub(route_cache_size=2)
    for part in "ab":
        hub.publish(Key(part), [])
    hub.add_subscriber(Key("a"), _Callback(0))  # ('a',) leaves the cache, not the order
    for part in "cd":
        hub.publish(Key(part), [])  # 'd' evicts past the dropped ('a',): the oldest, ('b',)
    assert list(internal(hub).routing.cache) == [("c",), ("d",)]


def test_meta_messages_do_not_fill_the_route_cache() -> None:
    """With a root wildcard subscription, subscription events are routed without being
    cached, and not even built when their key matches nobody."""
    hub = RecordingHub()
    hub.add_subscriber(Key("*", "x"), _Callback(0))
    before = hub.statistics()
    for i in range(50):
        callback = _Callback(i)
        hub.add_subscriber(Key("d", str(i), "x"), callback)
        hub.remove_subscriber(Key("d", str(i), "x"), callback)
    after = hub.statistics()
    assert after.cached_routes == before.cached_routes
    assert after.published == before.published  # ('*', 'x') matches no meta key: none built


def test_recording_hub_overrides_no_delivery() -> None:
    """RecordingHub observes through the hub's own delivery path: it overrides no publish."""
    for name in ("publish", "apublish", "publish_threadsafe"):
        assert getattr(RecordingHub, name) is getattr(Hub, name)


async def test_every_way_to_publish_is_recorded_once() -> None:
    """publish, apublish, publish_threadsafe and meta messages all pass the one delivery path."""
    hub = RecordingHub(record_meta=True)
    got: list[object] = []
    hub.add_subscriber(Key("k"), lambda key, message: got.append(message))
    hub.publish(Key("k"), 1)
    await hub.apublish(Key("k"), 2)
    thread = threading.Thread(target=hub.publish_threadsafe, args=(Key("k"), 3))
    thread.start()
    thread.join(timeout=10)
    for _ in range(20):
        if len(got) == 3:
            break
        await asyncio.sleep(0.01)
    assert got == [1, 2, 3]
    assert hub.messages(Key("k")) == [1, 2, 3]
    assert [key for key, _ in hub.published if key[0] == "Hub"] == [
        Key(*ADDED_SUBSCRIBER[:-1], "k")
    ]
    await hub.aclose()


async def test_inbox_reports_drops_through_the_callable_it_was_given() -> None:
    """An inbox knows no hub: what it drops goes to its on_drop callable, with the reason."""
    reported: list[tuple[Any, str, str, int, bool]] = []
    inbox = Inbox("box", lambda *args: reported.append(args), 1, "drop_newest")
    inbox.put(("a",), 1)
    inbox.put(("b",), 2)
    assert reported == [(("b",), "box", "drop_newest", 1, True)]
    assert inbox.statistics([("a",)]).dropped == 1


async def test_meta_reporter_guards_against_feeding_itself() -> None:
    """A failing LISTENER_ERROR listener and a dropping MESSAGE_DROPPED stream are counted,
    not published again (no loop)."""
    async with Hub() as hub, Subscriber(hub, "meta") as subscriber:
        errors: list[object] = []

        def failing(key: Key, message: object) -> None:
            errors.append(message)
            raise RuntimeError("again")

        subscriber.add_sync_listener(LISTENER_ERROR, failing)
        subscriber.add_sync_listener(Key("x"), failing)
        async with subscriber.stream(MESSAGE_DROPPED, max_queue_size=1, overflow="drop_newest"):
            hub.publish(Key("x"), 1)
            for _ in range(3):
                hub.publish(MESSAGE_DROPPED.fill("x"), MessageDropped(Key("x"), "me", "raise", 1))
            stats = hub.statistics()
        assert len(errors) == 2  # the message, then its report; the report's failure stops
        assert (stats.failed, stats.dropped) == (2, 2)


async def test_stream_close_is_synchronous_and_idempotent(hub: Hub, subscriber: Subscriber) -> None:
    """close() unsubscribes at once; a second close (or aclose) does nothing more."""
    stream = subscriber.stream(Key("s"))
    assert hub.has_subscribers(Key("s"))
    stream.close()
    stream.close()
    await stream.aclose()
    assert not hub.has_subscribers(Key("s"))
    assert stream.closed


def test_internal_api_has_no_underscored_reach_ins() -> None:
    """Collaborators use the hub's package-internal API, never its underscored members."""
    hub = Hub()
    core = internal(hub)
    callback = _Callback(0)
    assert core.subscribe(Key("a", "*"), callback)
    assert not core.subscribe(Key("a", "*"), callback)  # a repeat, logged
    assert core.uses(callback)
    assert [t.callback for t in core.targets(Key("a", "b"))] == [callback]
    got: list[int] = []
    assert core.deliver(Key("a", "b"), got, None) is None
    assert got == [0]
    assert core.unsubscribe(Key("a", "*"), callback)
    assert not core.unsubscribe(Key("a", "*"), callback)
    assert not core.uses(callback)


@pytest.mark.parametrize("local", [False, True])
async def test_waiting_delivery_waits_for_room_then_delivers(local: bool) -> None:
    """deliver(wait=True) returns a coroutine only when a full 'block' queue is reached."""
    async with Hub() as hub, Subscriber(hub, "slow") as subscriber:
        core = internal(hub)
        stream = subscriber.stream(Key("w"), max_queue_size=1)
        assert core.deliver(Key("w"), 1, None, local=local, wait=True) is None
        waiting = core.deliver(Key("w"), 2, None, local=local, wait=True)
        assert waiting is not None
        task = asyncio.create_task(waiting)
        assert await asyncio.wait_for(stream.__anext__(), 5) == (Key("w"), 1)
        await asyncio.wait_for(task, 5)
        assert await asyncio.wait_for(stream.__anext__(), 5) == (Key("w"), 2)
        stream.close()
