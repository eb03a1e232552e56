"""aiopubsub's README example, ported to typed topics: run ``python examples/trades.py``."""

from __future__ import annotations

import asyncio
import dataclasses
import decimal

import typedpubsub
from typedpubsub import Hub, Key, Publisher, Subscriber, Topic


@dataclasses.dataclass
class Trade:
    """A trade executed on an exchange."""

    timestamp: float
    quantity: int
    price: decimal.Decimal


# ('*', 'trade', '*'): any exchange, any symbol; every payload on it must be a Trade.
TRADES = Topic(("*", "trade", "*"), Trade, name="trades", parameters=["exchange", "symbol"])


async def on_trade(key: Key, trade: Trade) -> None:
    print(f"Processing trade = {trade}  with key = {key}.")


async def on_nyse_trade(key: Key, trade: Trade) -> None:
    print(f"Processing trade = {trade}  with key = {key} that happened in NYSE")


async def main() -> None:
    async with Hub() as hub:
        subscriber = Subscriber(hub, "trades")
        subscriber.add_async_listener(TRADES, on_trade)
        subscriber.add_async_listener(TRADES.fill(exchange="NYSE"), on_nyse_trade)

        nasdaq = Publisher(hub, prefix=Key("NASDAQ"))
        nyse = Publisher(hub, prefix=Key("NYSE"))
        googl = Topic(("trade", "GOOGL"), Trade)  # relative to each publisher's prefix

        nasdaq.publish(googl, Trade(timestamp=123.5, quantity=56, price=decimal.Decimal("1639.43")))
        nyse.publish(googl, Trade(timestamp=127.45, quantity=67, price=decimal.Decimal("1639.44")))

        await subscriber.aclose()  # drains: both listeners have printed when it returns

        # A dataclass constructor checks nothing; the topic does, before anyone receives it.
        try:
            nasdaq.publish(googl, Trade(timestamp=130.0, quantity="many", price=decimal.Decimal(1)))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
        except typedpubsub.PayloadValidationError as error:
            print(f"Refused: {error}")


if __name__ == "__main__":
    asyncio.run(main())
