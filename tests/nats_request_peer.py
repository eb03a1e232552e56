"""A second OS process for the NATS request tests: a hub whose responder adds numbers.

Usage: python -m tests.nats_request_peer NATS_URL NAME; it prints "ready" once it answers and
stops when its stdin closes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys

from typedpubsub import Hub, Key, RequestTopic, Subscriber
from typedpubsub.nats import NatsBridge


@dataclasses.dataclass
class Add:
    a: int
    b: int


@dataclasses.dataclass
class Sum:
    total: int
    by: str


ADD = RequestTopic(("calc", "*", "add"), Add, Sum, name="add", parameters=["shard"])


async def main(url: str, name: str) -> None:
    async with Hub() as hub:

        async def add(key: Key, request: Add) -> Sum:
            if request.a < 0:
                raise ValueError(f"a must be >= 0, got {request.a}")
            if request.a == 999:
                await asyncio.sleep(60)
            return Sum(request.a + request.b, name)

        async with Subscriber(hub, name) as subscriber:
            subscriber.add_responder(ADD, add)
            # Started after the responder: start() returns with its subject subscribed.
            async with NatsBridge(hub, [ADD], servers=url):
                print("ready", flush=True)
                await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
