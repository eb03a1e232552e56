"""typedpubsub's benchmark suite: every implementation through one adapter, every workload once.

Running it::

    python benchmarks/run.py                  # the full run; writes benchmarks/RESULTS.md
    python benchmarks/run.py --smoke -o -     # tiny sizes, one repetition: checks that it runs
    python benchmarks/run.py --note "..."     # a line for the results' header (e.g. machine load)

Implementations, each behind one adapter (see ``Adapter``):

- the floors: hand-written asyncio with no guarantees, the least work the same delivery can
  take. ``floor`` resolves each published key's route before the run (a dict from key to
  callbacks and ``asyncio.Queue``s); ``scan floor`` keeps a dict of concrete keys and, per
  publish, checks each distinct wildcard pattern (it caches nothing). A listener of either is a
  queue plus one consumer task; removing it cancels the task.
- typedpubsub untyped (``Key``), and through ``Topic[T]``: a stdlib dataclass revalidated, the
  same with ``trust_instances=True``, and a pydantic model.
- aiopubsub 3.0.0 (the ``bench`` extra), the API typedpubsub is compatible with.

Each workload is written once against the adapter interface, checks its delivery count (a wrong
count fails the run), and names the floor its ratios are taken against. The targets (issue 11)
are the table ``TARGETS``; RESULTS.md says for each whether it was met, computed from the ratios
of the same run, and every note in it is computed from the measurements.

Adding an implementation: write an ``Adapter`` subclass, construct it in ``new_adapter`` and
name it among the implementations of the workloads that should run it (``benches``).
The real recorded workload reads ``data/real_recorded_published_keys.json.bz2`` of ``../shared``
beside the project (or ``$TYPEDPUBSUB_SHARED``, relative to the project root); without it the
workload is skipped and RESULTS.md says so.
"""

from __future__ import annotations

import abc
import argparse
import asyncio
import bz2
import dataclasses
import datetime
import decimal
import functools
import gc
import json
import operator
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import aiopubsub
import pydantic
from pydantic import ConfigDict, TypeAdapter

import typedpubsub
from typedpubsub import Hub, Key, RequestTopic, Subscriber, Topic

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
# nats_bench.py appends its own section to RESULTS.md; a run of this script keeps it.
NATS_SECTION = "## Across processes through NATS"
BATCH = 100  # publishes between yields to the consumers, the same for every implementation

Parts = tuple[str, ...]
SyncCallback = Callable[[Any, Any], None]
AsyncCallback = Callable[[Any, Any], Awaitable[None]]


# -- payloads ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Trade:
    timestamp: float
    quantity: int
    price: decimal.Decimal


class TradeModel(pydantic.BaseModel):
    timestamp: float
    quantity: int
    price: decimal.Decimal


@dataclasses.dataclass
class RevalidatedTrade:
    """A copy of ``Trade`` that pydantic revalidates: its own revalidation, for the typed target."""

    __pydantic_config__ = ConfigDict(revalidate_instances="always")
    timestamp: float
    quantity: int
    price: decimal.Decimal


class RevalidatedTradeModel(pydantic.BaseModel):
    """A copy of ``TradeModel`` that pydantic revalidates."""

    model_config = ConfigDict(revalidate_instances="always")
    timestamp: float
    quantity: int
    price: decimal.Decimal


PRICE = decimal.Decimal("1639.43")
TRADE = Trade(123.5, 56, PRICE)
TRADE_MODEL = TradeModel(timestamp=123.5, quantity=56, price=PRICE)
KEY: Parts = ("NASDAQ", "trade", "GOOGL")


# -- delivery checking ------------------------------------------------------------------------


class WrongDelivery(AssertionError):
    """A workload delivered a different number of messages than it published for."""


class Counter:
    """Counts deliveries and wakes the benchmark when the expected number arrived."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.count = 0
        self.done = asyncio.Event()
        if expected == 0:
            self.done.set()

    def hit(self, key: Any = None, message: Any = None) -> None:
        self.count += 1
        if self.count >= self.expected:
            self.done.set()

    async def ahit(self, key: Any, message: Any) -> None:
        self.count += 1
        if self.count >= self.expected:
            self.done.set()

    def new_callback(self) -> SyncCallback:
        """A distinct sync callback (a bus may treat a shared callback apart) counting here."""

        def callback(key: Any, message: Any) -> None:
            self.hit()

        return callback

    def new_async_callback(self) -> AsyncCallback:
        """A distinct async callback that counts here."""

        async def callback(key: Any, message: Any) -> None:
            self.hit()

        return callback

    async def arrived(self, what: str) -> None:
        """Wait until the expected number arrived (the end of a timed run)."""
        try:
            await asyncio.wait_for(self.done.wait(), 120)
        except TimeoutError:
            raise WrongDelivery(f"{what}: {self.count} of {self.expected} delivered") from None

    async def wait(self, what: str) -> None:
        """Wait for the expected number, then fail if any more (or fewer) were delivered."""
        await self.arrived(what)
        await asyncio.sleep(0.01)  # let any extra (wrong) deliveries arrive before checking
        if self.count != self.expected:
            raise WrongDelivery(f"{what}: {self.count} delivered, expected {self.expected}")


def never_called(key: Any, message: Any) -> None:
    raise WrongDelivery(f"a subscription that no published key matches received {key!r}")


async def never_awaited(key: Any, message: Any) -> None:
    raise WrongDelivery(f"a listener that no published key matches received {key!r}")


# -- adapters ---------------------------------------------------------------------------------


class Adapter(abc.ABC):
    """One implementation behind the interface every workload is written against.

    Workloads build every key and pattern with ``key`` before the timing starts and pass
    what it returned to the other methods, as an application holds its keys.
    """

    name: str
    payload: object = TRADE
    slow = False  # runs the reduced sizes of FULL_SLOW / SMOKE_SLOW (see there)
    route_cache_size: int | None = None  # bounded route cache, if the implementation has one

    def key(self, parts: Parts) -> Any:
        """The implementation's key (or pattern) for ``parts``."""
        return parts

    @property
    @abc.abstractmethod
    def publish(self) -> Callable[[Any, Any], object]:
        """The implementation's own publish callable (read once per run, outside the timing)."""

    @abc.abstractmethod
    def add_sync(self, pattern: Any, callback: SyncCallback) -> None:
        """Subscribe a sync listener, called inside ``publish``."""

    @abc.abstractmethod
    def add_async(self, pattern: Any, callback: AsyncCallback) -> None:
        """Subscribe an async listener, awaited in order by a consumer of its own."""

    @abc.abstractmethod
    async def remove_async(self, pattern: Any, callback: AsyncCallback) -> None:
        """Remove an async listener and wait until its consumer has stopped."""

    @abc.abstractmethod
    def stream(self, pattern: Any) -> AsyncIterator[tuple[Any, Any]]:
        """Subscribe now and return an async iterator of ``(key, message)``."""

    @abc.abstractmethod
    def subscriptions(self) -> int:
        """How many subscriptions the implementation holds."""

    def prepare(self, keys: Iterable[Parts]) -> None:
        """The keys a workload will publish (``floor`` resolves their routes; others ignore it)."""
        del keys

    @abc.abstractmethod
    async def teardown(self) -> None:
        """Stop every consumer; the adapter is not used again."""

    def retained_key(self, parts: Parts) -> Any:
        """A key (or pattern) whose last value per key is retained for later subscribers."""
        raise NotImplementedError(f"{self.name} has no retained topics")

    def publish_retained(self, key: Any, message: Any) -> None:
        """Publish through a retained key (outside the timing)."""
        raise NotImplementedError(f"{self.name} has no retained topics")

    def subscribe_retained(self, pattern: Any, callback: SyncCallback) -> None:
        """Subscribe a sync listener that first receives the retained values it matches."""
        raise NotImplementedError(f"{self.name} has no retained topics")


def matcher(pattern: Parts) -> Callable[[Parts], bool]:
    """Whether a concrete key matches ``pattern``: '*' is one part; a trailing '*' also deeper."""
    fixed = [i for i, part in enumerate(pattern) if part != "*"]
    size = len(pattern)
    deeper = pattern[-1] == "*"
    if not fixed:
        return (lambda key: len(key) >= size) if deeper else (lambda key: len(key) == size)
    # itemgetter compares the fixed parts in C: the floor does the least work it can.
    get = operator.itemgetter(*fixed)
    want = get(pattern)
    if deeper:
        return lambda key: len(key) >= size and get(key) == want
    return lambda key: len(key) == size and get(key) == want


class _FloorQueue(asyncio.Queue[tuple[Any, Any]]):
    """An ``asyncio.Queue`` that iterates itself: ``async for`` awaits ``get`` directly."""

    def __aiter__(self) -> _FloorQueue:
        return self

    __anext__ = asyncio.Queue.get


class Floor(Adapter):
    """Routes resolved before the run: a dict from key to its callbacks and its queues."""

    name = "floor"

    def __init__(self) -> None:
        self.sync: dict[Parts, list[SyncCallback]] = {}
        self.queues: dict[Parts, list[asyncio.Queue[tuple[Any, Any]]]] = {}
        self.listeners: dict[tuple[Parts, object], tuple[asyncio.Queue[Any], asyncio.Task[None]]]
        self.listeners = {}
        self.streams: list[asyncio.Queue[Any]] = []
        self.prepared: set[Parts] = set()
        self.retained: dict[Parts, Any] = {}
        self.count = 0

    def add_sync(self, pattern: Parts, callback: SyncCallback) -> None:
        self.sync.setdefault(pattern, []).append(callback)
        self.count += 1

    def add_async(self, pattern: Parts, callback: AsyncCallback) -> None:
        queue: asyncio.Queue[tuple[Any, Any]] = asyncio.Queue()
        self.queues.setdefault(pattern, []).append(queue)

        async def consume() -> None:
            while True:
                key, message = await queue.get()
                await callback(key, message)

        self.listeners[pattern, callback] = (queue, asyncio.create_task(consume()))
        self.count += 1

    async def remove_async(self, pattern: Parts, callback: AsyncCallback) -> None:
        queue, task = self.listeners.pop((pattern, callback))
        self.queues[pattern].remove(queue)
        self.count -= 1
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    def stream(self, pattern: Parts) -> AsyncIterator[tuple[Any, Any]]:
        queue = _FloorQueue()
        self.queues.setdefault(pattern, []).append(queue)
        self.streams.append(queue)
        self.count += 1
        return queue

    def subscriptions(self) -> int:
        return self.count

    def prepare(self, keys: Iterable[Parts]) -> None:
        wild = [(p, matcher(p)) for p in {*self.sync, *self.queues} if "*" in p]
        for key in dict.fromkeys(keys):
            if key in self.prepared:
                continue
            self.prepared.add(key)
            found = [key, *(p for p, matches in wild if matches(key))]
            self.sync[key] = [c for p in found for c in self.sync.get(p, ())]
            self.queues[key] = [q for p in found for q in self.queues.get(p, ())]

    @property
    def publish(self) -> Callable[[Any, Any], object]:
        # The hand-written loop for what is subscribed: a floor has no generality to pay for.
        if not any(self.queues.values()):
            return self._publish_sync
        if not any(self.sync.values()):
            return self._publish_queued
        return self._publish_both

    def _publish_sync(self, key: Parts, message: Any) -> None:
        for callback in self.sync.get(key, ()):
            callback(key, message)

    def _publish_queued(self, key: Parts, message: Any) -> None:
        for queue in self.queues.get(key, ()):
            queue.put_nowait((key, message))

    def _publish_both(self, key: Parts, message: Any) -> None:
        for callback in self.sync.get(key, ()):
            callback(key, message)
        for queue in self.queues.get(key, ()):
            queue.put_nowait((key, message))

    def retained_key(self, parts: Parts) -> Parts:
        return parts

    def publish_retained(self, key: Parts, message: Any) -> None:
        # A dict in publish order (a key published again moves to the end); no bound, no
        # tombstones, no validation: the least a replay can cost.
        self.retained.pop(key, None)
        self.retained[key] = message
        self.publish(key, message)

    def subscribe_retained(self, pattern: Parts, callback: SyncCallback) -> None:
        matches = matcher(pattern)
        for key, message in self.retained.items():
            if matches(key):
                callback(key, message)
        self.add_sync(pattern, callback)

    async def teardown(self) -> None:
        tasks = [task for _, task in self.listeners.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class ScanFloor(Floor):
    """Nothing resolved ahead: a dict of concrete keys, then each distinct wildcard pattern."""

    name = "scan floor"

    @property
    def publish(self) -> Callable[[Any, Any], object]:
        wild = [
            (matcher(p), self.sync.get(p, []), self.queues.get(p, []))
            for p in {*self.sync, *self.queues}
            if "*" in p
        ]
        sync = self.sync
        queues = self.queues

        def publish(key: Parts, message: Any) -> None:
            for callback in sync.get(key, ()):
                callback(key, message)
            for queue in queues.get(key, ()):
                queue.put_nowait((key, message))
            for matches, callbacks, wild_queues in wild:
                if matches(key):
                    for callback in callbacks:
                        callback(key, message)
                    for queue in wild_queues:
                        queue.put_nowait((key, message))

        return publish

    def prepare(self, keys: Iterable[Parts]) -> None:
        """Resolves nothing ahead: that is what this floor measures."""


class Typedpubsub(Adapter):
    """typedpubsub through its public API; with ``payload_type``, through ``Topic[T]``."""

    def __init__(
        self,
        name: str = "typedpubsub",
        payload_type: type | None = None,
        payload: object = TRADE,
        *,
        trust_instances: bool = False,
        route_cache_size: int | None = None,
    ) -> None:
        self.name = name
        self.payload = payload
        self.payload_type = payload_type
        self.trust_instances = trust_instances
        self.hub = Hub() if route_cache_size is None else Hub(route_cache_size=route_cache_size)
        self.route_cache_size = self.hub.statistics().route_cache_size
        self.subscriber = Subscriber(self.hub, "bench")
        self.topics: dict[Parts, Key[Any]] = {}
        self.streams: list[typedpubsub.Stream[Any]] = []

    def key(self, parts: Parts) -> Key[Any]:
        if self.payload_type is None:
            return Key(*parts)
        # One Topic per key, as an application defines it once and publishes through it.
        topic = self.topics.get(parts)
        if topic is None:
            topic = self.topics[parts] = Topic(
                parts, self.payload_type, trust_instances=self.trust_instances
            )
        return topic

    @property
    def publish(self) -> Callable[[Any, Any], object]:
        return self.hub.publish

    def add_sync(self, pattern: Key[Any], callback: SyncCallback) -> None:
        self.subscriber.add_sync_listener(pattern, callback)

    def add_async(self, pattern: Key[Any], callback: AsyncCallback) -> None:
        self.subscriber.add_async_listener(pattern, callback)

    async def remove_async(self, pattern: Key[Any], callback: AsyncCallback) -> None:
        await self.subscriber.remove_listener(pattern, callback)

    def stream(self, pattern: Key[Any]) -> AsyncIterator[tuple[Any, Any]]:
        stream = self.subscriber.stream(pattern)
        self.streams.append(stream)
        return stream

    def subscriptions(self) -> int:
        return self.hub.statistics().subscriptions

    def retained_key(self, parts: Parts) -> Topic[Any]:
        return Topic(parts, self.payload_type or Trade, retain=True)

    def publish_retained(self, key: Key[Any], message: Any) -> None:
        self.hub.publish(key, message)

    def subscribe_retained(self, pattern: Key[Any], callback: SyncCallback) -> None:
        self.subscriber.add_sync_listener(pattern, callback)

    async def teardown(self) -> None:
        for stream in self.streams:
            await stream.aclose()
        await self.hub.aclose()


class _AiopubsubStream:
    def __init__(self, subscriber: aiopubsub.Subscriber, key: aiopubsub.Key) -> None:
        self.subscriber = subscriber
        subscriber.subscribe(key)

    def __aiter__(self) -> _AiopubsubStream:
        return self

    async def __anext__(self) -> tuple[Any, Any]:
        # aiopubsub has no iterator: its subscribe/consume pair is the closest.
        return await self.subscriber.consume()


class Aiopubsub(Adapter):
    """aiopubsub 3.0.0 through its public API."""

    name = "aiopubsub"
    slow = True

    def __init__(self) -> None:
        self.hub = aiopubsub.Hub()
        self.subscriber = aiopubsub.Subscriber(self.hub, "bench")
        self.count = 0

    def key(self, parts: Parts) -> aiopubsub.Key:
        return aiopubsub.Key(*parts)

    @property
    def publish(self) -> Callable[[Any, Any], object]:
        return self.hub.publish

    def add_sync(self, pattern: aiopubsub.Key, callback: SyncCallback) -> None:
        self.subscriber.add_sync_listener(pattern, callback)
        self.count += 1

    def add_async(self, pattern: aiopubsub.Key, callback: AsyncCallback) -> None:
        self.subscriber.add_async_listener(pattern, callback)
        self.count += 1

    async def remove_async(self, pattern: aiopubsub.Key, callback: AsyncCallback) -> None:
        await self.subscriber.remove_listener(pattern, callback)
        self.count -= 1

    def stream(self, pattern: aiopubsub.Key) -> AsyncIterator[tuple[Any, Any]]:
        self.count += 1
        return _AiopubsubStream(self.subscriber, pattern)

    def subscriptions(self) -> int:
        return self.count

    async def teardown(self) -> None:
        await self.subscriber.remove_all_listeners()


# The Topic[T] variants: (adapter name, payload type, payload, trust_instances, revalidation).
TYPED = {
    "typedpubsub Topic[dataclass]": (Trade, TRADE, False, "dataclass"),
    "typedpubsub Topic[dataclass], trust_instances": (Trade, TRADE, True, "dataclass"),
    "typedpubsub Topic[pydantic model]": (TradeModel, TRADE_MODEL, False, "pydantic model"),
}


SIMPLE: dict[str, type[Floor | Aiopubsub]] = {
    "floor": Floor,
    "scan floor": ScanFloor,
    "aiopubsub": Aiopubsub,
}


INSTRUMENTED = "typedpubsub, instrumented"
INSTRUMENTED_NOTE = (
    f"`{INSTRUMENTED}` (here and on the sync workload) is the same hub given to "
    "`typedpubsub.telemetry.instrument` with the OpenTelemetry SDK's providers, which record "
    "each span and metric and export nothing: the cost of tracing itself; `typedpubsub` is "
    "the uninstrumented hub"
)


def instrumented() -> Adapter:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider

    from typedpubsub.telemetry import instrument

    adapter = Typedpubsub(INSTRUMENTED)
    instrument(
        adapter.hub,
        tracer_provider=TracerProvider(shutdown_on_exit=False),
        meter_provider=MeterProvider(shutdown_on_exit=False),
    )
    return adapter


def new_adapter(name: str, route_cache_size: int | None = None) -> Adapter:
    """A fresh adapter (inside the event loop that will run it)."""
    if name in SIMPLE:
        return SIMPLE[name]()
    if name == "typedpubsub":
        return Typedpubsub(route_cache_size=route_cache_size)
    if name == INSTRUMENTED:
        return instrumented()
    payload_type, payload, trust, _ = TYPED[name]
    return Typedpubsub(name, payload_type, payload, trust_instances=trust)


# -- workloads --------------------------------------------------------------------------------
# Each takes a fresh adapter and its sizes, checks delivery and returns (seconds, messages).


async def timed_publish(
    adapter: Adapter, published: Sequence[Parts], n: int, counter: Counter, payload: object
) -> float:
    """Publish ``n`` messages over ``published`` in turn; seconds until all were delivered."""
    adapter.prepare(published)
    keys = [adapter.key(k) for k in published]
    publish = adapter.publish
    await asyncio.sleep(0)  # consumers start before the clock does
    size = len(keys)
    start = time.perf_counter()
    for i in range(n):
        publish(keys[i % size], payload)
        if i % BATCH == 0:
            await asyncio.sleep(0)
    await counter.arrived(adapter.name)
    elapsed = time.perf_counter() - start
    await counter.wait(adapter.name)
    return elapsed


async def one_to_one_async(adapter: Adapter, sizes: Mapping[str, int]) -> tuple[float, int]:
    """One async listener on ('NASDAQ', 'trade', 'GOOGL'), every message published on it; the
    Topic[T] adapters subscribe and publish through one topic, so each payload is validated."""
    n = sizes["messages"]
    counter = Counter(n)
    adapter.add_async(adapter.key(KEY), counter.ahit)
    return await timed_publish(adapter, [KEY], n, counter, adapter.payload), n


async def fan_out(adapter: Adapter, sizes: Mapping[str, int]) -> tuple[float, int]:
    """100 async listeners on ('*', 'trade', '*'), every message reaching all of them; the rate
    counts each message once."""
    n, listeners = sizes["fanout"], 100
    counter = Counter(n * listeners)
    for _ in range(listeners):
        adapter.add_async(adapter.key(("*", "trade", "*")), counter.new_async_callback())
    return await timed_publish(adapter, [KEY], n, counter, TRADE), n


async def one_to_one_sync(adapter: Adapter, sizes: Mapping[str, int]) -> tuple[float, int]:
    """One sync listener on a concrete key, called inside publish: all of the time is publish."""
    n = sizes["messages"]
    counter = Counter(n)
    adapter.add_sync(adapter.key(KEY), counter.new_callback())
    return await timed_publish(adapter, [KEY], n, counter, adapter.payload), n


async def async_iterator(adapter: Adapter, sizes: Mapping[str, int]) -> tuple[float, int]:
    """One consumer task iterating ``async for key, message in stream`` over a concrete key
    (aiopubsub has no iterator: its subscribe/consume pair)."""
    n = sizes["messages"]
    counter = Counter(n)
    stream = adapter.stream(adapter.key(KEY))

    async def consume() -> None:
        async for key, message in stream:
            counter.hit(key, message)

    task = asyncio.create_task(consume())
    try:
        elapsed = await timed_publish(adapter, [KEY], n, counter, TRADE)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return elapsed, n


async def request_reply(adapter: Adapter, sizes: Mapping[str, int]) -> tuple[float, int]:
    """Request/reply round trips on ('rpc', 'add'), one at a time, each answered by an async
    handler in its own task: typedpubsub's `hub.request` through a RequestTopic[int, int]
    (validated both ways); the floor a future that the handler's task resolves."""
    n = sizes["messages"] // 10
    key = ("rpc", "add")

    async def handler(key: Any, request: int) -> int:
        return request + 1

    total = 0
    if isinstance(adapter, Typedpubsub):
        topic = RequestTopic(key, int, int)
        adapter.subscriber.add_responder(topic, handler)
        request = adapter.hub.request
        start = time.perf_counter()
        for i in range(n):
            total += await request(topic, i)
    else:
        loop = asyncio.get_running_loop()

        async def answer(future: asyncio.Future[int], i: int) -> None:
            future.set_result(await handler(key, i))

        start = time.perf_counter()
        for i in range(n):
            future: asyncio.Future[int] = loop.create_future()
            loop.create_task(answer(future, i))
            total += await future
    elapsed = time.perf_counter() - start
    assert total == n * (n + 1) // 2, f"{adapter.name}: wrong replies"
    return elapsed, n


def cold_routing(concrete: str) -> Workload:
    """A workload publishing never-seen keys with ``sizes[concrete]`` concrete subscriptions."""

    async def run(adapter: Adapter, sizes: Mapping[str, int]) -> tuple[float, int]:
        """Never-seen keys ('w', j, 'k<i>'), each reaching one of 10 async listeners on
        ('w', j, '*'), beside concrete sync subscriptions ('c', i, 'x') that no key matches;
        the keys outnumber any route cache, so every publish routes."""
        n = sizes["routing"]
        counter = Counter(n)
        for i in range(sizes[concrete]):
            adapter.add_sync(adapter.key(("c", str(i), "x")), never_called)
        for j in range(10):
            adapter.add_async(adapter.key(("w", str(j), "*")), counter.new_async_callback())
        published = [("w", str(i % 10), f"k{i}") for i in range(n)]
        return await timed_publish(adapter, published, n, counter, TRADE), n

    return run


async def churn(adapter: Adapter, sizes: Mapping[str, int]) -> tuple[float, int]:
    """Add an async listener on a concrete key ('d', i, 'x'), give it one loop turn, remove
    it and wait for its end; the hub holds sync subscriptions on concrete keys and one on the
    root wildcard ('*', 'x'), which every one of the distinct keys published before matched.
    The rate counts add+remove pairs."""
    n = sizes["churn"]
    warm = sizes["churn_warm"]
    counter = Counter(warm)
    adapter.add_sync(adapter.key(("*", "x")), counter.new_callback())
    for i in range(sizes["churn_existing"] - 1):
        adapter.add_sync(adapter.key(("c", str(i), "x")), never_called)
    warm_keys = [(f"w{i}", "x") for i in range(warm)]
    adapter.prepare(warm_keys)
    publish = adapter.publish
    for key in warm_keys:
        publish(adapter.key(key), None)
    await counter.wait(f"{adapter.name} (warming)")
    existing = adapter.subscriptions()
    churned = [adapter.key(("d", str(i % 1000), "x")) for i in range(n)]
    start = time.perf_counter()
    for pattern in churned:
        adapter.add_async(pattern, never_awaited)
        await asyncio.sleep(0)
        await adapter.remove_async(pattern, never_awaited)
    elapsed = time.perf_counter() - start
    if adapter.subscriptions() != existing:
        raise WrongDelivery(f"{adapter.name}: churn left {adapter.subscriptions()} subscriptions")
    return elapsed, n


async def real_recorded(adapter: Adapter, sizes: Mapping[str, int]) -> tuple[float, int]:
    """Every recorded subscribed pattern with a sync listener of its own; the distinct
    recorded published keys published in turn."""
    assert REAL is not None
    n = sizes["real"]
    expected = sum(
        len(REAL.matches.get(REAL.published[i % len(REAL.published)], ())) for i in range(n)
    )
    counter = Counter(expected)
    for pattern in REAL.subscribed:
        adapter.add_sync(adapter.key(pattern), counter.new_callback())
    return await timed_publish(adapter, REAL.published, n, counter, None), n


async def retained_subscribe(adapter: Adapter, sizes: Mapping[str, int]) -> tuple[float, int]:
    """A retained topic ('r', '*') of Trade with one value on each of the retained keys
    ('r', i), published before the clock starts; then sync listeners subscribe through the
    wildcard one after another, each receiving every retained value. The rate counts values
    replayed."""
    keys, listeners = sizes["retained"], sizes["retained_subs"]
    counter = Counter(keys * listeners)
    for i in range(keys):
        adapter.publish_retained(adapter.retained_key(("r", str(i))), TRADE)
    pattern = adapter.retained_key(("r", "*"))
    callbacks = [counter.new_callback() for _ in range(listeners)]
    start = time.perf_counter()
    for callback in callbacks:
        adapter.subscribe_retained(pattern, callback)
    elapsed = time.perf_counter() - start
    await counter.wait(adapter.name)
    return elapsed, keys * listeners


Workload = Callable[[Adapter, Mapping[str, int]], Awaitable[tuple[float, int]]]


@dataclasses.dataclass(frozen=True)
class Bench:
    """A workload, the implementations it runs and the floor its ratios are taken against."""

    name: str
    run: Workload
    reads: tuple[str, ...]  # the sizes it reads (to say which a slow implementation reduced)
    implementations: tuple[str, ...]
    floor: str = "floor"
    delivery: bool = True  # an untyped delivery workload (the compiled-build target applies)
    note: str = ""


def benches(sizes: Mapping[str, int]) -> list[Bench]:
    base = ("floor", "typedpubsub", "aiopubsub")
    scan = ("scan floor", "typedpubsub", "aiopubsub")
    small, large = sizes["routing_small"], sizes["routing_large"]
    routing = ("routing", "routing_small", "routing_large")
    found = [
        Bench(
            "1 -> 1 async listener",
            one_to_one_async,
            ("messages",),
            (*base, INSTRUMENTED, *TYPED),
            note=INSTRUMENTED_NOTE,
        ),
        Bench("fan-out to 100 listeners", fan_out, ("fanout",), base),
        Bench("1 -> 1 sync listener", one_to_one_sync, ("messages",), (*base, INSTRUMENTED)),
        Bench("async iterator consumer", async_iterator, ("messages",), base),
        Bench(
            routing_name(small), cold_routing("routing_small"), routing, scan, "scan floor", False
        ),
        Bench(
            routing_name(large),
            cold_routing("routing_large"),
            routing,
            scan[:2],
            "scan floor",
            False,
            note="aiopubsub does not run it: each subscription it adds publishes a meta message "
            "on a new key, routed by checking every subscription and then invalidated by "
            "checking every cached key, so its setup grows with the square of the subscriptions",
        ),
        Bench(
            churn_name(sizes),
            churn,
            ("churn", "churn_existing", "churn_warm"),
            base,
            delivery=False,
        ),
    ]
    found.append(
        Bench(
            retained_name(sizes),
            retained_subscribe,
            ("retained", "retained_subs"),
            base[:2],
            delivery=False,
        )
    )
    found.append(
        Bench(
            "request/reply round trip",
            request_reply,
            ("messages",),
            ("floor", "typedpubsub"),
            delivery=False,
            note="aiopubsub has no request/reply",
        )
    )
    if REAL is not None:
        found.append(Bench(real_name(REAL), real_recorded, ("real",), base))
    return found


def retained_name(sizes: Mapping[str, int]) -> str:
    return f"retained subscribe: wildcard over {sizes['retained']:,} retained keys"


def routing_name(concrete: int) -> str:
    return f"cold routing, {concrete:,} concrete + 10 wildcard subs"


def churn_name(sizes: Mapping[str, int]) -> str:
    return (
        f"churn: add+remove async listener, {sizes['churn_existing']:,} subs, "
        f"after {sizes['churn_warm']:,} keys"
    )


def real_name(real: RealWorkload) -> str:
    return f"real recorded keys ({len(real.subscribed)} subs, {len(real.published)} keys)"


# -- the real recorded workload ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RealWorkload:
    published: list[Parts]
    subscribed: list[Parts]
    matches: dict[Parts, set[Parts]]


def real_workload(triples: Iterable[Sequence[Any]]) -> RealWorkload:
    """The distinct published keys, subscribed patterns and matches of the recorded triples."""
    published: set[Parts] = set()
    subscribed: set[Parts] = set()
    matches: dict[Parts, set[Parts]] = {}
    for p, s, ok in triples:
        published.add(tuple(p))
        subscribed.add(tuple(s))
        if ok:
            matches.setdefault(tuple(p), set()).add(tuple(s))
    return RealWorkload(sorted(published), sorted(subscribed), matches)


def real_data_path() -> Path:
    shared = os.environ.get("TYPEDPUBSUB_SHARED")
    base = (ROOT / shared) if shared else ROOT.parent / "shared"
    return base / "data" / "real_recorded_published_keys.json.bz2"


def load_real_workload() -> RealWorkload | None:
    path = real_data_path()
    if not path.exists():
        return None
    with bz2.open(path) as f:
        return real_workload(json.load(f))


REAL: RealWorkload | None = None


# -- memory -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Memory:
    """Bytes retained (tracemalloc) per distinct published key, keys built per publish."""

    filled: int  # keys published to fill the route cache (or all keys: no bounded cache)
    per_entry: float  # while filling: a cached entry, the key object it keeps included
    settled: int  # keys published after the fill, unmeasured: the first evictions grow a table
    per_further_key: float  # after those: what each further new key adds
    key_alone: float  # one such key held in a list, for comparison


async def memory(adapter: Adapter, further: int) -> Memory:
    """Fill the route cache with new keys, settle it, then publish ``further`` new keys.

    The first round of evictions grows the cache's dict table once (deleted slots), by a fixed
    amount that would read as a per-key cost when amortised over few keys: one more cache's
    worth of keys published, unmeasured, settles it.
    """
    counter = Counter(0)
    adapter.add_sync(adapter.key(("m", "*", "x")), counter.hit)
    publish = adapter.publish
    key = adapter.key
    filled = adapter.route_cache_size or further
    settled = filled if adapter.route_cache_size else 0
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        # Fixed-width parts: every key costs the same, so an evicted key frees what a new takes.
        for i in range(filled):
            publish(key(("m", f"{i:012d}", "x")), None)
        gc.collect()
        full = tracemalloc.get_traced_memory()[0]
        for i in range(filled, filled + settled):
            publish(key(("m", f"{i:012d}", "x")), None)
        gc.collect()
        steady = tracemalloc.get_traced_memory()[0]
        total = filled + settled + further
        for i in range(filled + settled, total):
            publish(key(("m", f"{i:012d}", "x")), None)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        held = [key(("m", f"{i:012d}", "x")) for i in range(further)]
        gc.collect()
        alone = (tracemalloc.get_traced_memory()[0] - after) / further - 8  # minus the list slot
        del held
    finally:
        tracemalloc.stop()
    if counter.count != total:
        raise WrongDelivery(f"{adapter.name}: {counter.count} of {total} delivered")
    return Memory(filled, (full - before) / filled, settled, (after - steady) / further, alone)


# -- validation alone -------------------------------------------------------------------------


def revalidation_cases() -> dict[str, Callable[[], object]]:
    """pydantic's own revalidation of an instance, and typedpubsub's validators, per payload."""
    dataclass_copy = RevalidatedTrade(123.5, 56, PRICE)
    model_copy = RevalidatedTradeModel(timestamp=123.5, quantity=56, price=PRICE)
    dataclass_adapter = TypeAdapter(RevalidatedTrade)
    model_adapter = TypeAdapter(RevalidatedTradeModel)
    cases: dict[str, Callable[[], object]] = {
        "pydantic revalidation: dataclass": lambda: dataclass_adapter.validate_python(
            dataclass_copy
        ),
        "pydantic revalidation: pydantic model": lambda: model_adapter.validate_python(model_copy),
    }
    for name, (payload_type, payload, trust, _) in TYPED.items():
        topic: Topic[Any] = Topic(KEY, payload_type, trust_instances=trust)
        cases[f"{name}: Topic.validate"] = functools.partial(topic.validate, payload)
    return cases


def validation_alone(n: int, repetitions: int) -> dict[str, float]:
    """Median seconds per call of each case."""
    results = {}
    for name, call in revalidation_cases().items():
        runs = []
        for _ in range(repetitions):
            start = time.perf_counter()
            for _ in range(n):
                call()
            runs.append((time.perf_counter() - start) / n)
        results[name] = statistics.median(runs)
    return results


# -- results ----------------------------------------------------------------------------------


@dataclasses.dataclass
class Results:
    rates: dict[str, dict[str, float]]  # workload -> implementation -> messages per second
    floors: dict[str, str]  # workload -> the floor it is measured against
    reduced: dict[str, dict[str, str]]  # workload -> implementation -> its reduced sizes
    memory: dict[str, Memory]
    validation: dict[str, float]
    sizes: dict[str, int]
    compiled: bool
    delivery: list[str] = dataclasses.field(default_factory=list)  # untyped delivery workloads
    described: dict[str, str] = dataclasses.field(default_factory=dict)  # workload -> its doc

    def ratio(self, workload: str, impl: str = "typedpubsub") -> float:
        by_impl = self.rates[workload]
        return by_impl[impl] / by_impl[self.floors[workload]]

    def seconds(self, workload: str, impl: str) -> float:
        return 1 / self.rates[workload][impl]


def is_compiled() -> bool:
    """Whether typedpubsub's modules were compiled (mypyc): then the compiled targets apply."""
    return typedpubsub._compiled


# -- targets ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Target:
    """One target of issue 11: ``measure`` returns (value, how it was computed)."""

    name: str
    measure: Callable[[Results], tuple[float, str]]
    bound: float
    at_least: bool  # met when value >= bound (else when value <= bound)
    unit: str = "x"
    closing: str = ""  # what the issue names as the lever, shown when missed

    def title(self, results: Results) -> str:
        return self.name.format(**results.sizes)

    def show(self, value: float) -> str:
        if self.unit == "%":
            return f"{value:.1%}"
        return f"{value:.2f}x" if self.unit == "x" else f"{value:,.1f} {self.unit}"

    def check(self, results: Results) -> tuple[float, str, bool]:
        value, how = self.measure(results)
        met = value >= self.bound if self.at_least else value <= self.bound
        return value, how, met


def _ratio(workload: str | Callable[[Results], str]) -> Callable[[Results], tuple[float, str]]:
    """typedpubsub's ratio to the floor on a workload (named, or named from the sizes)."""

    def measure(results: Results) -> tuple[float, str]:
        name = workload if isinstance(workload, str) else workload(results)
        floor = results.floors[name]
        ours, base = results.seconds(name, "typedpubsub"), results.seconds(name, floor)
        how = f"{ours * 1e6:.2f} us each, {floor} {base * 1e6:.2f} us"
        return results.ratio(name), how

    return measure


def _typed(variant: str) -> Callable[[Results], tuple[float, str]]:
    def measure(results: Results) -> tuple[float, str]:
        workload = "1 -> 1 async listener"
        typed = results.seconds(workload, variant)
        floor = results.seconds(workload, "floor")
        revalidation = results.validation[f"pydantic revalidation: {TYPED[variant][3]}"]
        budget = floor + revalidation
        how = (
            f"{typed * 1e6:.2f} us against floor {floor * 1e6:.2f} us "
            f"+ pydantic revalidation {revalidation * 1e6:.2f} us"
        )
        return typed / budget, how

    return measure


def _flat(results: Results) -> tuple[float, str]:
    small = routing_name(results.sizes["routing_small"])
    large = routing_name(results.sizes["routing_large"])
    ours = results.rates[large]["typedpubsub"] / results.rates[small]["typedpubsub"]
    floor = results.rates[large]["scan floor"] / results.rates[small]["scan floor"]
    how = f"rate large/small: typedpubsub {ours:.2f}, scan floor {floor:.2f}"
    return ours / floor, how


def _entry(results: Results) -> tuple[float, str]:
    m = results.memory["typedpubsub"]
    how = f"{m.filled:,} entries; a key alone holds {m.key_alone:.0f} B of it"
    return m.per_entry, how


def _further(results: Results) -> tuple[float, str]:
    m = results.memory["typedpubsub"]
    how = (
        f"{m.per_further_key:.1f} B per key over {results.sizes['memory']:,} keys after "
        f"{m.filled + m.settled:,}"
    )
    return m.per_further_key / m.per_entry, how


def _aiopubsub(results: Results) -> tuple[float, str]:
    name = "1 -> 1 async listener"
    ratio = results.rates[name]["typedpubsub"] / results.rates[name]["aiopubsub"]
    return ratio, "typedpubsub / aiopubsub, messages per second"


PER_PUBLISH = (
    "less Python per publish: the thread check, the route lookup, the Topic check and the hit "
    "counter remain, each carrying a guarantee; beyond them a compiled publish path: Hub.publish "
    "stays interpreted in the compiled build (compiled signatures replace its pinned argument "
    "checks, and compiled routing objects read from interpreted code were slower), so the lever "
    "is a compiled hot path behind an interpreted facade that keeps the checks"
)

# The targets of issue 11, in one place: every row of RESULTS.md's target table comes from
# TARGETS, or from DELIVERY_BOUNDS (one row per untyped delivery workload, by typedpubsub's build).
DELIVERY_BOUNDS = {"pure Python": 0.75, "compiled": 1.0}
TARGETS: tuple[Target, ...] = (
    Target(
        "churn >= 0.5x floor (add_async_listener / remove_listener, {churn_existing:,} subs "
        "with a root wildcard, after {churn_warm:,} keys)",
        _ratio(lambda r: churn_name(r.sizes)),
        0.5,
        True,
        closing="a consumer task started on a listener's first message and a removal that does "
        "not wait for an idle listener's task (today tests pin a task right after "
        "add_async_listener and none left when remove_listener returns)",
    ),
    *(
        Target(
            f"typed cost {variant.removeprefix('typedpubsub ')} <= 1.0x (floor + pydantic revalidation)",
            _typed(variant),
            1.0,
            False,
            closing="done this round for an exact instance (Validation alone shows "
            "Topic.validate against pydantic's revalidation); what is left is in the typed "
            "delivery path outside validation (a Topic[T] publish against an untyped one), "
            "not yet profiled",
        )
        for variant in TYPED
    ),
    Target(
        "cold routing, {routing_large:,} concrete + 10 wildcard subs >= 0.8x scan floor",
        _ratio(lambda r: routing_name(r.sizes["routing_large"])),
        0.8,
        True,
        closing="less work per route-cache miss (the trie walk, the route object, the eviction)",
    ),
    Target(
        "cold routing flat from {routing_small:,} to {routing_large:,} subs "
        "(rate large/small >= 0.9x the scan floor's)",
        _flat,
        0.9,
        True,
        closing="routing work that does not grow with the number of subscriptions",
    ),
    Target(
        "memory: a cached route entry <= 200 B (its key included)",
        _entry,
        200,
        False,
        "B",
        closing="no per-entry node (a plain dict) and no stored Topic with its own __dict__",
    ),
    Target(
        "memory: retained per further new key once the cache is full ~0 (<= 5% of a cached entry)",
        _further,
        0.05,
        False,
        "%",
        closing="evict as many bytes as each new entry takes",
    ),
    Target("untyped 1 -> 1 async >= 10x aiopubsub (0.1.0)", _aiopubsub, 10, True),
)


def delivery_targets(results: Results) -> list[Target]:
    """DELIVERY_BOUNDS x the floor on every untyped delivery workload, for this run's build."""
    build = "compiled" if results.compiled else "pure Python"
    bound = DELIVERY_BOUNDS[build]
    return [
        Target(
            f"untyped {name} >= {bound}x floor ({build})",
            _ratio(name),
            bound,
            True,
            closing=PER_PUBLISH,
        )
        for name in results.delivery
    ]


def evaluate(results: Results) -> list[tuple[Target, float, str, bool]]:
    """Every target that this run measured, with its value, how, and whether it was met."""
    checked = []
    for target in (*TARGETS, *delivery_targets(results)):
        try:
            value, how, met = target.check(results)
        except KeyError:  # a workload this run skipped (the real recorded keys without data)
            continue
        checked.append((target, value, how, met))
    return checked


# -- running ----------------------------------------------------------------------------------


def median_rate(name: str, run: Workload, sizes: Mapping[str, int], repetitions: int) -> float:
    rates = []
    for _ in range(repetitions):
        gc.collect()

        async def once() -> tuple[float, int]:
            adapter = new_adapter(name)
            try:
                return await run(adapter, sizes)
            finally:
                await adapter.teardown()

        elapsed, count = asyncio.run(once())  # a fresh loop and adapter per repetition
        rates.append(count / elapsed)
    return float(statistics.median(rates))


def sizes_for(name: str, sizes: Mapping[str, int], slow: Mapping[str, int]) -> dict[str, int]:
    merged = dict(sizes)
    if name in SIMPLE and SIMPLE[name].slow:
        merged.update(slow)
    return merged


def run_all(
    sizes: Mapping[str, int],
    slow: Mapping[str, int],
    repetitions: int,
    log: Callable[[str], None],
    only: Sequence[str] = (),
    implementations: Sequence[str] = (),
) -> Results:
    """Every workload (or those whose name holds one of ``only``: a partial run, no report)."""
    results = Results({}, {}, {}, {}, {}, dict(sizes), is_compiled())
    for bench in benches(sizes):
        if only and not any(part in bench.name for part in only):
            continue
        results.floors[bench.name] = bench.floor
        described = " ".join((bench.run.__doc__ or "").split())
        results.described[bench.name] = f"{described} {bench.note}." if bench.note else described
        if bench.delivery:
            results.delivery.append(bench.name)
        for impl in bench.implementations:
            if implementations and impl not in implementations:
                continue
            own = sizes_for(impl, sizes, slow)
            began = time.perf_counter()
            rate = median_rate(impl, bench.run, own, repetitions)
            took = time.perf_counter() - began
            results.rates.setdefault(bench.name, {})[impl] = rate
            changed = {k: own[k] for k in bench.reads if own[k] != sizes[k]}
            if changed:
                text = ", ".join(f"{k}={v:,}" for k, v in changed.items())
                results.reduced.setdefault(bench.name, {})[impl] = text
            log(f"{bench.name:<70} {impl:<48} {rate:>14,.0f}/s {took:>7.1f} s")
    for impl in ("scan floor", "typedpubsub", "aiopubsub"):
        if (only and "memory" not in only) or (implementations and impl not in implementations):
            continue
        own = sizes_for(impl, sizes, slow)

        async def measure(impl: str = impl, own: Mapping[str, int] = own) -> Memory:
            adapter = new_adapter(impl, own["memory_cache"])
            try:
                return await memory(adapter, own["memory"])
            finally:
                await adapter.teardown()

        results.memory[impl] = asyncio.run(measure())
        m = results.memory[impl]
        log(
            f"{'memory per entry / per further key':<70} {impl:<48} {m.per_entry:>8,.1f} B {m.per_further_key:>8,.1f} B"
        )
    if only and "validation" not in only:
        return results
    results.validation = validation_alone(sizes["validation"], max(repetitions, 3))
    for name, seconds in results.validation.items():
        log(f"{name:<119} {seconds * 1e6:>8.2f} us")
    return results


# -- the report -------------------------------------------------------------------------------


FLOORS = """\
## The floors

- **floor**: hand-written asyncio that resolves, before the timed loop, the route of every key
  the workload will publish: a dict from key to its sync callbacks and its `asyncio.Queue`s. A
  publish is one dict lookup, then a call per sync callback or a `put_nowait` per queue. An async
  listener is a queue plus one consumer task awaiting the callback; removing it cancels the task
  and awaits its end. It keeps no statistics, isolates no errors and is not told about
  subscription changes after the run started.
- **scan floor** (cold routing and memory): nothing resolved ahead and nothing cached: a dict of
  the concrete subscribed keys, then each *distinct* wildcard pattern checked against the key
  (the fixed parts compared by one `operator.itemgetter`). Its cost does not depend on how many
  concrete subscriptions there are.
- **typed cost budget**: the floor's time per message on `1 -> 1 async listener` plus pydantic's
  own revalidation of the same payload (a `TypeAdapter` over a copy of the type with
  `ConfigDict(revalidate_instances='always')`, validating an instance with the same fields).
"""


def machine() -> list[str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = ", ".join(
        f"{name} {metadata.version(name)}"
        for name in ("typedpubsub", "aiopubsub", "pydantic", "pydantic-core")
    )
    return [
        f"- Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        f"- Python: {platform.python_implementation()} {platform.python_version()}",
        f"- Versions: {versions}",
    ]


def load() -> str:
    try:
        return "/".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def report(
    results: Results,
    repetitions: int,
    command: str,
    notes: Sequence[str] = (),
) -> str:
    build = "compiled (mypyc)" if results.compiled else "pure Python"
    lines = ["# Benchmark results", "", f"Produced by `{command}` in one process and one run.", ""]
    lines += machine()
    lines += [
        f"- typedpubsub build: {build}",
        "- Sizes: "
        + ", ".join(f"{k}={v:,}" for k, v in results.sizes.items())
        + f"; median of {repetitions} repetitions, each in a fresh event loop with a fresh "
        "adapter; every run checks its delivery count.",
        *(f"- {note}" for note in notes),
        "",
        FLOORS,
        "## Workloads",
        "",
        *(
            f"- **{name}** (against the {results.floors[name]}): {text}"
            for name, text in results.described.items()
        ),
        "",
        "## Targets (issue 11)",
        "",
        "| target | measured | from | met |",
        "|---|---:|---|---|",
    ]
    checked = evaluate(results)
    for target, value, how, met in checked:
        lines.append(
            f"| {target.title(results)} | {target.show(value)} | {how} | {'yes' if met else '**no**'} |"
        )
    if REAL is None:
        lines += ["", f"Real recorded keys: skipped, {real_data_path()} is absent."]
    missed = [(t, how) for t, _, how, met in checked if not met and t.closing]
    if missed:
        lines += ["", "Missed, and what the issue names as the lever to close each:", ""]
        lines += [f"- {t.title(results)}: {t.closing}." for t, _ in missed]
    lines += [
        "",
        "## Throughput (messages per second; fan-out counts each message once, for 100 deliveries)",
        "",
        "| workload | implementation | msgs/s | us per message | vs its floor | vs aiopubsub |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for workload, by_impl in results.rates.items():
        floor = by_impl[results.floors[workload]]
        aio = by_impl.get("aiopubsub")
        for impl, rate in by_impl.items():
            label = impl
            reduced = results.reduced.get(workload, {}).get(impl)
            if reduced:
                label += f" ({reduced})"
            vs_aio = f"{rate / aio:.1f}x" if aio and impl != "aiopubsub" else ""
            lines.append(
                f"| {workload} | {label} | {rate:,.0f} | {1e6 / rate:.2f} | {rate / floor:.2f}x | {vs_aio} |"
            )
    lines += [
        "",
        "## Retained memory (tracemalloc; keys built per publish, as an application does)",
        "",
        "| implementation | keys to fill | per cached entry | per further new key | a key alone |",
        "|---|---:|---:|---:|---:|",
    ]
    for impl, m in results.memory.items():
        lines.append(
            f"| {impl} | {m.filled:,} | {m.per_entry:,.1f} B | {m.per_further_key:,.1f} B | {m.key_alone:,.1f} B |"
        )
    lines += [
        "",
        "`keys to fill` is the route cache's size where the implementation bounds its cache "
        "(typedpubsub); elsewhere as many keys as are published after it. Where the cache is "
        "bounded, as many keys again are then published unmeasured (the first evictions grow "
        "the cache's dict table once); `per further new key` is what stays allocated after the "
        "further keys, divided by their number.",
        "",
        "## Validation alone (per payload)",
        "",
        "| what | us |",
        "|---|---:|",
    ]
    for name, seconds in results.validation.items():
        lines.append(f"| {name} | {seconds * 1e6:.2f} |")
    return "\n".join(lines) + "\n"


def write(path: Path, text: str) -> None:
    """Write ``text``, keeping the NATS section that nats_bench.py appended to the old file."""
    kept = ""
    if path.exists():
        old = path.read_text()
        at = old.find("\n" + NATS_SECTION)
        if at >= 0:
            kept = old[at:]
    path.write_text(text + kept)


# -- sizes and the command line ---------------------------------------------------------------


FULL = {
    "messages": 100_000,
    "fanout": 4_000,
    "routing": 100_000,
    "routing_small": 1_000,
    "routing_large": 10_000,
    "churn": 5_000,
    "churn_existing": 10_000,
    "churn_warm": 100_000,
    "real": 100_000,
    "memory": 262_144,  # further keys: 4 fills, so a dict's table between resizes weighs little
    "memory_cache": 65_536,
    "validation": 100_000,
    "retained": 10_000,
    "retained_subs": 20,
}
# aiopubsub routes a new key by checking every subscription and invalidates by scanning every
# cached key: at the full sizes some of its runs would take hours.
FULL_SLOW = {
    "churn_existing": 1_000,  # its setup grows with the square of the subscriptions
    "messages": 25_000,
    "fanout": 1_000,
    "routing": 500,
    "churn": 30,
    "churn_warm": 200,
    "memory": 20_000,
}
SMOKE = {
    "messages": 400,
    "fanout": 40,
    "routing": 400,
    "routing_small": 100,
    "routing_large": 1_000,
    "churn": 100,
    "churn_existing": 100,
    "churn_warm": 1_000,
    "real": 1_004,
    "memory": 1_024,
    "memory_cache": 256,
    "validation": 100,
    "retained": 100,
    "retained_subs": 3,
}
SMOKE_SLOW = {
    "messages": 100,
    "routing": 10,
    "churn": 20,
    "churn_warm": 100,
    "real": 200,
    "memory": 100,
}


def main(argv: list[str] | None = None) -> int:
    global REAL
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repetition (CI)")
    parser.add_argument(
        "--repetitions",
        type=int,
        default=None,
        help="repetitions per measurement (default 3; 1 with --smoke)",
    )
    parser.add_argument(
        "--note", action="append", default=[], help="a line for the header (repeatable)"
    )
    parser.add_argument("-o", "--output", default=str(RESULTS), help="results file ('-': stdout)")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        help="run only the workloads whose name holds this text ('memory', 'validation' too; "
        "repeatable); prints the measurements, writes no report",
    )
    parser.add_argument(
        "--implementation",
        action="append",
        default=[],
        help="with --only: run only this implementation (repeatable)",
    )
    args = parser.parse_args(argv)
    sizes, slow = (SMOKE, SMOKE_SLOW) if args.smoke else (FULL, FULL_SLOW)
    repetitions = args.repetitions or (1 if args.smoke else 3)
    REAL = load_real_workload()
    if REAL is None:
        print(f"{real_data_path()} is absent: skipping the real recorded workload", file=sys.stderr)
    build = "compiled (mypyc)" if is_compiled() else "pure Python"
    print(f"typedpubsub {typedpubsub.__version__}, {build} build", file=sys.stderr, flush=True)
    started = load()
    began = time.perf_counter()

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    results = run_all(sizes, slow, repetitions, log, args.only, args.implementation)
    if args.only:
        for name, rates in results.rates.items():
            floor = rates.get(results.floors[name])
            for impl, rate in rates.items():
                if floor and impl != results.floors[name]:
                    log(f"{name:<70} {impl:<48} {rate / floor:>6.2f}x its floor")
        return 0
    minutes = (time.perf_counter() - began) / 60
    command = "python benchmarks/run.py" + (" --smoke" if args.smoke else "")
    notes = [
        *args.note,
        f"Load average (1/5/15 min) at start {started}, at end {load()}; the measurements took "
        f"{minutes:.1f} min (loading the recorded data not counted).",
    ]
    text = report(results, repetitions, command, notes)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        write(Path(args.output), text)
    print(f"typedpubsub {typedpubsub.__version__} ({build}): benchmark done", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
