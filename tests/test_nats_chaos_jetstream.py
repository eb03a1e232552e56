"""Chaos for the NATS bridge in JetStream mode: the server killed (SIGKILL) and restarted on its
store mid-stream, and permanent send failures in the middle of a stream."""

from __future__ import annotations

import asyncio
import decimal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from typedpubsub import Hub, Key
from typedpubsub.nats import BRIDGE_ERROR, BridgeFailure, NatsBridge
from typedpubsub.testing.natsserver import NatsServer

from .helpers import eventually
from .nats_topics import TRADES, Trade


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NatsServer]:
    """A nats-server with JetStream and max_payload 4 KiB, stopped by its pid after the test."""
    instance = NatsServer(tmp_path, config="max_payload: 4096\n")
    instance.start()
    yield instance
    instance.stop()


def trade(i: int) -> Trade:
    return Trade(trade_id=i, quantity=1, price=decimal.Decimal("1.5"))


async def test_kill_and_restart_mid_pipeline_delivers_each_message_once(
    server: NatsServer,
) -> None:
    """SIGKILL twice while a window of publishes awaits acks: each message arrives exactly once."""
    total = 3_000
    async with Hub() as producer, Hub() as consumer:
        received: list[int] = []
        outages: list[str] = []
        consumer.add_subscriber(TRADES, lambda k, m: received.append(m.trade_id))
        producer.add_subscriber(BRIDGE_ERROR, lambda k, f: outages.append(f.reason))
        async with (
            NatsBridge(producer, [TRADES], servers=server.url, mode="jetstream") as out,
            NatsBridge(consumer, [TRADES], servers=server.url, mode="jetstream", durable="c"),
        ):
            loop = asyncio.get_running_loop()
            restarts: list[asyncio.Future[None]] = []
            for i in range(total):
                await producer.apublish(TRADES.fill("K", "S"), trade(i))
                if i == total // 3:  # publishing goes on meanwhile
                    restarts.append(loop.run_in_executor(None, server.restart))
                if i == 2 * total // 3:
                    await asyncio.wait_for(asyncio.gather(*restarts), 30)
                    restarts.append(loop.run_in_executor(None, server.restart))
                if i % 100 == 0:
                    await asyncio.sleep(0.001)
            await asyncio.wait_for(asyncio.gather(*restarts), 30)
            await eventually(lambda: out.statistics().sent == total, timeout=20)
            await eventually(lambda: len(received) >= total, timeout=20)
            await asyncio.sleep(0.3)  # a duplicate would arrive by now
            stats = out.statistics()
        assert sorted(received) == list(range(total))
        assert (stats.failed, stats.dropped, stats.pending) == (0, 0, 0)
        # The kills were seen (whether a publish was awaiting its acknowledgement at that moment
        # depends on timing; the delivery assertions above hold either way).
        assert "disconnected" in outages
        assert outages.count("disconnected") == outages.count("reconnected")


async def test_permanent_failures_in_the_middle_of_a_stream(server: NatsServer) -> None:
    """Oversized messages among good ones: each reported at once, the rest arrive in order."""
    async with Hub() as producer, Hub() as consumer:
        failures: list[BridgeFailure] = []
        got: list[int] = []
        producer.add_subscriber(BRIDGE_ERROR, lambda k, f: failures.append(f))
        consumer.add_subscriber(Key("p", "*"), lambda k, m: got.append(m["n"]))
        async with (
            NatsBridge(producer, [Key("p", "*")], servers=server.url, mode="jetstream") as out,
            NatsBridge(consumer, [Key("p", "*")], servers=server.url, mode="jetstream"),
        ):
            payload: dict[str, Any]
            for i in range(500):
                payload = {"n": i, "pad": "x" * 5_000} if i % 50 == 25 else {"n": i}
                await producer.apublish(Key("p", "s"), payload)
            await eventually(lambda: len(got) == 490, timeout=15)
            await eventually(lambda: out.statistics().sent == 490, timeout=15)  # acks read
            stats = out.statistics()
        assert got == [i for i in range(500) if i % 50 != 25]
        assert [f.reason for f in failures] == ["publish"] * 10
        assert (stats.sent, stats.failed, stats.pending) == (490, 10, 0)
