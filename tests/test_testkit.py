"""Tests written once that run in process and across a real nats-server (the linked_hubs fixture)."""

from __future__ import annotations

import asyncio
import dataclasses
import decimal
from collections.abc import Callable
from typing import Any

import pytest

from typedpubsub import Hub, Key, PayloadValidationError, Topic
from typedpubsub.testing import RecordingHub
from typedpubsub.testing.pytest_plugin import LinkedHubs

from .nats_topics import TRADES, Trade


async def next_message(
    listener: Hub, topic: Topic[Trade], publish: Callable[[], object]
) -> tuple[Key, Trade]:
    """Wait (30 s at most) for the next message on ``topic`` of ``listener`` after ``publish()``."""
    waiting = asyncio.ensure_future(listener.wait_for(topic, timeout=30))
    await asyncio.sleep(0)  # the waiter subscribes before the publish
    publish()
    return await waiting


async def test_linked_typed_delivery(linked_hubs: LinkedHubs) -> None:
    """A typed payload reaches a typed listener equal, with its field types intact."""
    publisher, listener = await linked_hubs.link(TRADES)
    sent = Trade(trade_id=1, quantity=2, price=decimal.Decimal("1.5"))
    key, got = await next_message(
        listener, TRADES, lambda: publisher.publish(TRADES.fill("NYSE", "IBM"), sent)
    )
    assert key == Key("NYSE", "trade", "IBM")
    assert got == sent
    assert isinstance(got.price, decimal.Decimal)


async def test_linked_untyped_dict_is_validated_for_a_typed_listener(
    linked_hubs: LinkedHubs,
) -> None:
    """An untyped dict reaches a typed listener as the validated type; garbage reaches nobody."""
    publisher, listener = await linked_hubs.link(TRADES)
    got: list[Any] = []
    listener.add_subscriber(TRADES, lambda k, m: got.append(m))
    with pytest.raises(PayloadValidationError):
        publisher.publish(Key("X", "trade", "Y"), {"garbage": True})
    _, fence = await next_message(
        listener,
        TRADES,
        lambda: publisher.publish(
            Key("X", "trade", "Y"), {"trade_id": 7, "quantity": 1, "price": "2.5"}
        ),
    )
    assert fence == Trade(trade_id=7, quantity=1, price=decimal.Decimal("2.5"))
    assert got == [fence]
    assert isinstance(got[0], Trade)


async def test_linked_invalid_payload_is_refused_before_any_delivery(
    linked_hubs: LinkedHubs,
) -> None:
    """An invalid payload through a topic raises at the publisher and is delivered nowhere."""
    publisher, listener = await linked_hubs.link(TRADES)
    got: list[Any] = []
    listener.add_subscriber(Key("*", "trade", "*"), lambda k, m: got.append(m))
    bad = Trade(trade_id=1, quantity="many", price=decimal.Decimal(1))  # type: ignore[arg-type]  # the invalid payload under test  # pyright: ignore[reportArgumentType]
    with pytest.raises(
        PayloadValidationError,
        match=r"^payload on key \('A', 'trade', 'B'\) does not validate as Trade",
    ):
        publisher.publish(TRADES.fill("A", "B"), bad)
    good = Trade(trade_id=2, quantity=1, price=decimal.Decimal(1))
    await next_message(listener, TRADES, lambda: publisher.publish(TRADES.fill("A", "B"), good))
    assert [m if isinstance(m, Trade) else TRADES.validate(m) for m in got] == [good]


async def test_linked_payload_of_another_type_is_converted_for_the_listener(
    linked_hubs: LinkedHubs,
) -> None:
    """A message published through a topic of another type arrives converted to the listener's."""

    @dataclasses.dataclass
    class Fill:
        trade_id: int
        quantity: int
        price: float

    fills = Topic(("*", "trade", "*"), Fill, name="fills")
    publisher, listener = await linked_hubs.link(TRADES)
    _, got = await next_message(
        listener, TRADES, lambda: publisher.publish(fills.fill("A", "B"), Fill(3, 4, 0.5))
    )
    assert got == Trade(trade_id=3, quantity=4, price=decimal.Decimal("0.5"))


async def test_wait_for_checks_its_arguments(hub: Hub) -> None:
    """A non-callable where is a TypeError, a bad timeout a TypeError or ValueError, anchored."""
    with pytest.raises(TypeError, match=r"^where must be callable or None, got 3 \(int\)$"):
        await hub.wait_for(TRADES, where=3)  # type: ignore[arg-type]  # the bad value under test  # pyright: ignore[reportArgumentType]
    with pytest.raises(TypeError, match=r"^timeout must be a number or None, got '1' \(str\)$"):
        await hub.wait_for(TRADES, timeout="1")  # type: ignore[arg-type]  # the bad value under test  # pyright: ignore[reportArgumentType]
    with pytest.raises(ValueError, match=r"^timeout must be >= 0, got -1$"):
        await hub.wait_for(TRADES, timeout=-1)
    with pytest.raises(ValueError, match=r"^timeout must be >= 0, got nan$"):
        await hub.wait_for(TRADES, timeout=float("nan"))
    assert hub.statistics().subscriptions == 0


async def test_wait_for_skips_invalid_and_unwanted_messages_and_cleans_up(hub: Hub) -> None:
    """Only a payload valid for the topic and passing where is returned; the listener goes."""
    waiting = asyncio.ensure_future(
        hub.wait_for(TRADES, where=lambda t: t.trade_id > 1, timeout=30)
    )
    await asyncio.sleep(0)
    assert hub.statistics().subscriptions == 1
    hub.publish(TRADES.fill("a", "b"), Trade(trade_id=1, quantity=1, price=decimal.Decimal(1)))
    hub.publish(Key("a", "trade", "c"), {"trade_id": 2, "quantity": "3", "price": "4"})
    hub.publish(Key("a", "trade", "d"), {"trade_id": 3, "quantity": 1, "price": 1})
    assert await waiting == (Key("a", "trade", "c"), Trade(2, 3, decimal.Decimal(4)))
    assert hub.statistics().subscriptions == 0


async def test_wait_for_times_out_or_is_cancelled_without_leaving_a_listener(hub: Hub) -> None:
    """Timeout raises TimeoutError; cancelling the waiter also removes its listener."""
    with pytest.raises(TimeoutError):
        await hub.wait_for(TRADES, timeout=0)
    waiting = asyncio.ensure_future(hub.wait_for(TRADES))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert hub.statistics().subscriptions == 0


def test_recorder_assertions_name_what_was_published() -> None:
    """assert_published / assert_not_published fail with anchored messages listing the keys."""
    recorder = RecordingHub()
    recorder.publish(TRADES.fill("NYSE", "IBM"), Trade(1, 2, decimal.Decimal(3)))
    recorder.publish(Key("LSE", "trade", "X"), {"trade_id": 2, "quantity": 1, "price": "1"})
    recorder.publish(Key("LSE", "trade", "Y"), {"garbage": True})
    assert recorder.count(TRADES) == 2  # the garbage dict is no Trade
    assert recorder.count(Key("*", "trade", "*")) == 3
    recorder.assert_published(TRADES, Trade(2, 1, decimal.Decimal(1)), times=1)
    recorder.assert_published(TRADES, lambda t: t.quantity == 2)
    recorder.assert_not_published(TRADES.fill("NYSE", "MSFT"))
    with pytest.raises(
        AssertionError,
        match=r"^expected a message on \('NYSE', 'trade', 'MSFT'\) published at least once, got 0; nothing was published on \('NYSE', 'trade', 'MSFT'\)$",
    ):
        recorder.assert_published(TRADES.fill("NYSE", "MSFT"))
    with pytest.raises(
        AssertionError,
        match=r"^expected a message on \('\*', 'trade', '\*'\) published 1 time\(s\), got 2; published on \('\*', 'trade', '\*'\):\n  \('NYSE', 'trade', 'IBM'\): Trade\(",
    ):
        recorder.assert_published(TRADES, times=1)
    with pytest.raises(
        AssertionError,
        match=r"^expected a message on \('\*', 'trade', '\*'\) not published, got 2; published on",
    ):
        recorder.assert_not_published(TRADES)
