"""A late-joining OS process for the retained-topic NATS test: prints what it receives.

Usage: python -m tests.nats_retain_peer NATS_URL COUNT

It bridges ``PRICES`` in JetStream mode, prints ``ready``, then one JSON line per message its
listener receives until it has ``COUNT`` of them, then a last line with ``hub.last`` of each
key it saw and of ``('px', 'cleared')``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys

from typedpubsub import Hub, Key, Subscriber, Topic
from typedpubsub.nats import NatsBridge


@dataclasses.dataclass
class Price:
    value: float


PRICES = Topic(("px", "*"), Price, name="prices", retain=True)
"""A retained topic: a process that joins late receives the last price of each key."""


async def main(url: str, count: int) -> None:
    async with Hub() as hub:
        done = asyncio.Event()
        received: list[tuple[str, float]] = []

        async def on_price(key: Key, price: Price) -> None:
            assert isinstance(price, Price)
            received.append((key[-1], price.value))
            print(json.dumps([key[-1], price.value]), flush=True)
            if len(received) == count:
                done.set()

        async with NatsBridge(hub, [PRICES], servers=url, mode="jetstream"):
            subscriber = Subscriber(hub, "late")
            subscriber.add_async_listener(PRICES, on_price)
            print("ready", flush=True)
            await asyncio.wait_for(done.wait(), 60)
            last = {
                name: None if (p := hub.last(PRICES.fill(name))) is None else p.value
                for name in [*dict(received), "cleared"]
            }
            print(json.dumps(last), flush=True)
            await subscriber.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
