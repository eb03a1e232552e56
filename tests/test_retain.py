"""Retained topics in one process: last values, tombstones, replay to new subscriptions."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import pickle
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
    InvalidKeyError,
    Key,
    ListenerFailure,
    MessageDropped,
    PayloadValidationError,
    Stream,
    Subscriber,
    SubscriberEvent,
    Topic,
)
from typedpubsub.utils import ThrottledPublisher

from .helpers import eventually


@dataclasses.dataclass
class Price:
    value: float


PRICES = Topic(("px", "*"), Price, retain=True)
LIVE_PRICES = Topic(("px", "*"), Price)


def prices(hub: Hub, **values: float) -> None:
    for name, value in values.items():
        hub.publish(PRICES.fill(name), Price(value))


# -- the topic flag ---------------------------------------------------------------------------


def test_retain_is_kept_by_derived_topics() -> None:
    """fill, prefixes, suffixes and pickling keep retain=True; the default is False."""
    assert PRICES.retain
    assert not LIVE_PRICES.retain
    assert PRICES.fill("a").retain
    assert (Key("venue") + PRICES).retain
    assert (PRICES + Key("extra")).retain
    assert pickle.loads(pickle.dumps(PRICES.fill("a"))).retain
    assert not pickle.loads(pickle.dumps(LIVE_PRICES)).retain
    assert repr(PRICES) == "Topic(('px', '*'), Price, retain=True)"
    assert PRICES == LIVE_PRICES  # a key like any other


def test_retain_must_be_a_bool() -> None:
    """A non-bool retain is a TypeError naming the parameter."""
    with pytest.raises(TypeError, match=r"^retain must be bool, got 1 \(int\)$"):
        Topic("k", int, retain=1)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


def test_max_retained_is_checked() -> None:
    """max_retained must be an int >= 1."""
    with pytest.raises(TypeError, match=r"^max_retained must be int, got 1\.5 \(float\)$"):
        Hub(max_retained=1.5)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    with pytest.raises(ValueError, match=r"^max_retained must be >= 1, got 0$"):
        Hub(max_retained=0)


# -- last, clear, statistics ------------------------------------------------------------------


async def test_last_returns_the_last_valid_payload(hub: Hub) -> None:
    """hub.last gives the last payload published through the retained topic, the same object."""
    a = PRICES.fill("a")
    assert hub.last(a) is None
    first, second = Price(1.0), Price(2.0)
    hub.publish(a, first)
    hub.publish(a, second)
    assert hub.last(a) is second
    coerced: Any = {"value": "3.5"}
    hub.publish(a, coerced)
    assert hub.last(a) == Price(3.5)
    invalid: Any = {"value": "x"}
    with pytest.raises(PayloadValidationError):
        hub.publish(a, invalid)
    assert hub.last(a) == Price(3.5)  # an invalid payload is not retained


async def test_last_and_clear_refuse_wrong_arguments(hub: Hub) -> None:
    """A wildcard, a plain key or a topic that is not retained are clear errors."""
    for method in (hub.last, hub.clear):
        name = method.__name__
        with pytest.raises(
            InvalidKeyError,
            match=rf"^topic must be concrete \(no wildcard '\*'\) for {name}\(\), "
            r"got \('px', '\*'\)$",
        ):
            method(PRICES)
        with pytest.raises(TypeError, match=r"^topic must be a Topic, got \('px', 'a'\) \(Key\)$"):
            method(Key("px", "a"))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
        with pytest.raises(
            ValueError,
            match=rf"^topic must be retained \(Topic\(\.\.\., retain=True\)\) for {name}\(\), "
            r"got Topic\(\('px', 'a'\), Price\)$",
        ):
            method(LIVE_PRICES.fill("a"))


async def test_plain_and_unretained_publishes_are_not_retained(hub: Hub) -> None:
    """Only publishes through a retained topic are retained; the others are live only."""
    hub.publish(Key("px", "a"), {"value": 1.0})
    hub.publish(LIVE_PRICES.fill("b"), Price(2.0))
    assert hub.last(PRICES.fill("a")) is None
    assert hub.last(PRICES.fill("b")) is None
    assert hub.statistics().retained == 0


async def test_clear_is_a_tombstone(hub: Hub, subscriber: Subscriber) -> None:
    """After clear, hub.last is None and later subscribers do not get the value; present ones
    receive nothing."""
    present: list[Any] = []
    subscriber.add_sync_listener(PRICES, lambda k, p: present.append(p))
    prices(hub, a=1.0, b=2.0)
    assert hub.clear(PRICES.fill("a")) is True
    assert hub.clear(PRICES.fill("a")) is False
    assert hub.last(PRICES.fill("a")) is None
    late: list[Any] = []
    subscriber.add_sync_listener(PRICES, lambda k, p: late.append((k[-1], p.value)))
    assert late == [("b", 2.0)]
    assert present == [Price(1.0), Price(2.0)]
    prices(hub, a=3.0)
    assert hub.last(PRICES.fill("a")) == Price(3.0)


async def test_statistics_count_retained_keys() -> None:
    """statistics() shows how many keys are retained and the bound."""
    async with Hub(max_retained=5) as hub:
        prices(hub, a=1.0, b=2.0, a2=3.0)
        prices(hub, a=4.0)
        stats = hub.statistics()
        assert (stats.retained, stats.max_retained) == (3, 5)
        hub.clear(PRICES.fill("b"))
        assert hub.statistics().retained == 2


async def test_the_least_recently_published_key_is_evicted() -> None:
    """Beyond max_retained keys, the key published least recently is forgotten."""
    async with Hub(max_retained=2) as hub:
        prices(hub, a=1.0, b=2.0)
        prices(hub, a=3.0)  # b is now the least recently published
        prices(hub, c=4.0)
        assert hub.last(PRICES.fill("b")) is None
        assert hub.last(PRICES.fill("a")) == Price(3.0)
        assert hub.last(PRICES.fill("c")) == Price(4.0)
        assert hub.statistics().retained == 2


async def test_last_converts_for_a_topic_of_another_type(hub: Hub) -> None:
    """A value retained through another payload type is converted as for a listener, or refused."""

    @dataclasses.dataclass
    class Other:
        value: str

    other = Topic(("px", "*"), Other, retain=True)
    hub.publish(other.fill("a"), Other("1.5"))
    hub.publish(other.fill("b"), Other("x"))
    assert hub.last(PRICES.fill("a")) == Price(1.5)
    with pytest.raises(PayloadValidationError, match=r"^payload on key \('px', 'b'\)"):
        hub.last(PRICES.fill("b"))


# -- replay to new subscriptions --------------------------------------------------------------


async def test_every_kind_of_subscription_gets_the_retained_values_first(hub: Hub) -> None:
    """Sync and async listeners, streams, subscriptions and add_subscriber: retained, then live."""
    prices(hub, a=1.0, b=2.0)
    prices(hub, a=3.0)
    expected = [("b", 2.0), ("a", 3.0), ("c", 4.0)]
    sync: list[Any] = []
    via_hub: list[Any] = []
    queued: list[Any] = []
    async with Subscriber(hub, "s") as subscriber:
        subscriber.add_sync_listener(PRICES, lambda k, p: sync.append((k[-1], p.value)))
        hub.add_subscriber(PRICES, lambda k, p: via_hub.append((k[-1], p.value)))
        sub_sync: list[Any] = []
        subscriber.sync_subscribe(PRICES, lambda k, p: sub_sync.append((k[-1], p.value)), "x")
        subscriber.subscribe(PRICES, "queue")
        got: list[Any] = []

        async def on_price(key: Key, price: Price) -> None:
            got.append((key[-1], price.value))

        subscriber.add_async_listener(PRICES, on_price)
        async with subscriber.stream(PRICES) as stream:
            prices(hub, c=4.0)
            async for key, price in stream:
                queued.append((key[-1], price.value))
                if len(queued) == 3:
                    break
        consumed = [await asyncio.wait_for(subscriber.consume("queue"), 5) for _ in range(3)]
        await eventually(lambda: len(got) == 3)
    for received in (sync, via_hub, sub_sync, got, queued):
        assert received == expected
    assert [(k[-1], p.value) for k, p in consumed] == expected


async def test_only_retained_subscriptions_replay(hub: Hub, subscriber: Subscriber) -> None:
    """A plain key or an unretained topic on the same keys gets live messages only."""
    prices(hub, a=1.0)
    plain: list[Any] = []
    typed: list[Any] = []
    subscriber.add_sync_listener(Key("px", "*"), lambda k, m: plain.append(m))
    subscriber.add_sync_listener(LIVE_PRICES, lambda k, m: typed.append(m))
    assert plain == typed == []
    prices(hub, a=2.0)
    assert plain == typed == [Price(2.0)]


async def test_replayed_keys_are_the_published_topics(hub: Hub, subscriber: Subscriber) -> None:
    """A replayed message carries the concrete topic it was published on, as live ones do."""
    prices(hub, a=1.0)
    keys: list[Key] = []
    subscriber.add_sync_listener(PRICES, lambda k, p: keys.append(k))
    (key,) = keys
    assert isinstance(key, Topic)
    assert key.retain
    assert tuple(key) == ("px", "a")


async def test_a_set_of_keys_gets_each_value_once_in_publish_order(
    hub: Hub, subscriber: Subscriber
) -> None:
    """Overlapping retained patterns of one listener replay each key once, in publish order."""
    prices(hub, b=1.0, a=2.0, c=3.0)
    got: list[Any] = []
    keys = {PRICES, PRICES.fill("a"), PRICES.fill("c")}
    subscriber.add_sync_listener(keys, lambda k, p: got.append(k[-1]))
    assert got == ["b", "a", "c"]


async def test_a_concrete_retained_topic_replays_its_key(hub: Hub, subscriber: Subscriber) -> None:
    """Subscribing to a concrete retained topic replays only its key."""
    prices(hub, a=1.0, b=2.0)
    got: list[Any] = []
    subscriber.add_sync_listener(PRICES.fill("b"), lambda k, p: got.append(p))
    assert got == [Price(2.0)]


async def test_replay_converts_for_the_listener_type(hub: Hub, subscriber: Subscriber) -> None:
    """Replayed values are validated for the listener's topic; invalid ones are reported."""

    @dataclasses.dataclass
    class Text:
        value: str

    texts = Topic(("px", "*"), Text, retain=True)
    hub.publish(texts.fill("a"), Text("2.5"))
    hub.publish(texts.fill("b"), Text("nope"))
    failures: list[ListenerFailure] = []
    subscriber.add_sync_listener(LISTENER_ERROR, lambda k, f: failures.append(f))
    got: list[Any] = []
    logging.disable(logging.CRITICAL)
    try:
        subscriber.add_sync_listener(PRICES, lambda k, p: got.append(p))
    finally:
        logging.disable(logging.NOTSET)
    assert got == [Price(2.5)]
    assert [f.key for f in failures] == [("px", "b")]
    assert failures[0].error_type == "PayloadValidationError"
    assert hub.statistics().failed == 1


async def test_a_raising_sync_listener_is_reported_during_replay(hub: Hub) -> None:
    """A sync listener raising on a replayed value is reported, and gets the rest."""
    prices(hub, a=1.0, b=2.0)
    seen: list[str] = []

    def flaky(key: Key, price: Price) -> None:
        seen.append(key[-1])
        if key[-1] == "a":
            raise RuntimeError("boom")

    async with Subscriber(hub, "s") as subscriber:
        logging.disable(logging.CRITICAL)
        try:
            subscriber.add_sync_listener(PRICES, flaky)
        finally:
            logging.disable(logging.NOTSET)
        assert seen == ["a", "b"]
        (stats,) = subscriber.statistics()
        assert (stats.delivered, stats.failed) == (1, 1)
    assert hub.statistics().failed == 1


@pytest.mark.parametrize(
    ("overflow", "kept"),
    [
        ("drop_oldest", ["c", "d"]),
        ("drop_newest", ["a", "b"]),
        ("block", ["a", "b"]),
        ("raise", ["a", "b"]),
    ],
)
async def test_a_queue_smaller_than_the_retained_set_applies_its_policy(
    hub: Hub, overflow: Any, kept: list[str]
) -> None:
    """A bounded queue takes the replay as a burst: its policy decides, drops are reported, and
    subscribing never raises."""
    prices(hub, a=1.0, b=2.0, c=3.0, d=4.0)
    drops: list[MessageDropped] = []
    hub.add_subscriber(MESSAGE_DROPPED, lambda k, d: drops.append(d))
    got: list[str] = []

    async def on_price(key: Key, price: Price) -> None:
        got.append(key[-1])

    logging.disable(logging.CRITICAL)
    try:
        async with Subscriber(hub, "s") as subscriber:
            subscriber.add_async_listener(PRICES, on_price, max_queue_size=2, overflow=overflow)
            await eventually(lambda: len(got) == 2)
            prices(hub, e=5.0)
            await eventually(lambda: len(got) == 3)
            (stats,) = subscriber.statistics()
    finally:
        logging.disable(logging.NOTSET)
    assert got == [*kept, "e"]
    assert [d.reason for d in drops] == [overflow] * 2
    assert stats.dropped == 2
    assert hub.statistics().dropped == 2


async def test_statistics_count_replayed_deliveries() -> None:
    """Replayed values count as delivered for the hub and the listener, not as published."""
    async with Hub() as hub, Subscriber(hub, "s") as subscriber:
        prices(hub, a=1.0, b=2.0)
        subscriber.add_sync_listener(PRICES, lambda k, p: None)
        stats = hub.statistics()
        assert (stats.published, stats.delivered) == (2, 2)
        (listener,) = subscriber.statistics()
        assert listener.delivered == 2


async def test_wait_for_waits_for_the_next_message(hub: Hub) -> None:
    """wait_for on a retained topic returns the next publish, not the retained value."""
    prices(hub, a=1.0)
    waiting = asyncio.ensure_future(hub.wait_for(PRICES, timeout=5))
    await asyncio.sleep(0)
    prices(hub, a=2.0)
    _, price = await waiting
    assert price == Price(2.0)


# -- interleavings ----------------------------------------------------------------------------


async def test_a_publish_during_the_subscription_arrives_once(hub: Hub) -> None:
    """A value published while the subscription is made (by an ADDED_SUBSCRIBER listener)
    arrives once, live."""
    prices(hub, a=1.0, b=2.0)

    def on_added(key: Key, event: SubscriberEvent) -> None:
        if key[-2] == "px":  # the subscription to PRICES is being made
            prices(hub, b=3.0, c=4.0)

    hub.add_subscriber(ADDED_SUBSCRIBER, on_added)
    got: list[Any] = []
    async with Subscriber(hub, "s") as subscriber:
        subscriber.add_sync_listener(PRICES, lambda k, p: got.append((k[-1], p.value)))
    assert sorted(got) == [("a", 1.0), ("b", 3.0), ("c", 4.0)]
    assert len(got) == 3


async def test_a_sync_listener_publishing_during_its_replay_gets_each_value_once(
    hub: Hub,
) -> None:
    """A sync listener that republishes a key during its replay gets the newer value only."""
    prices(hub, a=1.0, b=2.0, c=3.0)
    got: list[Any] = []

    def listener(key: Key, price: Price) -> None:
        got.append((key[-1], price.value))
        if key[-1] == "a" and price.value == 1.0:
            prices(hub, c=30.0)  # c is later in the replay: it must not come twice
            hub.clear(PRICES.fill("b"))  # b is cleared before its turn: not replayed

    async with Subscriber(hub, "s") as subscriber:
        subscriber.add_sync_listener(PRICES, listener)
    assert got == [("a", 1.0), ("c", 30.0)]


async def test_a_subscription_made_by_a_listener_gets_the_value_being_published(
    hub: Hub,
) -> None:
    """A subscription made inside a delivery gets the message being delivered once (replayed:
    it is retained before anyone receives it)."""
    got: list[Any] = []
    subscriber = Subscriber(hub, "s")

    def subscribe_on_first(key: Key, price: Price) -> None:
        if not got:
            subscriber.add_sync_listener(PRICES, lambda k, p: got.append(p))

    hub.add_subscriber(PRICES, subscribe_on_first)
    for method in (hub.publish, hub.publish_threadsafe):
        method(PRICES.fill("a"), Price(len(got)))
    await eventually(lambda: len(got) == 2)
    assert got == [Price(0), Price(1)]
    await subscriber.aclose()


async def test_apublish_waiting_for_room_is_not_replayed_twice(hub: Hub) -> None:
    """A value that waits for room in a block queue is retained when delivered: a subscription
    made meanwhile gets it once, live."""
    gate = asyncio.Event()
    slow: list[Any] = []

    async def blocked(key: Key, price: Price) -> None:
        await gate.wait()
        slow.append(price)

    async with Subscriber(hub, "s") as subscriber:
        subscriber.add_async_listener(Key("px", "*"), blocked, max_queue_size=1, overflow="block")
        hub.publish(Key("px", "x"), 0)
        await asyncio.sleep(0.01)  # 0 is in the callback
        hub.publish(Key("px", "y"), 1)  # the queue is full now
        waiting = asyncio.ensure_future(hub.apublish(PRICES.fill("a"), Price(1.0)))
        await asyncio.sleep(0.01)
        assert not waiting.done()
        assert hub.last(PRICES.fill("a")) is None
        got: list[Any] = []
        subscriber.add_sync_listener(PRICES, lambda k, p: got.append(p))
        gate.set()
        await asyncio.wait_for(waiting, 5)
    assert got == [Price(1.0)]


async def test_publish_threadsafe_is_retained_in_the_loop(hub: Hub) -> None:
    """Values published from another thread are retained and replayed like any other."""
    thread = threading.Thread(target=lambda: hub.publish_threadsafe(PRICES.fill("t"), Price(9.0)))
    thread.start()
    thread.join(5)
    await eventually(lambda: hub.last(PRICES.fill("t")) is not None)
    got: list[Any] = []
    hub.add_subscriber(PRICES, lambda k, p: got.append(p))
    assert got == [Price(9.0)]


async def test_clear_from_another_thread_is_refused(hub: Hub) -> None:
    """clear mutates the hub's state: from a thread other than the loop's it raises."""
    prices(hub, a=1.0)
    errors: list[BaseException] = []

    def clear() -> None:
        try:
            hub.clear(PRICES.fill("a"))
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=clear)
    thread.start()
    thread.join(5)
    assert [str(e) for e in errors] == ["clear must be called in the hub's event loop thread"]
    assert hub.last(PRICES.fill("a")) == Price(1.0)


async def test_a_publisher_prefix_keeps_the_topic_retained(hub: Hub) -> None:
    """A Publisher's prefix joined to a retained topic is still retained (the full key)."""
    from typedpubsub import Publisher

    suffix = Topic(("px", "*"), Price, retain=True)
    Publisher(hub, "venue").publish(suffix.fill("a"), Price(2.0))
    full = Key("venue") + suffix
    assert hub.last(full.fill("a")) == Price(2.0)


async def test_throttled_publisher_retains(hub: Hub) -> None:
    """Publishing through the utils' ThrottledPublisher retains as well."""
    from typedpubsub import Publisher

    throttled = ThrottledPublisher(hub, Publisher(hub, Key()), max_qsize=10)
    await throttled.publish(PRICES.fill("z"), Price(1.0))
    assert hub.last(PRICES.fill("z")) == Price(1.0)


# -- property: any interleaving ---------------------------------------------------------------

NAMES = ["a", "b", "c", "d"]
PATTERNS = [PRICES, PRICES.fill("a"), Topic(("px", "*"), Price, retain=True).fill("b")]
MAX_RETAINED = 3

operation = st.one_of(
    st.tuples(st.just("publish"), st.sampled_from(NAMES), st.integers(0, 99)),
    st.tuples(st.just("apublish"), st.sampled_from(NAMES), st.integers(0, 99)),
    st.tuples(st.just("plain"), st.sampled_from(NAMES), st.integers(0, 99)),
    st.tuples(st.just("clear"), st.sampled_from(NAMES)),
    st.tuples(
        st.just("subscribe"),
        st.sampled_from(["sync", "async", "stream", "queue"]),
        st.sets(st.integers(0, len(PATTERNS) - 1), min_size=1),
    ),
    st.tuples(st.just("yield")),
)


def _matches(name: str, patterns: set[int]) -> bool:
    return any(PATTERNS[i] == PRICES or PATTERNS[i][-1] == name for i in patterns)


async def _run(operations: list[tuple[Any, ...]]) -> None:
    model: dict[str, int] = {}  # insertion order = least recently published first
    expected: list[list[tuple[str, int]]] = []
    received: list[list[tuple[str, int]]] = []
    listeners: list[set[int]] = []
    streams: list[tuple[Stream[Price], int]] = []
    queues: list[tuple[str, int]] = []
    async with Hub(max_retained=MAX_RETAINED) as hub, Subscriber(hub, "p") as subscriber:
        for op in operations:
            kind = op[0]
            if kind in ("publish", "apublish", "plain"):
                _, name, value = op
                if kind == "plain":
                    hub.publish(Key("px", name), {"value": value})
                else:
                    if kind == "publish":
                        hub.publish(PRICES.fill(name), Price(value))
                    else:
                        await hub.apublish(PRICES.fill(name), Price(value))
                    model.pop(name, None)
                    model[name] = value
                    if len(model) > MAX_RETAINED:
                        del model[next(iter(model))]
                for patterns, wanted in zip(listeners, expected, strict=True):
                    if _matches(name, patterns):
                        wanted.append((name, value))
            elif kind == "clear":
                model.pop(op[1], None)
                hub.clear(PRICES.fill(op[1]))
            elif kind == "subscribe":
                _, how, indexes = op
                keys = {PATTERNS[i] for i in indexes}
                got: list[tuple[str, int]] = []
                listeners.append(indexes)
                if how == "queue":  # one pattern at a time: each replays what no earlier one did
                    initial: list[tuple[str, int]] = []
                    for count, index in enumerate(sorted(indexes)):
                        earlier = set(sorted(indexes)[:count])
                        initial += [
                            (n, v)
                            for n, v in model.items()
                            if _matches(n, {index}) and not _matches(n, earlier)
                        ]
                    expected.append(initial)
                else:
                    expected.append([(n, v) for n, v in model.items() if _matches(n, indexes)])
                received.append(got)

                def record(key: Key, price: Price, got: list[Any] = got) -> None:
                    got.append((key[-1], int(price.value)))

                async def arecord(key: Key, price: Price, got: list[Any] = got) -> None:
                    got.append((key[-1], int(price.value)))

                if how == "sync":
                    subscriber.add_sync_listener(keys, record)
                elif how == "async":
                    subscriber.add_async_listener(keys, arecord)
                elif how == "stream":
                    streams.append((subscriber.stream(keys), len(received) - 1))
                else:
                    queue_id = f"q{len(received)}"
                    for index in sorted(indexes):
                        subscriber.subscribe(PATTERNS[index], queue_id)
                    queues.append((queue_id, len(received) - 1))
            else:
                await asyncio.sleep(0)
        for stream, index in streams:
            for _ in expected[index]:
                key, price = await asyncio.wait_for(stream.__anext__(), 5)
                received[index].append((key[-1], int(price.value)))
            assert stream.statistics().queued == 0
            stream.close()
        for queue_id, index in queues:
            for _ in expected[index]:
                key, price = await asyncio.wait_for(subscriber.consume(queue_id), 5)
                received[index].append((key[-1], int(price.value)))
            (left,) = [s.queued for s in subscriber.statistics() if repr(queue_id) in s.listener]
            assert left == 0
    assert received == expected


@settings(max_examples=150, deadline=None)
@given(operations=st.lists(operation, max_size=30))
def test_any_interleaving_gives_last_values_then_the_live_stream(
    operations: list[tuple[Any, ...]],
) -> None:
    """Each retained subscription gets exactly the last values then every later message."""
    asyncio.run(_run(operations))
