"""Hub and subscriber soundness: overlapping topics, threads, listener checks, keys, streams."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import typedpubsub
from typedpubsub import (
    LISTENER_ERROR,
    MESSAGE_DROPPED,
    Hub,
    Key,
    ListenerFailure,
    MessageDropped,
    Overflow,
    PayloadValidationError,
    Subscriber,
    Topic,
    schema,
)
from typedpubsub.errors import KeyPartTypeError, QueueFullError

from .helpers import TRADES, Quote, Recorder, Trade, eventually, make_trade


@dataclasses.dataclass
class Ping:
    n: int


@dataclasses.dataclass
class Deep:
    text: str


PINGS = Topic(("ping", "*"), Ping)  # a trailing '*': also matches deeper keys
DEEP = Topic(("ping", "a", "b"), Deep)


class Gate:
    """An async listener that holds every message until released."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.got: list[Any] = []

    async def __call__(self, key: Key, message: Any) -> None:
        await self.open.wait()
        self.got.append(message)


# -- 1. a typed publish valid for its topic is never refused for another topic's listener ----


def test_typed_publish_is_not_refused_for_an_overlapping_topic(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A payload valid for its own topic reaches everyone else; the mismatch is reported."""
    hub = Hub()
    pings: list[Any] = []
    deep: list[Any] = []
    failures: list[ListenerFailure] = []
    hub.add_subscriber(PINGS, lambda k, m: pings.append(m))
    hub.add_subscriber(LISTENER_ERROR, lambda k, m: failures.append(m))
    hub.add_subscriber(DEEP, lambda k, m: deep.append(m))
    with caplog.at_level(logging.ERROR, "typedpubsub"):
        hub.publish(DEEP, Deep("hello"))  # no raise: valid for DEEP
    assert deep == [Deep("hello")]
    assert pings == []
    assert [(f.key, f.error_type) for f in failures] == [
        (("ping", "a", "b"), "PayloadValidationError")
    ]
    assert "does not validate as Ping" in caplog.text
    stats = hub.statistics()
    assert (stats.delivered, stats.failed) == (2, 1)  # DEEP's listener and the error listener


def test_untyped_publish_still_raises_after_the_others() -> None:
    """An untyped publish invalid for a typed listener raises, after the others got it."""
    hub = Hub()
    untyped: list[Any] = []
    hub.add_subscriber(PINGS, lambda k, m: None)
    hub.add_subscriber(Key("ping", "*"), lambda k, m: untyped.append(m))
    with pytest.raises(PayloadValidationError, match=r"^payload on key \('ping', 'x'\)"):
        hub.publish(Key("ping", "x"), {"n": "no"})
    assert untyped == [{"n": "no"}]


async def test_typed_publish_to_an_incompatible_stream_is_reported(
    hub: Hub, subscriber: Subscriber
) -> None:
    """The same holds for apublish and a typed stream of another type."""
    failures: list[ListenerFailure] = []
    subscriber.add_sync_listener(LISTENER_ERROR, lambda k, m: failures.append(m))
    async with subscriber.stream(PINGS) as stream:
        await asyncio.wait_for(hub.apublish(DEEP, Deep("x")), 1)
        assert stream.statistics().queued == 0
    assert len(failures) == 1


def test_overlapping_typed_subscription_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    """A typed subscription overlapping a typed one of another payload type logs a warning, once."""
    hub = Hub()
    with caplog.at_level(logging.WARNING, "typedpubsub"):
        hub.add_subscriber(PINGS, lambda k, m: None)
        hub.add_subscriber(DEEP, lambda k, m: None)
        hub.add_subscriber(DEEP, lambda k, m: None)
        hub.add_subscriber(Topic(("ping", "z"), Ping), lambda k, m: None)  # same type: fine
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "typed subscription Topic(('ping', 'a', 'b'), Deep) overlaps Topic(('ping', '*'), Ping) "
        "of another payload type: a message valid for one may not be delivered to the other"
    ]


# -- 2. publish from a foreign thread -----------------------------------------------------


async def test_publish_from_another_thread_is_refused(hub: Hub, subscriber: Subscriber) -> None:
    """hub.publish from a thread other than the loop's raises and names publish_threadsafe."""
    rec = Recorder()
    subscriber.add_sync_listener(Key("t"), rec.sync)
    errors: list[BaseException] = []

    def worker() -> None:
        calls: list[Callable[[], object]] = [
            lambda: hub.publish(Key("t"), 1),
            lambda: asyncio.run(hub.apublish(Key("t"), 2)),
        ]
        for call in calls:
            try:
                call()
            except RuntimeError as exc:
                errors.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    await asyncio.to_thread(thread.join, 5)
    assert [str(e) for e in errors] == [
        "publish must be called in the hub's event loop thread; "
        "use hub.publish_threadsafe(key, message) from other threads"
    ] * 2
    assert rec.messages == []


def test_hub_without_a_loop_works_in_any_thread() -> None:
    """A hub never used in an event loop publishes synchronously from any thread."""
    hub = Hub()
    rec = Recorder()
    hub.add_subscriber(Key("t"), rec.sync)
    thread = threading.Thread(target=hub.publish, args=(Key("t"), 1))
    thread.start()
    thread.join(5)
    hub.publish(Key("t"), 2)
    assert rec.messages == [1, 2]


# -- 3. listener annotations that contradict the topic -----------------------------------


async def on_quote(key: Key, quote: Quote) -> None:
    """A listener for quotes."""


def sync_on_quote(key: Key, quote: Quote) -> None:
    """A sync listener for quotes."""


async def test_listener_annotated_for_another_type_is_refused(
    hub: Hub, subscriber: Subscriber
) -> None:
    """A listener whose annotation contradicts the topic's type is a TypeError at registration."""
    pattern = (
        r"^callback on_quote takes quote: Quote, but topic "
        r"Topic\(\('\*', 'trade', '\*'\), Trade, name='trades'\) delivers Trade; "
        r"annotate it with that type or a supertype$"
    )
    with pytest.raises(TypeError, match=pattern):
        subscriber.add_async_listener(TRADES, on_quote)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    with pytest.raises(TypeError, match=pattern.replace("on_quote", "sync_on_quote")):
        subscriber.add_sync_listener(TRADES, sync_on_quote)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    with pytest.raises(TypeError, match=pattern.replace("on_quote", "sync_on_quote")):
        hub.add_subscriber(TRADES, sync_on_quote)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    with pytest.raises(TypeError, match=pattern.replace("on_quote", "sync_on_quote")):
        subscriber.sync_subscribe(TRADES, sync_on_quote)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    with pytest.raises(TypeError, match=r"^callback sync_on_quote takes quote: Quote"):
        subscriber.add_sync_listener({TRADES, Key("plain")}, sync_on_quote)  # pyright: ignore[reportArgumentType]
    assert not hub.has_subscribers()


class Base:
    pass


@dataclasses.dataclass
class Derived(Base):
    x: int


async def test_listeners_taking_a_supertype_are_accepted(hub: Hub, subscriber: Subscriber) -> None:
    """object, Any, a union holding T, a base class, no or unresolvable annotations are fine."""
    derived = Topic(("d",), Derived)
    seen: list[str] = []

    def takes_object(key: Key, message: object) -> None:
        seen.append("object")

    def takes_any(key: Key, message: Any) -> None:
        seen.append("any")

    def takes_union(key: Key, message: int | Derived) -> None:
        seen.append("union")

    def takes_base(key: Key, message: Base) -> None:
        seen.append("base")

    def unannotated(key, message):  # type: ignore[no-untyped-def]  # the point of the test
        seen.append("none")

    def unresolvable(key: Key, message: NoSuchType) -> None:  # type: ignore[name-defined]  # noqa: F821  # pyright: ignore[reportUndefinedVariable]
        seen.append("unresolvable")

    for callback in (takes_object, takes_any, takes_union, takes_base, unannotated, unresolvable):
        subscriber.add_sync_listener(derived, callback)
    hub.publish(derived, Derived(1))
    assert seen == ["object", "any", "union", "base", "none", "unresolvable"]


async def test_sync_listener_may_return_a_value(hub: Hub, subscriber: Subscriber) -> None:
    """A sync listener's result (here a bool) is ignored."""
    got: list[Trade] = []

    def keep(key: Key, trade: Trade) -> bool:
        got.append(trade)
        return True

    subscriber.add_sync_listener(TRADES, keep)
    hub.publish(TRADES.fill("a", "b"), make_trade())
    assert len(got) == 1
    assert hub.statistics().failed == 0


# -- 4. a sync listener that returns a coroutine -------------------------------------------


async def test_sync_listener_returning_a_coroutine_is_reported(
    hub: Hub, subscriber: Subscriber, caplog: pytest.LogCaptureFixture
) -> None:
    """A coroutine returned to the hub is closed and reported, never silently dropped."""
    ran: list[Any] = []
    failures: list[ListenerFailure] = []

    async def handle(message: Any) -> None:
        ran.append(message)  # pragma: no cover - must never run

    subscriber.add_sync_listener(LISTENER_ERROR, lambda k, m: failures.append(m))
    subscriber.add_sync_listener(Key("c"), lambda k, m: handle(m))
    with caplog.at_level(logging.ERROR, "typedpubsub"):
        hub.publish(Key("c"), 1)  # no "coroutine was never awaited" RuntimeWarning either
    gc.collect()
    assert ran == []
    assert [f.error for f in failures] == [
        "listener returned a coroutine, which was not awaited: "
        "register async callbacks with add_async_listener"
    ]
    assert hub.statistics().failed == 1
    (stats,) = [s for s in subscriber.statistics() if Key("c") in s.keys]
    assert (stats.delivered, stats.failed) == (0, 1)


async def test_async_function_given_as_sync_listener_is_refused(
    hub: Hub, subscriber: Subscriber
) -> None:
    """An async def given to add_sync_listener or add_subscriber is a TypeError at once."""

    async def handler(key: Key, message: Any) -> None:
        """An async handler."""

    with pytest.raises(TypeError, match=r"^callback must be a plain function, got async"):
        subscriber.add_sync_listener(Key("c"), handler)  # statically fine: results are ignored
    with pytest.raises(TypeError, match=r"^callback must be a plain function, got async"):
        hub.add_subscriber(Key("c"), handler)
    with pytest.raises(TypeError, match=r"^callback must be a plain function, got async"):
        subscriber.sync_subscribe(Key("c"), handler)


# -- 5. statistics of messages refused by a full queue -------------------------------------


async def test_raise_queue_refusals_count_as_dropped(hub: Hub, subscriber: Subscriber) -> None:
    """A message a full 'raise' queue refuses is dropped and reported, not delivered."""
    gate = Gate()
    drops: list[MessageDropped] = []
    subscriber.add_sync_listener(MESSAGE_DROPPED, lambda k, m: drops.append(m))
    subscriber.add_async_listener(Key("q"), gate, max_queue_size=1, overflow="raise")
    before = hub.statistics()
    hub.publish(Key("q"), 0)
    await asyncio.sleep(0.01)  # the listener takes 0 and waits at the gate
    hub.publish(Key("q"), 1)
    with pytest.raises(QueueFullError):
        hub.publish(Key("q"), 2)
    gate.open.set()  # (before the assertions: the teardown drains the queue)
    assert [(d.reason, d.count) for d in drops] == [("raise", 1)]
    stats = hub.statistics()
    assert stats.published - before.published == 3 + 1  # and the drop report
    assert stats.delivered - before.delivered == 2 + 1  # two queued, and the drop report
    assert stats.dropped == 1
    (listener,) = [s for s in subscriber.statistics() if Key("q") in s.keys]
    assert listener.dropped == 1
    await eventually(lambda: gate.got == [0, 1])


# -- 6. streams used without async with ---------------------------------------------------


async def test_stream_iterated_without_async_with_is_closed_when_collected(
    hub: Hub, subscriber: Subscriber
) -> None:
    """A stream left after `async for ...: break` unsubscribes when collected, and warns."""

    async def first() -> Any:
        async for _, message in subscriber.stream(Key("s")):
            return message
        return None  # pragma: no cover

    task = asyncio.create_task(first())
    await asyncio.sleep(0)
    hub.publish(Key("s"), 1)
    with pytest.warns(ResourceWarning, match=r"^stream on \('s',\) of subscriber 'tester' was"):
        got = await asyncio.wait_for(task, 1)  # the stream dies with the coroutine's frame
    assert got == 1
    await asyncio.sleep(0)
    assert not hub.has_subscribers(Key("s"))


async def test_stream_close_is_sync_and_idempotent(hub: Hub, subscriber: Subscriber) -> None:
    """close() unsubscribes at once; calling it (or aclose) again does nothing."""
    stream = subscriber.stream(Key("s"))
    stream.close()
    stream.close()
    await stream.aclose()
    assert stream.closed
    assert not hub.has_subscribers(Key("s"))
    assert [item async for item in stream] == []


# -- 7. errors importable from the package, and the CLI without arguments ----------------


def test_errors_are_importable_from_the_package() -> None:
    """Every public error is importable from typedpubsub itself."""
    for name in typedpubsub.errors.__all__:
        assert getattr(typedpubsub, name) is getattr(typedpubsub.errors, name)
        assert name in typedpubsub.__all__


def test_cli_without_arguments_prints_help_and_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`typedpubsub` alone is a usage error: help on stderr, exit code 2."""
    from typedpubsub.__main__ import main

    assert main([]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("usage: typedpubsub")


# -- 8. keys with non-str parts ------------------------------------------------------------

BAD_PART = r"^key part must be str, got \['b'\] \(list\) in \('a', \['b'\]\)$"


async def test_non_str_key_parts_are_a_clear_error_everywhere(
    hub: Hub, subscriber: Subscriber
) -> None:
    """A list inside a key is a KeyPartTypeError naming it at every entry point."""
    bad: Any = ("a", ["b"])

    async def listener(key: Key, message: Any) -> None:
        """An async listener."""

    calls: list[Callable[[], object]] = [
        lambda: hub.publish(bad, 1),
        lambda: hub.publish_threadsafe(bad, 1),
        lambda: hub.has_subscribers(bad),
        lambda: hub.add_subscriber(bad, lambda k, m: None),
        lambda: hub.remove_subscriber(bad, lambda k, m: None),
        lambda: hub.get_subscriber_queue_sizes(bad),
        lambda: subscriber.add_sync_listener(bad, lambda k, m: None),
        lambda: subscriber.add_async_listener(bad, listener),
        lambda: subscriber.stream(bad),
        lambda: subscriber.subscribe(bad),
        lambda: Topic(bad, int),
    ]
    for call in calls:
        with pytest.raises(KeyPartTypeError, match=BAD_PART):
            call()
    with pytest.raises(KeyPartTypeError, match=BAD_PART):
        Key("a", ["b"])  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    coroutines: list[Callable[[], Awaitable[object]]] = [
        lambda: hub.apublish(bad, 1),
        lambda: subscriber.remove_listener(bad, listener),
    ]
    for make in coroutines:
        with pytest.raises(KeyPartTypeError, match=BAD_PART):
            await asyncio.wait_for(make(), 1)


@given(
    st.lists(
        st.one_of(st.text(max_size=3), st.integers(), st.lists(st.text(max_size=2))),
        min_size=1,
        max_size=4,
    )
)
def test_publish_on_any_tuple_raises_a_library_error_or_delivers(parts: list[Any]) -> None:
    """Whatever a tuple key holds, publish delivers or raises KeyPartTypeError/InvalidKeyError."""
    hub = Hub()
    key: Any = tuple(parts)
    try:
        hub.publish(key, 1)
    except (KeyPartTypeError, typedpubsub.errors.InvalidKeyError):
        assert not all(type(p) is str for p in parts) or "*" in parts
    else:
        assert all(type(p) is str for p in parts)


# -- 9. one key, two payload types --------------------------------------------------------


def test_topics_with_one_key_and_two_types_are_refused_by_schema_export() -> None:
    """schema.asyncapi and json_schema refuse two payload types on one key, naming both."""
    topics: list[Topic[Any]] = [Topic("prices", int), Topic("prices", str)]
    message = r"^topics must not bind one key to two payload types: \('prices',\) has int and str$"
    with pytest.raises(ValueError, match=message):
        schema.asyncapi(topics)
    with pytest.raises(ValueError, match=message):
        schema.json_schema(topics)
    schema.asyncapi([Topic("prices", int), Topic("prices", int)])  # the same type twice: fine


def test_nats_bridge_refuses_one_key_with_two_types() -> None:
    """NatsBridge refuses two payload types on one key when it is made."""
    from typedpubsub.nats import NatsBridge

    with pytest.raises(ValueError, match=r"^topics must not bind one key to two payload types"):
        NatsBridge(Hub(), [Topic("prices", int), Topic("prices", str)])


# -- 10. publish_threadsafe on full bounded queues ----------------------------------------


async def test_threadsafe_publish_waits_for_room_in_block_queues(
    hub: Hub, subscriber: Subscriber
) -> None:
    """From a thread, a full 'block' queue makes delivery wait: nothing is lost, order is kept."""
    got: list[tuple[int, int]] = []

    async def slow(key: Key, message: tuple[int, int]) -> None:
        await asyncio.sleep(0)
        got.append(message)

    subscriber.add_async_listener(Key("b"), slow, max_queue_size=2, overflow="block")

    def produce(thread: int) -> None:
        for i in range(100):
            hub.publish_threadsafe(Key("b"), (thread, i))

    threads = [threading.Thread(target=produce, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        await asyncio.to_thread(thread.join, 10)
    await eventually(lambda: len(got) == 300, timeout=10)
    for n in range(3):
        assert [i for t, i in got if t == n] == list(range(100))
    assert hub.statistics().dropped == 0


async def test_threadsafe_publish_on_a_full_raise_queue_counts_drops(
    hub: Hub, subscriber: Subscriber
) -> None:
    """From a thread, a full 'raise' queue drops, counted and reported; nothing vanishes."""
    gate = Gate()
    subscriber.add_async_listener(Key("r"), gate, max_queue_size=1, overflow="raise")

    def produce() -> None:
        for i in range(100):
            hub.publish_threadsafe(Key("r"), i)

    thread = threading.Thread(target=produce)
    thread.start()
    await asyncio.to_thread(thread.join, 10)
    await eventually(lambda: hub.statistics().published == 100)
    gate.open.set()
    await eventually(lambda: len(gate.got) + hub.statistics().dropped == 100)
    assert gate.got == sorted(gate.got)


# -- properties ---------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    overflow=st.sampled_from(["drop_oldest", "drop_newest", "raise"]),
    size=st.integers(1, 3),
    steps=st.lists(st.booleans(), max_size=30),
)
def test_every_message_is_delivered_dropped_or_queued(
    overflow: Overflow, size: int, steps: list[bool]
) -> None:
    """Under any interleaving of publishes and reads, each message is counted exactly once."""

    async def run() -> None:
        async with Hub() as hub, Subscriber(hub, "prop") as subscriber:
            stream = subscriber.stream(Key("p"), max_queue_size=size, overflow=overflow)
            published = refused = 0
            for publish in steps:
                if publish:
                    published += 1
                    try:
                        hub.publish(Key("p"), published)
                    except QueueFullError:
                        assert overflow == "raise"
                elif stream.statistics().queued:
                    await asyncio.wait_for(stream.__anext__(), 1)
            mine = stream.statistics()
            assert mine.delivered + mine.dropped + mine.queued == published
            refused = mine.dropped if overflow != "drop_oldest" else 0
            stats = hub.statistics()
            assert (stats.published, stats.dropped) == (published, mine.dropped)
            assert stats.delivered == published - refused
            stream.close()

    asyncio.run(run())


@dataclasses.dataclass
class Animal:
    """A base class."""


@dataclasses.dataclass
class Dog(Animal):
    """A subclass."""


@dataclasses.dataclass
class Cat(Animal):
    """Another subclass."""


_KINDS: dict[str, Any] = {
    "object": object,
    "Animal": Animal,
    "Dog": Dog,
    "Cat": Cat,
    "Dog | None": Dog | None,
    "Cat | int": Cat | int,
    "int": int,
    "float": float,
}


@settings(max_examples=60, deadline=None)
@given(annotation=st.sampled_from(sorted(_KINDS)), payload=st.sampled_from(["Dog", "Cat", "int"]))
def test_listener_check_agrees_with_issubclass(annotation: str, payload: str) -> None:
    """Registration refuses a listener exactly when no member of its annotation is a supertype."""
    hub = Hub()
    expected_type = _KINDS[annotation]
    payload_type = _KINDS[payload]
    members = getattr(expected_type, "__args__", (expected_type,))
    accepts = any(
        issubclass(payload_type, m) or (m is float and payload_type is int) for m in members
    )
    namespace: dict[str, Any] = {"Key": Key, **{k: v for k, v in _KINDS.items() if k.isalpha()}}
    exec(f"def listener(key: Key, message: {annotation}) -> None: pass", namespace)
    listener = namespace["listener"]
    topic = Topic(("animals",), payload_type)
    if accepts:
        hub.add_subscriber(topic, listener)
    else:
        with pytest.raises(TypeError, match=r"^callback listener takes message: "):
            hub.add_subscriber(topic, listener)


async def test_threadsafe_messages_waiting_at_close_do_not_hang_it() -> None:
    """Thread messages waiting for room when the hub closes are delivered as apublish would be."""
    hub = Hub()
    subscriber = Subscriber(hub, "stuck")
    gate = Gate()
    subscriber.add_async_listener(Key("w"), gate, max_queue_size=1, overflow="block")

    def produce() -> None:
        for i in range(5):
            hub.publish_threadsafe(Key("w"), i)

    thread = threading.Thread(target=produce)
    thread.start()
    await asyncio.to_thread(thread.join, 5)
    await eventually(lambda: hub.statistics().published >= 2)
    await asyncio.wait_for(hub.aclose(timeout=0.05), 5)
    stats = hub.statistics()
    assert gate.got == []
    # 0 was being handled and 1 queued (dropped at the drain timeout); 2-4 waited for room and
    # were published once the listener was gone, to nobody, as an apublish would have been.
    assert (stats.published, stats.delivered, stats.dropped) == (5, 2, 1)
    assert not [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]


_PAYLOADS: dict[type, Any] = {Ping: Ping(1), Deep: Deep("d"), int: 7, str: "s"}


@settings(max_examples=60, deadline=None)
@given(
    subscriptions=st.lists(
        st.tuples(
            # A first part other than '*' keeps the hub's own messages out of these patterns.
            st.tuples(st.sampled_from(["a", "b"])).flatmap(
                lambda first: st.lists(st.sampled_from(["a", "b", "*"]), max_size=2).map(
                    lambda rest: [*first, *rest]
                )
            ),
            st.sampled_from(sorted(_PAYLOADS, key=lambda t: t.__name__)),
        ),
        max_size=5,
    ),
    publish_key=st.lists(st.sampled_from(["a", "b"]), min_size=1, max_size=3),
    publish_type=st.sampled_from(sorted(_PAYLOADS, key=lambda t: t.__name__)),
)
def test_a_valid_typed_publish_never_raises_and_listeners_get_only_their_type(
    subscriptions: list[tuple[list[str], type]], publish_key: list[str], publish_type: type
) -> None:
    """A valid typed publish never raises; listeners get only their type, or count one failure."""
    hub = Hub()
    received: list[tuple[type, Any]] = []

    def recorder(payload_type: type) -> Callable[[Key, Any], None]:
        return lambda key, message: received.append((payload_type, message))

    for parts, payload_type in subscriptions:
        hub.add_subscriber(Topic(tuple(parts), payload_type), recorder(payload_type))
    topic = Topic(tuple(publish_key), publish_type)
    matching = [t for parts, t in subscriptions if Key(*publish_key).is_subset_of(tuple(parts))]
    hub.publish(topic, _PAYLOADS[publish_type])
    assert all(isinstance(message, t) for t, message in received)
    assert len(received) + hub.statistics().failed == len(matching)
