"""Failure paths: overflow policies, backpressure, threads, memory bounds, and properties."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import os
import random
import sys
import threading
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from typedpubsub import (
    MESSAGE_DROPPED,
    Hub,
    Key,
    MessageDropped,
    PayloadValidationError,
    Subscriber,
    Topic,
)
from typedpubsub._hub import internal
from typedpubsub.errors import QueueFullError

from .helpers import TRADES, Recorder, Trade, eventually


class Gate:
    """An async listener that holds every message until released."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.got: list[Any] = []

    async def __call__(self, key: Key, message: Any) -> None:
        await self.open.wait()
        self.got.append(message)


async def test_drop_oldest_keeps_the_newest(hub: Hub, subscriber: Subscriber) -> None:
    """drop_oldest keeps the newest messages and reports each drop."""
    gate = Gate()
    drops: list[MessageDropped] = []
    subscriber.add_sync_listener(MESSAGE_DROPPED, lambda k, d: drops.append(d))
    subscriber.add_async_listener(Key("q"), gate, max_queue_size=2, overflow="drop_oldest")
    hub.publish(Key("q"), 0)
    await asyncio.sleep(0.01)  # 0 is in the callback, waiting at the gate
    for i in range(1, 6):
        hub.publish(Key("q"), i)
    gate.open.set()
    await eventually(lambda: len(gate.got) == 3)
    assert gate.got == [0, 4, 5]
    assert [d.reason for d in drops] == ["drop_oldest"] * 3
    assert [d.key for d in drops] == [("q",)] * 3
    stats = [s for s in subscriber.statistics() if "Gate" in s.listener][0]
    assert (stats.dropped, stats.peak_queue_size, stats.max_queue_size) == (3, 2, 2)
    assert hub.statistics().dropped == 3


async def test_drop_newest_keeps_the_oldest(hub: Hub, subscriber: Subscriber) -> None:
    """drop_newest refuses new messages while the queue is full, and counts them."""
    gate = Gate()
    subscriber.add_async_listener(Key("q"), gate, max_queue_size=2, overflow="drop_newest")
    hub.publish(Key("q"), 0)
    await asyncio.sleep(0.01)
    for i in range(1, 6):
        hub.publish(Key("q"), i)
    gate.open.set()
    await eventually(lambda: len(gate.got) == 3)
    assert gate.got == [0, 1, 2]
    assert hub.statistics().dropped == 3


async def test_raise_policy_tells_the_publisher(hub: Hub, subscriber: Subscriber) -> None:
    """overflow='raise' raises QueueFullError to the publisher; other listeners still receive."""
    gate = Gate()
    rec = Recorder()
    subscriber.add_async_listener(Key("q"), gate, max_queue_size=1, overflow="raise")
    subscriber.add_sync_listener(Key("q"), rec.sync)
    hub.publish(Key("q"), 0)
    await asyncio.sleep(0.01)
    hub.publish(Key("q"), 1)
    with pytest.raises(
        QueueFullError,
        match=r"^queue of Gate of subscriber 'tester' is full \(max_queue_size=1, overflow='raise'\)",
    ):
        hub.publish(Key("q"), 2)
    assert rec.messages == [0, 1, 2]
    gate.open.set()
    await eventually(lambda: gate.got == [0, 1])


async def test_block_policy_makes_apublish_wait(hub: Hub, subscriber: Subscriber) -> None:
    """overflow='block': apublish waits for room; nothing is lost, order is kept."""
    got: list[int] = []

    async def slow(key: Key, message: int) -> None:
        await asyncio.sleep(0.0005)
        got.append(message)

    subscriber.add_async_listener(Key("b"), slow, max_queue_size=3, overflow="block")
    for i in range(60):
        await asyncio.wait_for(hub.apublish(Key("b"), i), 5)
    await eventually(lambda: len(got) == 60)
    assert got == list(range(60))
    (stats,) = subscriber.statistics()
    assert stats.peak_queue_size <= 3
    assert stats.dropped == 0


async def test_block_policy_refuses_a_sync_publish_on_a_full_queue(
    hub: Hub, subscriber: Subscriber
) -> None:
    """A plain publish cannot wait: on a full 'block' queue it raises and says to use apublish."""
    gate = Gate()
    subscriber.add_async_listener(Key("b"), gate, max_queue_size=1)
    hub.publish(Key("b"), 0)
    await asyncio.sleep(0.01)
    hub.publish(Key("b"), 1)
    with pytest.raises(QueueFullError, match=r"use 'await apublish\(\.\.\.\)' to wait for room"):
        hub.publish(Key("b"), 2)
    waiting = asyncio.create_task(hub.apublish(Key("b"), 2))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    gate.open.set()
    await asyncio.wait_for(waiting, 1)
    await eventually(lambda: gate.got == [0, 1, 2])


async def test_apublish_validates_before_waiting(hub: Hub, subscriber: Subscriber) -> None:
    """An invalid payload fails at once, even when it would have had to wait."""
    gate = Gate()
    subscriber.add_async_listener(TRADES, gate, max_queue_size=1)
    with pytest.raises(PayloadValidationError):
        await asyncio.wait_for(hub.apublish(TRADES.fill("a", "b"), {"bad": 1}), 1)  # type: ignore[misc]  # pyright: ignore[reportArgumentType]
    gate.open.set()


async def test_removal_waits_for_the_message_being_handled(
    hub: Hub, subscriber: Subscriber
) -> None:
    """Removing a listener while it handles a message lets that message finish."""
    started = asyncio.Event()
    finished: list[int] = []

    async def handler(key: Key, message: int) -> None:
        started.set()
        await asyncio.sleep(0.02)
        finished.append(message)

    subscriber.add_async_listener(Key("h"), handler)
    hub.publish(Key("h"), 1)
    await asyncio.wait_for(started.wait(), 1)
    await asyncio.wait_for(subscriber.remove_listener(Key("h"), handler), 1)
    assert finished == [1]


async def test_cancellation_in_the_middle_of_a_drain(hub: Hub) -> None:
    """Cancelling aclose while it drains leaves every listener removed and its rest counted."""
    sub = Subscriber(hub, "drain")
    gate = Gate()
    sub.add_async_listener(Key("d"), gate)
    for i in range(4):
        hub.publish(Key("d"), i)
    await asyncio.sleep(0.01)
    closing = asyncio.create_task(sub.aclose())
    await asyncio.sleep(0.01)
    closing.cancel()
    await asyncio.wait([closing], timeout=1)
    assert closing.cancelled()
    assert not hub.has_subscribers(Key("d"))
    assert hub.statistics().dropped == 3
    await eventually(
        lambda: not [t for t in asyncio.all_tasks() if "typedpubsub listener" in t.get_name()]
    )


async def test_publish_threadsafe_from_many_threads(hub: Hub, subscriber: Subscriber) -> None:
    """8 threads x 10,000 messages: each delivered exactly once, in per-thread order."""
    threads, per_thread = 8, 10_000
    got: list[tuple[int, int]] = []
    subscriber.add_sync_listener(Key("t", "*"), lambda k, m: got.append(m))
    start = threading.Barrier(threads)

    def produce(thread: int) -> None:
        start.wait()
        for i in range(per_thread):
            hub.publish_threadsafe(Key("t", str(thread)), (thread, i))

    workers = [threading.Thread(target=produce, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()

    def join_all() -> None:
        for worker in workers:
            worker.join(timeout=60)

    await asyncio.get_running_loop().run_in_executor(None, join_all)
    await eventually(lambda: len(got) == threads * per_thread, timeout=30)
    assert sorted(got) == [(t, i) for t in range(threads) for i in range(per_thread)]
    for thread in range(threads):
        assert [i for t, i in got if t == thread] == list(range(per_thread))


async def test_publish_threadsafe_validates_in_the_calling_thread(hub: Hub) -> None:
    """An invalid payload from a thread raises in that thread."""
    loop = asyncio.get_running_loop()

    def bad() -> None:
        hub.publish_threadsafe(TRADES.fill("a", "b"), {"nope": 1})  # type: ignore[misc]  # pyright: ignore[reportArgumentType]

    with pytest.raises(PayloadValidationError):
        await loop.run_in_executor(None, bad)


def test_publish_threadsafe_needs_a_loop() -> None:
    """A hub made outside any loop, with no listener yet, says why it cannot deliver."""
    with pytest.raises(RuntimeError, match=r"^hub has no event loop yet"):
        Hub().publish_threadsafe(Key("a"), 1)


def test_memory_stays_bounded_over_a_million_distinct_keys() -> None:
    """Publishing 1,000,000 distinct keys does not grow memory once the route cache is full."""
    hub = Hub(route_cache_size=1_000)
    hub.add_subscriber(Key("k", "*"), lambda k, m: None)
    for i in range(20_000):  # fill the cache and turn it over
        hub.publish(Key("k", str(i)), None)
    gc.collect()
    before = sys.getallocatedblocks()
    for i in range(20_000, 1_000_000):
        hub.publish(Key("k", str(i)), None)
    gc.collect()
    grown = sys.getallocatedblocks() - before
    assert grown < 2_000, f"{grown} memory blocks more after 980,000 more distinct keys"
    assert hub.statistics().cached_routes <= 1_000


async def test_subscribe_unsubscribe_cycles_leave_no_residue(hub: Hub) -> None:
    """100,000 subscribe/unsubscribe cycles leave no memory and no state behind."""

    def callback(key: Key, message: object) -> None: ...

    def cycle(n: int) -> None:
        for i in range(n):
            key = Key("c", str(i % 1000), "*")
            hub.add_subscriber(key, callback)
            hub.publish(Key("c", str(i % 1000), "x"), i)
            hub.remove_subscriber(key, callback)

    cycle(5_000)  # warm caches and interned strings
    gc.collect()
    before = sys.getallocatedblocks()
    cycle(100_000)
    gc.collect()
    grown = sys.getallocatedblocks() - before
    assert grown < 2_000, f"{grown} memory blocks more after 100,000 cycles"
    assert hub.statistics().subscriptions == 0
    routing = internal(hub).routing
    assert routing._callback_counts == {}
    assert routing.router._root.is_empty()


async def test_listener_subscriptions_leave_no_residue(hub: Hub) -> None:
    """Adding and removing async listeners repeatedly leaves no tasks and no state."""
    sub = Subscriber(hub, "churn")

    async def cb(key: Key, message: object) -> None: ...

    for i in range(2_000):
        sub.add_async_listener({Key("a", str(i)), Key("*", "b")}, cb)
        hub.publish(Key("a", str(i)), i)
        await sub.remove_listener({Key("a", str(i)), Key("*", "b")}, cb)
    assert hub.statistics().subscriptions == 0
    assert not [t for t in asyncio.all_tasks() if "typedpubsub listener" in t.get_name()]
    await sub.aclose()


# -- properties -------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)
trade_like = st.fixed_dictionaries(
    {},
    optional={
        "timestamp": json_values | st.floats(allow_nan=False),
        "quantity": json_values | st.integers(),
        "price": json_values | st.decimals(allow_nan=False, allow_infinity=False),
    },
)


@settings(max_examples=200, deadline=None)
@given(payloads=st.lists(json_values | trade_like, max_size=10))
def test_invalid_payloads_never_reach_a_typed_listener(payloads: list[Any]) -> None:
    """Whatever is published on a matching key, a typed listener only sees valid Trades."""
    hub = Hub()
    seen: list[Any] = []
    hub.add_subscriber(TRADES, lambda k, m: seen.append(m))
    valid = 0
    for payload in payloads:
        try:
            hub.publish(Key("X", "trade", "Y"), payload)
            valid += 1
        except PayloadValidationError:
            pass
    assert len(seen) == valid
    for trade in seen:
        assert type(trade) is Trade
        assert TRADES.validate(trade) is trade


@settings(max_examples=100, deadline=None)
@given(
    failures=st.lists(
        st.sampled_from([ValueError, TypeError, KeyError, RuntimeError, ZeroDivisionError, None]),
        min_size=1,
        max_size=6,
    ),
    messages=st.integers(min_value=1, max_value=5),
)
def test_no_listener_exception_escapes_the_hub(
    failures: list[type[Exception] | None], messages: int
) -> None:
    """Raising sync listeners never reach the publisher, and the others still receive."""
    hub = Hub()
    reached: list[int] = []
    for index, error in enumerate(failures):

        def listener(key: Key, message: int, error: Any = error, index: int = index) -> None:
            reached.append(index)
            if error is not None:
                raise error("listener failure")

        hub.add_subscriber(Key("e"), listener)
    logging.disable(logging.CRITICAL)
    try:
        for m in range(messages):
            hub.publish(Key("e"), m)
    finally:
        logging.disable(logging.NOTSET)
    assert reached == list(range(len(failures))) * messages
    assert hub.statistics().failed == messages * sum(e is not None for e in failures)


operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 3)),
        st.tuples(st.just("remove"), st.integers(0, 3)),
        st.tuples(st.just("sleep"), st.integers(0, 2)),
    ),
    max_size=25,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(schedule=operations, seed=st.integers(0, 2**16))
def test_concurrent_add_remove_during_publishing(
    schedule: list[tuple[str, int]], seed: int
) -> None:
    """Listeners added and removed while publishers run get exactly what was published meanwhile."""
    asyncio.run(run_schedule(schedule, seed))


async def run_schedule(schedule: list[tuple[str, int]], seed: int) -> None:
    rng = random.Random(seed)
    hub = Hub()
    sub = Subscriber(hub, "prop")
    published: list[tuple[tuple[str, ...], int]] = []
    patterns = [Key("p", "*"), Key("*", "x"), Key("p", "x"), Key("*", "y")]
    windows: dict[int, list[tuple[int, int | None]]] = {}
    received: dict[int, list[tuple[tuple[str, ...], int]]] = {n: [] for n in range(4)}
    callbacks = {}

    for n in range(4):

        async def listener(key: Key, message: int, n: int = n) -> None:
            if rng.random() < 0.3:
                await asyncio.sleep(0)
            received[n].append((tuple(key), message))

        callbacks[n] = listener

    stop = asyncio.Event()

    async def publisher(name: str) -> None:
        counter = 0
        while not stop.is_set():
            key = (name, rng.choice(["x", "y"]))
            published.append((key, counter))
            hub.publish(Key(*key), counter)
            counter += 1
            await asyncio.sleep(0)

    tasks = [asyncio.create_task(publisher(name)) for name in ("p", "q")]
    active: set[int] = set()
    for op, n in schedule:
        if op == "sleep":
            for _ in range(n + 1):
                await asyncio.sleep(0)
        elif op == "add" and n not in active:
            sub.add_async_listener(patterns[n], callbacks[n])
            windows.setdefault(n, []).append((len(published), None))
            active.add(n)
        elif op == "remove" and n in active:
            start = len(published)
            await sub.remove_listener(patterns[n], callbacks[n])
            opened, _ = windows[n][-1]
            windows[n][-1] = (opened, start)
            after_removal = len(received[n])
            await asyncio.sleep(0)
            assert len(received[n]) == after_removal  # nothing after removal returned
            active.discard(n)
    stop.set()
    await asyncio.gather(*tasks)
    end = len(published)
    await sub.aclose()
    for n in range(4):
        expected: list[tuple[tuple[str, ...], int]] = []
        for opened, closed in windows.get(n, []):
            stop_at = end if closed is None else closed
            expected.extend(
                (key, m)
                for key, m in published[opened:stop_at]
                if Key(*key).is_subset_of(patterns[n])
            )
        assert received[n] == expected, n


@dataclasses.dataclass
class Tick:
    publisher: int
    seq: int


TICKS = Topic(("tick", "*"), Tick)


@pytest.mark.slow
async def test_soak(hub: Hub) -> None:
    """Publishers and churning listeners for a while: exactly-once, in-order, while subscribed.

    TYPEDPUBSUB_SOAK_SECONDS makes it longer (by hand); CI runs it for 3 seconds.
    """
    seconds = float(os.environ.get("TYPEDPUBSUB_SOAK_SECONDS", "3"))
    sub = Subscriber(hub, "soak")
    log: list[tuple[int, int]] = []
    stop = asyncio.Event()
    results: list[tuple[int, int, list[tuple[int, int]]]] = []

    async def publisher(p: int) -> None:
        seq = 0
        while not stop.is_set():
            # apublish waits for room in the bounded queues, then delivers without awaiting:
            # the log entry right after it is in publish order.
            await hub.apublish(TICKS.fill(str(p)), Tick(p, seq))
            log.append((p, seq))
            seq += 1
            if seq % 50 == 0:
                await asyncio.sleep(0)

    async def churn(c: int) -> None:
        while not stop.is_set():
            got: list[tuple[int, int]] = []

            async def listener(key: Key, tick: Tick, got: list[tuple[int, int]] = got) -> None:
                got.append((tick.publisher, tick.seq))
                if len(got) % 97 == 0:
                    await asyncio.sleep(0)

            sub.add_async_listener(TICKS, listener, max_queue_size=64, overflow="block")
            opened = len(log)
            await asyncio.sleep(random.uniform(0.001, 0.05))
            closed = len(log)
            await sub.remove_listener(TICKS, listener, timeout=10)  # unsubscribes before awaiting
            results.append((opened, closed, got))

    tasks = [asyncio.create_task(publisher(p)) for p in range(3)]
    tasks += [asyncio.create_task(churn(c)) for c in range(4)]
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 30)
    assert len(log) > 1_000
    assert len(results) > 10
    for opened, closed, got in results:
        assert got == log[opened:closed]
    assert hub.statistics().dropped == 0
