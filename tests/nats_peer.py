"""A second OS process for the NATS tests: a hub that answers each trade with a confirmation.

Usage: python -m tests.nats_peer NATS_URL COUNT
"""

from __future__ import annotations

import asyncio
import sys

from typedpubsub import Hub, Key, Subscriber
from typedpubsub.nats import NatsBridge

from .nats_topics import CONFIRMATIONS, TRADES, Confirmation, Trade


async def main(url: str, count: int) -> None:
    async with Hub() as hub:
        done = asyncio.Event()
        seen = 0

        async def on_trade(key: Key, trade: Trade) -> None:
            nonlocal seen
            hub.publish(
                CONFIRMATIONS.fill(key[0]), Confirmation(trade_id=trade.trade_id, venue=key[0])
            )
            seen += 1
            if seen == count:
                done.set()

        async with NatsBridge(hub, [TRADES, CONFIRMATIONS], servers=url):
            subscriber = Subscriber(hub, "peer")
            subscriber.add_async_listener(TRADES, on_trade)
            print("ready", flush=True)
            await asyncio.wait_for(done.wait(), 60)
            await subscriber.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
