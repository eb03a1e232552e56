"""Static type checks: never executed; mypy --strict and basedpyright check this file.

Lines marked with an ignore must fail to type-check; under --warn-unused-ignores (mypy) and
reportUnnecessaryTypeIgnoreComment (basedpyright) a must-fail line that starts to pass is an error.
"""

from __future__ import annotations

import dataclasses
import decimal
from typing import Any

import pydantic
from typing_extensions import TypedDict, TypeForm, assert_type

import typedpubsub
from typedpubsub import Hub, Key, Publisher, Stream, Subscriber, Topic


@dataclasses.dataclass
class Trade:
    timestamp: float
    quantity: int
    price: decimal.Decimal


class Quote(pydantic.BaseModel):
    bid: float
    ask: float


class Level(TypedDict):
    price: float
    size: int


TRADES = Topic(("*", "trade", "*"), Trade)
QUOTES = Topic(("*", "quote", "*"), Quote)
LEVELS = Topic(("*", "level"), Level)
NUMBERS = Topic[int | None](("numbers",), int | None)

assert_type(TRADES, Topic[Trade])
assert_type(QUOTES, Topic[Quote])
assert_type(LEVELS, Topic[Level])
assert_type(NUMBERS, Topic[int | None])
assert_type(Key("a", "b"), Key[Any])
assert_type(Key.create_from("a"), Key[Any])
assert_type(TRADES.fill("NASDAQ", "GOOGL"), Topic[Trade])
assert_type(Key("NASDAQ") + TRADES, Topic[Trade])
assert_type(TRADES + Key("extra"), Topic[Trade])
assert_type(Key("a") + Key("b"), Key[Any])
assert_type(TRADES.validate({}), Trade)
assert_type(TRADES.payload_type, TypeForm[Trade])
assert_type(Topic("n", int | None), Topic[int | None])
assert_type(Topic("l", list[Trade]), Topic[list[Trade]])
Topic[Trade]("k", Quote)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
Topic[Trade]("k", Trade | None)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
Topic[int]("k", str)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]

trade = Trade(1.0, 2, decimal.Decimal(3))
quote = Quote(bid=1.0, ask=2.0)


async def on_trade(key: Key, trade: Trade) -> None: ...
async def on_quote(key: Key, quote: Quote) -> None: ...
async def on_anything(key: Key, message: object) -> None: ...
def sync_on_trade(key: Key, trade: Trade) -> None: ...
def sync_on_quote(key: Key, quote: Quote) -> None: ...
def sync_keep_trade(key: Key, trade: Trade) -> bool:
    return True


async def main() -> None:
    hub = Hub()
    hub.publish(TRADES.fill("NASDAQ", "GOOGL"), trade)
    hub.publish(Key("any", "thing"), "untyped keys take anything")
    hub.publish(TRADES, quote)  # type: ignore[misc]  # pyright: ignore[reportArgumentType]
    hub.publish(LEVELS, Level(price=1.0, size=2))
    hub.publish(LEVELS, {"price": 1.0})  # type: ignore[misc]  # pyright: ignore[reportArgumentType]
    await hub.apublish(TRADES, trade)
    await hub.apublish(TRADES, quote)  # type: ignore[misc]  # pyright: ignore[reportArgumentType]

    publisher = Publisher(hub, "NASDAQ")
    publisher.publish(Key("trade", "GOOGL"), trade)
    publisher.publish(("trade", "GOOGL"), trade)
    publisher.publish("trade", trade)
    publisher.publish(TRADES, trade)
    publisher.publish(TRADES, quote)  # type: ignore[misc]  # pyright: ignore[reportArgumentType]

    subscriber = Subscriber(hub, "checks")
    subscriber.add_async_listener(TRADES, on_trade)
    subscriber.add_async_listener({TRADES, TRADES.fill("NYSE", "*")}, on_trade)
    subscriber.add_async_listener(TRADES, on_anything)
    subscriber.add_async_listener(Key("x"), on_quote)
    subscriber.add_async_listener(TRADES, on_quote)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    subscriber.add_async_listener(TRADES, sync_on_trade)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    subscriber.add_sync_listener(TRADES, sync_on_trade)
    subscriber.add_sync_listener(TRADES, sync_on_quote)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    subscriber.add_sync_listener(TRADES, sync_keep_trade)  # a sync listener may return a value
    # Statically an async function is a sync listener returning a value; at run time
    # add_sync_listener refuses it with TypeError.
    subscriber.add_sync_listener(TRADES, on_trade)
    hub.add_subscriber(TRADES, sync_on_trade)
    hub.add_subscriber(TRADES, sync_on_quote)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]

    stream = subscriber.stream(TRADES)
    assert_type(stream, Stream[Trade])
    async with subscriber.stream(TRADES) as trades:
        async for key, got in trades:
            assert_type(key, Key)
            assert_type(got, Trade)

    key, message = await subscriber.consume()
    assert_type(message, Any)

    def on_added(key: Key, event: typedpubsub.SubscriberEvent) -> None:
        assert_type(event["currentSubscriberCount"], int)
        assert_type(event["key"], Key)

    subscriber.add_sync_listener(typedpubsub.ADDED_SUBSCRIBER, on_added)
    stats = hub.statistics()
    assert_type(stats.published, int)
    await subscriber.remove_all_listeners()
    await subscriber.aclose()
