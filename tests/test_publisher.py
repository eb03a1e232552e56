"""Publishers: prefixes, typed publishing and throttling."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from typedpubsub import Hub, Key, PayloadValidationError, Publisher, Subscriber, Topic
from typedpubsub.testing import RecordingHub
from typedpubsub.utils import ThrottledPublisher

from .helpers import TRADES, Recorder, Trade, make_trade


def test_publisher_prepends_its_prefix() -> None:
    """Ported from aiopubsub: the publisher's prefix is prepended to the key."""
    hub = RecordingHub()
    publisher = Publisher(hub, "Tester")
    publisher.publish(("a", "b"), "message")
    publisher.publish("c", "message2")
    publisher.publish(Key("d", "e"), "message3")
    assert hub.published == [
        (Key("Tester", "a", "b"), "message"),
        (Key("Tester", "c"), "message2"),
        (Key("Tester", "d", "e"), "message3"),
    ]
    assert publisher.prefix == ("Tester",)


def test_publisher_has_subscribers() -> None:
    """Ported from aiopubsub: has_subscribers asks about prefix + key."""
    hub = Hub()
    publisher = Publisher(hub, "Tester")
    k1, k2 = Key("a", "b"), Key("a", "x")
    assert not publisher.has_subscribers()
    assert not publisher.has_subscribers(k1)
    hub.add_subscriber(Key("Tester") + k1, lambda k, m: None)
    assert publisher.has_subscribers()
    assert publisher.has_subscribers(k1)
    assert not publisher.has_subscribers(k2)


def test_publisher_validates_topics_under_its_prefix() -> None:
    """A topic published through a prefixed publisher is still validated and typed."""
    hub = RecordingHub()
    rec = Recorder()
    hub.add_subscriber(TRADES, rec.sync)
    publisher = Publisher(hub, Key("NASDAQ"))
    relative = Topic(("trade", "GOOGL"), Trade)
    publisher.publish(relative, make_trade())
    assert rec.messages == [make_trade()]
    with pytest.raises(
        PayloadValidationError, match=r"^payload on key \('NASDAQ', 'trade', 'GOOGL'\)"
    ):
        publisher.publish(relative, make_trade(quantity="many"))
    # A plain key equal to the topic is untyped (no validation picked up from a cache), but the
    # typed listener still refuses what is not a Trade, and the publisher hears of it.
    with pytest.raises(PayloadValidationError, match=r"\(payload\): Input should be a dictionary"):
        publisher.publish(("trade", "GOOGL"), "anything")
    assert hub.published[-1] == (("NASDAQ", "trade", "GOOGL"), "anything")
    assert rec.messages == [make_trade()]


def test_publisher_rejects_a_non_hub() -> None:
    """A publisher needs a typedpubsub hub."""
    with pytest.raises(TypeError, match=r"^hub must be a typedpubsub Hub, got None"):
        Publisher(None, "x")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


def simple_delay() -> Iterator[float]:
    while True:
        yield 0.01


async def test_throttled_publish_without_subscribers() -> None:
    """Ported from aiopubsub: a throttled publish with nobody listening returns at once."""
    hub = Hub()
    throttled = ThrottledPublisher(hub, Publisher(hub, "Tester"), 2, simple_delay)
    await asyncio.wait_for(throttled.publish(Key("a", "b"), "message"), 1)


async def test_throttled_publish(hub: Hub, subscriber: Subscriber) -> None:
    """Ported from aiopubsub: throttled publishing delivers."""
    publisher = Publisher(hub, "Tester")
    throttled = ThrottledPublisher(hub, publisher, 2, simple_delay)
    k = Key("a", "b")
    subscriber.subscribe(Key("Tester", *k))
    await throttled.publish(k, "message")
    assert publisher.has_subscribers(k)
    _, message = await asyncio.wait_for(subscriber.consume(), 1)
    assert message == "message"


async def test_throttled_publish_waits_for_room(hub: Hub, subscriber: Subscriber) -> None:
    """Ported from aiopubsub: a publish over max_qsize waits until a consumer makes room."""
    throttled = ThrottledPublisher(hub, Publisher(hub, "Tester"), 2, simple_delay)
    k = Key("a", "b")
    subscriber.subscribe(Key("Tester", *k))
    await throttled.publish(k, "message")
    await throttled.publish(k, "message")
    blocked = asyncio.create_task(throttled.publish(k, "message"))
    await asyncio.sleep(0.02)
    assert not blocked.done()
    await subscriber.consume()
    done, _ = await asyncio.wait([blocked], timeout=0.5)
    assert blocked in done


async def test_throttled_str_key_is_one_part(hub: Hub, subscriber: Subscriber) -> None:
    """Departure: a str key given to throttled publishing is one part, not characters."""
    throttled = ThrottledPublisher(hub, Publisher(hub, "T"), 0)
    subscriber.subscribe(Key("T", "abc"))
    task = asyncio.create_task(throttled.publish("abc", 1))
    assert await asyncio.wait_for(subscriber.consume(), 1) == (("T", "abc"), 1)
    await asyncio.wait_for(task, 1)


def test_throttled_options_are_checked() -> None:
    """max_qsize must be a non-negative int."""
    hub = Hub()
    with pytest.raises(ValueError, match=r"^max_qsize must be >= 0, got -1$"):
        ThrottledPublisher(hub, Publisher(hub, "T"), -1)
