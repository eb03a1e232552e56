"""The hub: routing, meta messages, queries, typed delivery and its lifecycle."""

from __future__ import annotations

import decimal
import logging
from typing import Any

import pytest

from typedpubsub import (
    ADDED_SUBSCRIBER,
    REMOVED_SUBSCRIBER,
    Hub,
    Key,
    PayloadValidationError,
    Subscriber,
    SubscriberEvent,
    Topic,
)
from typedpubsub.errors import ClosedError
from typedpubsub.testing import RecordingHub, mocks

from .helpers import LEVELS, QUOTES, TRADES, Quote, Recorder, Trade, make_trade


class MockAsyncQueue:
    """aiopubsub's test double for a subscriber queue: a callback that records."""

    def __init__(self) -> None:
        self.data: list[tuple[Key, Any]] = []

    def __call__(self, key: Key, message: Any) -> None:
        self.data.append((key, message))


def test_add_subscriber() -> None:
    """Ported from aiopubsub: a subscriber receives messages after being added."""
    hub = Hub()
    k = Key("a", "b")
    q = MockAsyncQueue()
    hub.add_subscriber(k, q)
    hub.publish(k, "message")
    assert q.data == [(k, "message")]


def test_remove_subscriber() -> None:
    """Ported from aiopubsub: no message is received after the subscriber is removed."""
    hub = Hub()
    k = Key("a", "b")
    q = MockAsyncQueue()
    hub.add_subscriber(k, q)
    hub.remove_subscriber(k, q)
    hub.publish(k, "message")
    assert q.data == []


def test_has_subscribers() -> None:
    """Ported from aiopubsub: has_subscribers follows additions and removals."""
    hub = Hub()
    k = Key("a", "b")
    q = MockAsyncQueue()
    assert not hub.has_subscribers()
    assert not hub.has_subscribers(k)
    hub.add_subscriber(k, q)
    assert hub.has_subscribers()
    assert hub.has_subscribers(k)
    assert not hub.has_subscribers(Key("a", "x"))
    hub.remove_subscriber(k, q)
    assert not hub.has_subscribers()
    assert not hub.has_subscribers(k)


def test_has_subscribers_sees_wildcard_subscribers_before_any_publish() -> None:
    """Departure: has_subscribers(key) answers whether a publish on key would reach a listener."""
    hub = Hub()
    hub.add_subscriber(Key("a", "*"), MockAsyncQueue())
    assert hub.has_subscribers(Key("a", "b"))
    assert hub.has_subscribers(Key("a", "b", "c"))
    assert not hub.has_subscribers(Key("a"))
    assert not hub.has_subscribers(Key("b", "b"))
    assert hub.has_subscribers(Key("*", "b"))
    assert not hub.has_subscribers(Key("b", "*"))


def test_publish_multi() -> None:
    """Ported from aiopubsub: several subscribers to one key all receive the message."""
    hub = Hub()
    k = Key("a", "b")
    q1, q2 = MockAsyncQueue(), MockAsyncQueue()
    hub.add_subscriber(k, q1)
    hub.add_subscriber(k, q2)
    hub.publish(k, "message")
    assert q1.data == [(k, "message")]
    assert q2.data == [(k, "message")]


def test_publish_wildcard() -> None:
    """Ported from aiopubsub: a wildcard subscriber receives every matching key, no other."""
    hub = Hub()
    q = MockAsyncQueue()
    k1, k2 = Key("a", "b"), Key("a", "x")
    hub.add_subscriber(Key("a", "*"), q)
    hub.publish(k1, "message")
    hub.publish(k2, "message2")
    hub.publish(Key("b", "b"), "message3")
    assert q.data == [(k1, "message"), (k2, "message2")]


def test_one_delivery_per_callback_even_when_several_patterns_match() -> None:
    """A callback subscribed under overlapping patterns gets each message once."""
    hub = Hub()
    q = MockAsyncQueue()
    hub.add_subscriber(Key("a", "*"), q)
    hub.add_subscriber(Key("*", "b"), q)
    hub.publish(Key("a", "b"), 1)
    assert q.data == [(("a", "b"), 1)]


def test_delivery_follows_subscription_order() -> None:
    """Callbacks run in the order they subscribed, whatever their patterns."""
    hub = Hub()
    order: list[str] = []
    hub.add_subscriber(Key("a", "b"), lambda k, m: order.append("exact"))
    hub.add_subscriber(Key("*", "b"), lambda k, m: order.append("star"))
    hub.add_subscriber(Key("a", "*"), lambda k, m: order.append("tail"))
    hub.publish(Key("a", "b"), None)
    assert order == ["exact", "star", "tail"]


def test_repeated_subscription_is_logged_and_ignored(caplog: pytest.LogCaptureFixture) -> None:
    """Subscribing a callback twice to one key delivers once and logs a warning."""
    hub = Hub()
    q = MockAsyncQueue()
    hub.add_subscriber(Key("a"), q)
    with caplog.at_level(logging.WARNING, "typedpubsub"):
        hub.add_subscriber(Key("a"), q)
    assert "Repeated subscription to key = ('a',)" in caplog.text
    hub.publish(Key("a"), 1)
    assert q.data == [(("a",), 1)]


def test_removing_unknown_subscription_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    """Removing what was never added is logged, as in aiopubsub."""
    hub = Hub()
    with caplog.at_level(logging.WARNING, "typedpubsub"):
        hub.remove_subscriber(Key("a"), MockAsyncQueue())
    assert "Unsubscribe from nonexistent subscription to key = ('a',)" in caplog.text


def test_add_subscriber_rejects_bad_input() -> None:
    """Non-callables and empty keys are refused at the door."""
    hub = Hub()
    with pytest.raises(TypeError, match=r"^callback must be callable, got 3 \(int\)$"):
        hub.add_subscriber(Key("a"), 3)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    with pytest.raises(ValueError, match=r"^key must have at least one part"):
        hub.add_subscriber(Key(), MockAsyncQueue())


def test_meta_messages_on_add_and_remove() -> None:
    """The hub announces each added and removed subscriber with aiopubsub's payload."""
    hub = Hub()
    added = MockAsyncQueue()
    removed = MockAsyncQueue()
    hub.add_subscriber(Key("Hub", "addedSubscriber", "*"), added)
    hub.add_subscriber(Key("Hub", "removedSubscriber", "*"), removed)
    q1, q2 = MockAsyncQueue(), MockAsyncQueue()
    hub.add_subscriber(Key("a", "*"), q1)
    hub.add_subscriber(Key("a", "*"), q2)
    hub.remove_subscriber(Key("a", "*"), q1)
    keys = [k for k, _ in added.data]
    assert keys[-2:] == [("Hub", "addedSubscriber", "a", "\\*")] * 2
    last = added.data[-1][1]
    assert last["key"] == ("a", "*")
    assert last["currentSubscriberCount"] == 2
    assert removed.data == [
        (("Hub", "removedSubscriber", "a", "\\*"), {"key": ("a", "*"), "currentSubscriberCount": 1})
    ]


async def test_typed_meta_topics(hub: Hub, subscriber: Subscriber) -> None:
    """The exported meta topics give typed, dict-readable events."""
    events: list[tuple[Key, SubscriberEvent]] = []

    def on_event(key: Key, event: SubscriberEvent) -> None:
        events.append((key, event))

    subscriber.add_sync_listener({ADDED_SUBSCRIBER, REMOVED_SUBSCRIBER}, on_event)
    hub.add_subscriber(Key("x", "*"), MockAsyncQueue())
    key, event = events[-1]
    assert key == ("Hub", "addedSubscriber", "x", "\\*")
    assert event["key"] == Key("x", "*")
    assert event["currentSubscriberCount"] == 1


def test_queue_sizes() -> None:
    """Queue sizes are reported for the queued subscriptions a key reaches."""
    hub = Hub()
    sizes = {"a": 3, "b": 5}
    hub.add_subscriber(Key("a", "*"), MockAsyncQueue(), lambda: sizes["a"])
    hub.add_subscriber(Key("a", "b"), MockAsyncQueue(), lambda: sizes["b"])
    hub.add_subscriber(Key("a", "c"), MockAsyncQueue())
    assert hub.get_subscriber_queue_sizes(Key("a", "b")) == (3, 5)
    assert hub.get_subscriber_queue_sizes(Key("a", "c")) == (3,)
    assert hub.get_subscriber_queue_sizes(Key("z")) == ()
    assert hub.get_all_subscriber_queue_sizes() == {Key("a", "*"): (3,), Key("a", "b"): (5,)}


def test_typed_publish_validates_before_any_delivery() -> None:
    """An invalid payload through a topic raises and reaches nobody."""
    hub = Hub()
    q = MockAsyncQueue()
    hub.add_subscriber(Key("*", "trade", "*"), q)
    topic = TRADES.fill("NASDAQ", "GOOGL")
    with pytest.raises(
        PayloadValidationError,
        match=r"^payload on key \('NASDAQ', 'trade', 'GOOGL'\) does not validate as Trade",
    ):
        hub.publish(topic, make_trade(quantity="many"))
    assert q.data == []
    hub.publish(topic, {"timestamp": 1, "quantity": 2, "price": 3})  # type: ignore[misc]  # pyright: ignore[reportArgumentType]
    assert q.data[0][1] == Trade(1.0, 2, decimal.Decimal(3))
    assert isinstance(q.data[0][1], Trade)


def test_typed_listener_gets_valid_payloads_from_untyped_publishes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Soundness: a listener subscribed through a topic only ever receives valid payloads."""
    hub = Hub()
    typed: list[Trade] = []
    untyped: list[Any] = []
    hub.add_subscriber(TRADES, lambda k, m: typed.append(m))
    hub.add_subscriber(Key("*", "trade", "*"), lambda k, m: untyped.append(m))
    hub.publish(Key("X", "trade", "Y"), {"timestamp": 1, "quantity": 2, "price": "3"})
    assert typed == [Trade(1.0, 2, decimal.Decimal(3))]
    assert isinstance(typed[0], Trade)
    assert untyped == [{"timestamp": 1, "quantity": 2, "price": "3"}]
    with caplog.at_level(logging.ERROR, "typedpubsub"), pytest.raises(PayloadValidationError):
        hub.publish(Key("X", "trade", "Y"), {"garbage": True})
    assert len(typed) == 1
    assert len(untyped) == 2  # the untyped listener still got it
    assert "not delivered to" in caplog.text
    assert hub.statistics().failed == 1


def test_typed_listener_gets_payloads_from_a_topic_of_another_type() -> None:
    """A message published through another type is converted (or refused) for the listener."""

    import dataclasses

    @dataclasses.dataclass
    class Fill:
        timestamp: float
        quantity: int
        price: float

    hub = Hub()
    typed: list[Trade] = []
    hub.add_subscriber(TRADES, lambda k, m: typed.append(m))
    fills = Topic(("A", "trade", "B"), Fill)
    hub.publish(fills, Fill(1.0, 2, 3.5))
    assert typed == [Trade(1.0, 2, decimal.Decimal(3.5))]
    hub.publish(QUOTES.fill("A", "B"), Quote(symbol="s", bid=1, ask=2))
    assert typed == [Trade(1.0, 2, decimal.Decimal(3.5))]


def test_same_type_is_not_revalidated_per_listener() -> None:
    """A payload validated at publish is handed to listeners of its type as is."""
    hub = Hub()
    got: list[Trade] = []
    for _ in range(3):
        hub.add_subscriber(TRADES, lambda k, m: got.append(m))
    trade = make_trade()
    hub.publish(TRADES.fill("a", "b"), trade)
    assert len(got) == 3
    assert all(item is trade for item in got)


def test_typeddict_topic_delivers_validated_dicts() -> None:
    """TypedDict payloads are validated dicts."""
    hub = Hub()
    got: list[Any] = []
    hub.add_subscriber(LEVELS, lambda k, m: got.append(m))
    hub.publish(LEVELS.fill("x"), {"price": "1.5", "size": 2})  # type: ignore[misc]  # pyright: ignore[reportArgumentType]
    assert got == [{"price": 1.5, "size": 2}]


def test_sync_listener_errors_are_isolated(caplog: pytest.LogCaptureFixture) -> None:
    """A raising callback reaches neither the publisher nor the other callbacks."""
    hub = Hub()
    q = MockAsyncQueue()

    def broken(key: Key, message: Any) -> None:
        raise RuntimeError("boom")

    hub.add_subscriber(Key("a"), broken)
    hub.add_subscriber(Key("a"), q)
    with caplog.at_level(logging.ERROR, "typedpubsub"):
        hub.publish(Key("a"), 1)
        hub.publish(Key("a"), 2)
    assert q.data == [(("a",), 1), (("a",), 2)]
    assert (
        "listener test_sync_listener_errors_are_isolated.<locals>.broken failed on key ('a',)"
        in caplog.text
    )
    assert hub.statistics().failed == 2


async def test_closed_hub_refuses_use() -> None:
    """After aclose, publishing and subscribing raise ClosedError."""
    hub = Hub()
    await hub.aclose()
    await hub.aclose()  # idempotent
    assert hub.closed
    with pytest.raises(ClosedError, match=r"^hub is closed"):
        hub.publish(Key("a"), 1)
    with pytest.raises(ClosedError):
        hub.add_subscriber(Key("a"), MockAsyncQueue())
    with pytest.raises(ClosedError):
        Subscriber(hub, "late")


def test_statistics_snapshot() -> None:
    """statistics() is a frozen record of the hub's counters."""
    hub = Hub(route_cache_size=10)
    q = MockAsyncQueue()
    hub.add_subscriber(Key("a"), q)
    hub.publish(Key("a"), 1)
    hub.publish(Key("b"), 1)
    stats = hub.statistics()
    assert stats.published == 2  # no meta message: nobody listens under ('Hub', ...)
    assert stats.delivered == 1
    assert stats.subscriptions == 1
    assert stats.route_cache_size == 10
    with pytest.raises(AttributeError):
        stats.published = 0  # type: ignore[misc]  # pyright: ignore[reportAttributeAccessIssue]


def test_route_cache_is_bounded() -> None:
    """However many distinct keys are published, the route cache keeps at most its bound."""
    hub = Hub(route_cache_size=100)
    q = MockAsyncQueue()
    hub.add_subscriber(Key("k", "*"), q)
    for i in range(1000):
        hub.publish(Key("k", str(i)), i)
    assert hub.statistics().cached_routes <= 100
    assert len(q.data) == 1000


def test_hub_options_are_checked() -> None:
    """route_cache_size must be a positive int."""
    with pytest.raises(ValueError, match=r"^route_cache_size must be >= 1, got 0$"):
        Hub(route_cache_size=0)
    with pytest.raises(TypeError, match=r"^route_cache_size must be int"):
        Hub(route_cache_size="1")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


async def test_recording_hub() -> None:
    """RecordingHub routes like a hub and records validated publishes for assertions."""
    hub = RecordingHub()
    rec = Recorder()
    hub.add_subscriber(TRADES, rec.sync)
    hub.publish(TRADES.fill("N", "G"), {"timestamp": 1, "quantity": 2, "price": 3})  # type: ignore[misc]  # pyright: ignore[reportArgumentType]
    hub.publish(Key("other"), "x")
    assert hub.published == [
        (Key("N", "trade", "G"), Trade(1.0, 2, decimal.Decimal(3))),
        (Key("other"), "x"),
    ]
    assert hub.published_by_key[Key("other")] == ["x"]
    trades = hub.messages(TRADES)
    assert trades == [Trade(1.0, 2, decimal.Decimal(3))]
    assert rec.messages == trades
    hub.clear()
    assert hub.published == []
    assert mocks.MockHub is RecordingHub


def test_recording_hub_records_meta_messages_when_asked() -> None:
    """With record_meta=True the hub's own messages are recorded even if nobody listens."""
    hub = RecordingHub(record_meta=True)
    hub.add_subscriber(Key("a", "*"), MockAsyncQueue())
    assert hub.published == [
        (
            Key("Hub", "addedSubscriber", "a", "\\*"),
            {"key": ("a", "*"), "currentSubscriberCount": 1},
        )
    ]
    quiet = RecordingHub()
    quiet.add_subscriber(Key("a", "*"), MockAsyncQueue())
    assert quiet.published == []


def test_statistics_stay_exact_when_the_shared_routes_overflow() -> None:
    """More distinct target sets than the cache holds: no publish goes uncounted."""
    hub = Hub(route_cache_size=4)
    for i in range(10):
        hub.add_subscriber(Key("k", str(i)), MockAsyncQueue())
    order = [0, 1, 2, 3, 4, 1, 2, 3, 5, 6, 7, 8, 9, 9]  # reuses keys cached across a reset
    for i in order:
        hub.publish(Key("k", str(i)), None)
    stats = hub.statistics()
    assert stats.published == len(order)
    assert stats.delivered == len(order)
