"""Subscribers: listeners, subscriptions, streams, draining and lifecycle."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

import pytest

from typedpubsub import (
    LISTENER_ERROR,
    ConsumeQueueNotFoundError,
    Hub,
    Key,
    ListenerFailure,
    Subscriber,
)
from typedpubsub._hub import internal
from typedpubsub.errors import ClosedError, ListenerNotFoundError

from .helpers import TRADES, Recorder, Trade, eventually, make_trade


async def test_subscribe_consume_unsubscribe(hub: Hub, subscriber: Subscriber) -> None:
    """Ported from aiopubsub: a subscription queues messages for consume, in order."""
    k = Key("a", "b")
    subscriber.subscribe(k)
    assert hub.has_subscribers(k)
    hub.publish(k, "message1")
    hub.publish(k, "message2")
    assert await asyncio.wait_for(subscriber.consume(), 1) == (k, "message1")
    assert await asyncio.wait_for(subscriber.consume(), 1) == (k, "message2")
    assert hub.get_subscriber_queue_sizes(k) == (0,)
    subscriber.unsubscribe(k)
    assert not hub.has_subscribers(k)


async def test_one_queue_per_subscription_id(hub: Hub, subscriber: Subscriber) -> None:
    """Keys subscribed under one subscription_id share one queue, in publish order."""
    subscriber.async_subscribe(Key("a"), "both")
    subscriber.async_subscribe(Key("b"), "both")
    hub.publish(Key("b"), 1)
    hub.publish(Key("a"), 2)
    assert await asyncio.wait_for(subscriber.consume("both"), 1) == (("b",), 1)
    assert await asyncio.wait_for(subscriber.consume("both"), 1) == (("a",), 2)


async def test_consume_errors(hub: Hub, subscriber: Subscriber) -> None:
    """consume names the problem: no such subscription, or a sync one."""
    with pytest.raises(ConsumeQueueNotFoundError, match=r"^subscription_id 'nope' does not exist"):
        await subscriber.consume("nope")
    subscriber.sync_subscribe(Key("a"), lambda k, m: None, "sync")
    with pytest.raises(
        ConsumeQueueNotFoundError, match=r"^subscription_id 'sync' is a sync subscription"
    ):
        await subscriber.consume("sync")
    with pytest.raises(ListenerNotFoundError, match=r"^subscription_id 'nope' has no subscription"):
        subscriber.unsubscribe(Key("a"), "nope")


async def test_sync_subscribe(hub: Hub, subscriber: Subscriber) -> None:
    """sync_subscribe calls the callback inside publish."""
    rec = Recorder()
    subscriber.sync_subscribe(Key("a", "*"), rec.sync)
    hub.publish(Key("a", "b"), 1)
    assert rec.received == [(("a", "b"), 1)]


async def test_add_listener_remove_listener(hub: Hub, subscriber: Subscriber) -> None:
    """Ported from aiopubsub: a listener fires on every message and not after removal."""
    rec = Recorder()
    k = Key("a", "b")
    subscriber.add_async_listener(k, rec.async_)
    hub.publish(k, "message1")
    await rec.wait_for(1)
    hub.publish(k, "message2")
    await rec.wait_for(2)
    await subscriber.remove_listener(k, rec.async_)
    hub.publish(k, "message3")
    await asyncio.sleep(0.01)
    assert rec.received == [(k, "message1"), (k, "message2")]
    assert not hub.has_subscribers(k)


async def test_add_listener_multiple_keys(hub: Hub, subscriber: Subscriber) -> None:
    """Ported from aiopubsub: a set of keys is one stream in publish order."""
    rec = Recorder()
    k1, k2 = Key("a", "b"), Key("a", "x")
    subscriber.add_async_listener({k1, k2}, rec.async_)
    assert hub.get_subscriber_queue_sizes(k1) == (0,)
    for i in range(10):
        hub.publish(k1 if i % 2 else k2, i)
    await rec.wait_for(10)
    assert rec.messages == list(range(10))
    await subscriber.remove_listener({k1, k2}, rec.async_)
    hub.publish(k1, "late")
    hub.publish(k2, "late")
    await asyncio.sleep(0.01)
    assert len(rec.received) == 10
    assert hub.get_all_subscriber_queue_sizes() == {}


async def test_remove_all_listeners(hub: Hub, subscriber: Subscriber) -> None:
    """Ported from aiopubsub: remove_all_listeners removes every listener, none is a no-op."""
    rec = Recorder()
    await subscriber.remove_all_listeners()
    subscriber.add_sync_listener(Key("a", "b"), rec.sync)
    subscriber.add_async_listener(Key("a", "x"), rec.async_)
    assert len(subscriber.statistics()) == 2
    await subscriber.remove_all_listeners()
    assert subscriber.statistics() == ()
    assert not hub.has_subscribers()


async def test_add_listener_alias_is_sync(hub: Hub, subscriber: Subscriber) -> None:
    """add_listener is aiopubsub's old name of add_sync_listener."""
    rec = Recorder()
    subscriber.add_listener(Key("a"), rec.sync)
    hub.publish(Key("a"), 1)
    assert rec.messages == [1]


async def test_raising_async_listener_keeps_receiving(
    hub: Hub, subscriber: Subscriber, caplog: pytest.LogCaptureFixture
) -> None:
    """Departure: an async listener that raises is reported and gets later messages."""
    got: list[int] = []

    async def flaky(key: Key, message: int) -> None:
        if message == 1:
            raise ValueError("bad one")
        got.append(message)

    failures: list[ListenerFailure] = []
    subscriber.add_sync_listener(LISTENER_ERROR, lambda k, f: failures.append(f))
    subscriber.add_async_listener(Key("n"), flaky)
    with caplog.at_level(logging.ERROR, "typedpubsub"):
        for i in range(3):
            hub.publish(Key("n"), i)
        await eventually(lambda: len(got) == 2)
    assert got == [0, 2]
    assert len(failures) == 1
    failure = failures[0]
    assert failure.key == ("n",)
    assert failure.error_type == "ValueError"
    assert failure.error == "bad one"
    assert "flaky of subscriber 'tester'" in failure.listener
    assert "bad one" in caplog.text
    await subscriber.remove_all_listeners()  # does not re-raise the listener's error
    assert not [s for s in subscriber.statistics() if "flaky" in s.listener]


async def test_removal_delivers_what_was_queued(hub: Hub, subscriber: Subscriber) -> None:
    """Departure: removing a listener delivers what was queued for it before returning."""
    rec = Recorder()

    async def slow(key: Key, message: int) -> None:
        await asyncio.sleep(0.001)
        rec.received.append((key, message))

    subscriber.add_async_listener(Key("n"), slow)
    for i in range(20):
        hub.publish(Key("n"), i)
    await subscriber.remove_listener(Key("n"), slow)
    assert rec.messages == list(range(20))


async def test_removal_timeout_drops_and_reports(
    hub: Hub, subscriber: Subscriber, caplog: pytest.LogCaptureFixture
) -> None:
    """What is still queued after the removal timeout is dropped, counted and reported."""
    release = asyncio.Event()
    handled: list[int] = []

    async def stuck(key: Key, message: int) -> None:
        await release.wait()
        handled.append(message)

    subscriber.add_async_listener(Key("n"), stuck)
    for i in range(5):
        hub.publish(Key("n"), i)
    await asyncio.sleep(0.01)
    with caplog.at_level(logging.WARNING, "typedpubsub"):
        await subscriber.remove_listener(Key("n"), stuck, timeout=0.05)
    assert handled == []
    assert hub.statistics().dropped == 4  # one was in the callback when it was cancelled
    assert "dropped 4 message(s) (timeout)" in caplog.text


async def test_adding_the_same_listener_twice_leaves_no_orphan(
    hub: Hub, subscriber: Subscriber, caplog: pytest.LogCaptureFixture
) -> None:
    """Departure: a repeated add_async_listener is a logged no-op, not a second task."""
    rec = Recorder()
    before = len(asyncio.all_tasks())
    subscriber.add_async_listener(Key("a"), rec.async_)
    with caplog.at_level(logging.WARNING, "typedpubsub"):
        subscriber.add_async_listener(Key("a"), rec.async_)
    assert "is already on keys ('a',)" in caplog.text
    assert len(asyncio.all_tasks()) == before + 1
    hub.publish(Key("a"), 1)
    await rec.wait_for(1)
    await asyncio.sleep(0.01)
    assert rec.messages == [1]
    await subscriber.remove_listener(Key("a"), rec.async_)
    assert len(asyncio.all_tasks()) == before


async def test_listener_kind_is_checked_at_registration(subscriber: Subscriber) -> None:
    """A sync function as async listener (and the reverse) is refused when added."""

    def plain(key: Key, message: Any) -> None: ...

    async def coro(key: Key, message: Any) -> None: ...

    with pytest.raises(
        TypeError, match=r"^callback must be an async function, got .*plain; use add_sync_listener"
    ):
        subscriber.add_async_listener(Key("a"), plain)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    with pytest.raises(
        TypeError,
        match=r"^callback must be a plain function, got async .*coro; use add_async_listener",
    ):
        subscriber.add_sync_listener(Key("a"), coro)  # statically fine: results are ignored
    with pytest.raises(TypeError, match=r"^callback must be callable, got 1 \(int\)$"):
        subscriber.add_sync_listener(Key("a"), 1)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    with pytest.raises(ValueError, match=r"^keys must hold at least one key, got an empty set$"):
        subscriber.add_sync_listener(set(), plain)
    with pytest.raises(ValueError, match=r"^max_queue_size must be >= 0, got -1$"):
        subscriber.add_async_listener(Key("a"), coro, max_queue_size=-1)
    with pytest.raises(
        ValueError,
        match=r"^overflow must be one of block, drop_oldest, drop_newest, raise; got 'spill'$",
    ):
        subscriber.add_async_listener(Key("a"), coro, overflow="spill")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    with pytest.raises(TypeError, match=r"^max_queue_size must be int, got '3' \(str\)$"):
        subscriber.add_async_listener(Key("a"), coro, max_queue_size="3")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    assert subscriber.statistics() == ()


async def test_async_callable_objects_are_accepted(hub: Hub, subscriber: Subscriber) -> None:
    """Objects with an async __call__ are async listeners."""

    class Handler:
        def __init__(self) -> None:
            self.got: list[Any] = []

        async def __call__(self, key: Key, message: Any) -> None:
            self.got.append(message)

    handler = Handler()
    subscriber.add_async_listener(Key("a"), handler)
    hub.publish(Key("a"), 1)
    await eventually(lambda: handler.got == [1])


async def test_add_async_listener_needs_a_running_loop() -> None:
    """Outside a loop, add_async_listener says what to do instead of failing obscurely."""
    hub = Hub()
    subscriber = Subscriber(hub, "outside")

    async def cb(key: Key, message: Any) -> None: ...

    def add() -> None:
        subscriber.add_async_listener(Key("a"), cb)

    with pytest.raises(RuntimeError, match=r"^add_async_listener needs a running event loop"):
        await asyncio.get_running_loop().run_in_executor(None, add)
    await subscriber.aclose()


async def test_remove_unknown_listener(subscriber: Subscriber) -> None:
    """Removing what was never added names the keys, callback and subscriber."""

    async def cb(key: Key, message: Any) -> None: ...

    with pytest.raises(
        ListenerNotFoundError, match=r"^no listener .*cb on keys \('a',\) in subscriber 'tester'"
    ):
        await subscriber.remove_listener(Key("a"), cb)
    with pytest.raises(KeyError):
        await subscriber.remove_listener(Key("a"), cb)


async def test_typed_listener_and_stream(hub: Hub, subscriber: Subscriber) -> None:
    """A typed async listener and a typed stream receive validated payloads."""
    rec = Recorder()
    subscriber.add_async_listener(TRADES, rec.async_)
    async with subscriber.stream(TRADES) as trades:
        hub.publish(TRADES.fill("N", "G"), make_trade())
        hub.publish(Key("N", "trade", "G"), {"timestamp": 1, "quantity": 1, "price": 1})
        received = []
        async for key, trade in trades:
            received.append((key, trade))
            if len(received) == 2:
                break
    assert [type(t) for _, t in received] == [Trade, Trade]
    assert received[0][0] == ("N", "trade", "G")
    await rec.wait_for(2)
    assert rec.messages == [t for _, t in received]


async def test_stream_ends_when_closed(hub: Hub, subscriber: Subscriber) -> None:
    """A closed stream unsubscribes and ends iteration."""
    stream = subscriber.stream(Key("s"))
    hub.publish(Key("s"), 1)
    assert await asyncio.wait_for(stream.__anext__(), 1) == (("s",), 1)
    assert stream.statistics().delivered == 1

    async def close_soon() -> None:
        await asyncio.sleep(0.01)
        await stream.aclose()

    closer = asyncio.create_task(close_soon())
    rest = [item async for item in stream]
    await closer
    assert rest == []
    assert not hub.has_subscribers(Key("s"))


async def test_listener_cancelled_from_outside_is_removed(hub: Hub, subscriber: Subscriber) -> None:
    """A listener task cancelled by someone else is removed cleanly, not resurrected."""
    rec = Recorder()
    subscriber.add_async_listener(Key("c"), rec.async_)
    (task,) = [t for t in asyncio.all_tasks() if "typedpubsub listener" in t.get_name()]
    task.cancel()
    await asyncio.wait([task], timeout=1)
    assert task.cancelled()
    assert not hub.has_subscribers(Key("c"))
    assert subscriber.statistics() == ()
    hub.publish(Key("c"), 1)  # nobody to queue for, nothing grows
    assert hub.get_all_subscriber_queue_sizes() == {}


async def test_cancelling_a_removal_leaves_no_half_state(hub: Hub, subscriber: Subscriber) -> None:
    """If the task awaiting remove_listener is cancelled, the listener is fully gone."""
    release = asyncio.Event()

    async def stuck(key: Key, message: int) -> None:
        await release.wait()

    subscriber.add_async_listener(Key("n"), stuck)
    for i in range(3):
        hub.publish(Key("n"), i)
    await asyncio.sleep(0.01)
    remover = asyncio.create_task(subscriber.remove_listener(Key("n"), stuck))
    await asyncio.sleep(0.01)
    remover.cancel()
    await asyncio.wait([remover], timeout=1)
    assert remover.cancelled()
    assert not hub.has_subscribers(Key("n"))
    assert subscriber.statistics() == ()
    await eventually(
        lambda: not [t for t in asyncio.all_tasks() if "typedpubsub listener" in t.get_name()]
    )
    assert hub.statistics().dropped == 2


async def test_listener_may_remove_itself(hub: Hub, subscriber: Subscriber) -> None:
    """A listener removing itself from its own callback does not deadlock."""
    got: list[int] = []

    async def once(key: Key, message: int) -> None:
        got.append(message)
        await subscriber.remove_listener(Key("o"), once)

    subscriber.add_async_listener(Key("o"), once)
    hub.publish(Key("o"), 1)
    await eventually(lambda: got == [1])
    hub.publish(Key("o"), 2)
    await asyncio.sleep(0.01)
    assert got == [1]


async def test_closed_subscriber_refuses_use(hub: Hub) -> None:
    """aclose drains and stops listeners; the subscriber then refuses use."""
    rec = Recorder()
    async with Subscriber(hub, "ctx") as sub:
        sub.add_async_listener(Key("a"), rec.async_)
        sub.subscribe(Key("b"))
        hub.publish(Key("a"), 1)
    assert rec.messages == [1]
    assert sub.closed
    with pytest.raises(ClosedError, match=r"^subscriber 'ctx' is closed"):
        sub.add_async_listener(Key("a"), rec.async_)
    assert not hub.has_subscribers()


async def test_hub_aclose_drains_its_subscribers() -> None:
    """Closing the hub drains and stops every subscriber's listeners."""
    rec = Recorder()
    hub = Hub()
    sub = Subscriber(hub, "s")
    sub.add_async_listener(Key("a"), rec.async_)
    for i in range(5):
        hub.publish(Key("a"), i)
    await hub.aclose()
    assert rec.messages == list(range(5))
    assert sub.closed


async def test_unclosed_subscriber_warns(hub: Hub) -> None:
    """A subscriber collected with listener tasks running warns ResourceWarning."""
    rec = Recorder()
    sub = Subscriber(hub, "leaky")
    sub.add_async_listener(Key("a"), rec.async_)
    listeners = list(sub._listeners.values())
    with pytest.warns(
        ResourceWarning, match=r"^subscriber 'leaky' was garbage collected with 1 listener task"
    ):
        del sub  # no reference cycle holds it: collected here, by reference counting
    gc.collect()
    for listener in listeners:  # clean up what the test leaked on purpose
        listener.stopping = True
        assert listener.task is not None
        listener.task.cancel()
        for key in listener.keys:
            internal(hub).unsubscribe(key, listener.deliver)


async def test_listener_statistics(hub: Hub, subscriber: Subscriber) -> None:
    """statistics() reports queued, delivered, failed and peak per listener."""

    async def picky(key: Key, message: int) -> None:
        if message < 0:
            raise ValueError(message)

    subscriber.add_async_listener(Key("p"), picky)
    for m in (1, -1, 2):
        hub.publish(Key("p"), m)
    (before,) = subscriber.statistics()
    assert before.queued == 3
    assert before.peak_queue_size == 3
    await eventually(lambda: subscriber.statistics()[0].queued == 0)
    await asyncio.sleep(0.01)
    (after,) = subscriber.statistics()
    assert (after.delivered, after.failed, after.dropped) == (2, 1, 0)
    assert after.keys == frozenset({Key("p")})
    assert after.max_queue_size == 0


async def test_sync_listener_statistics_survive_route_changes(
    hub: Hub, subscriber: Subscriber
) -> None:
    """Sync listeners' counts stay exact across subscription changes (routes retired)."""

    def picky(key: Key, message: int) -> None:
        if message < 0:
            raise ValueError(message)

    subscriber.add_sync_listener(Key("s"), picky)
    for m in (1, -1, 2):
        hub.publish(Key("s"), m)
    (stats,) = subscriber.statistics()
    assert (stats.delivered, stats.failed) == (2, 1)
    hub.add_subscriber(Key("other"), lambda k, m: None)  # invalidates every cached route
    hub.publish(Key("s"), 3)
    hub.publish(Key("other"), 0)
    (stats,) = [s for s in subscriber.statistics() if "picky" in s.listener]
    assert (stats.delivered, stats.failed) == (3, 1)
    hub_stats = hub.statistics()
    assert hub_stats.published == 5
    assert hub_stats.delivered == 5
    assert hub_stats.failed == 1


async def test_same_callback_in_two_sync_listeners(hub: Hub, subscriber: Subscriber) -> None:
    """One function used by two sync listeners: each listener is removed on its own."""
    rec = Recorder()
    subscriber.add_sync_listener(Key("a"), rec.sync)
    subscriber.add_sync_listener({Key("a"), Key("b")}, rec.sync)
    hub.publish(Key("a"), 1)
    assert rec.messages == [1, 1]
    await subscriber.remove_listener(Key("a"), rec.sync)
    hub.publish(Key("a"), 2)
    hub.publish(Key("b"), 3)
    assert rec.messages == [1, 1, 2, 3]


async def test_same_callback_in_two_subscribers(hub: Hub) -> None:
    """One function used as a sync listener by two subscribers: both receive, each removes alone."""
    rec = Recorder()
    first = Subscriber(hub, "first")
    second = Subscriber(hub, "second")
    first.add_sync_listener(Key("a"), rec.sync)
    second.add_sync_listener(Key("a"), rec.sync)
    hub.publish(Key("a"), 1)
    assert rec.messages == [1, 1]
    await first.aclose()
    hub.publish(Key("a"), 2)
    assert rec.messages == [1, 1, 2]
    (stats,) = second.statistics()
    assert stats.delivered == 2
    await second.aclose()
