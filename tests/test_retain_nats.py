"""Retained topics across NATS: late joiners, tombstones and hostile input, on a real server."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import nats

from typedpubsub import Hub, Key, Subscriber, Topic
from typedpubsub.nats import (
    BRIDGE_ERROR,
    MSG_ID_HEADER,
    TOMBSTONE_HEADER,
    BridgeFailure,
    NatsBridge,
)
from typedpubsub.testing.natsserver import NatsServer

from .conftest import ROOT
from .helpers import eventually
from .nats_retain_peer import PRICES, Price


async def _acknowledged(bridge: NatsBridge, count: int) -> None:
    """Wait (bounded) until ``bridge`` had ``count`` messages acknowledged."""
    await eventually(lambda: bridge.statistics().sent == count, timeout=20)


async def test_late_joiner_in_another_process_receives_the_last_values(
    server: NatsServer, tmp_path: Path
) -> None:
    """A process that joins late gets each key's last value once, no cleared key, then live."""
    async with Hub() as hub:
        async with NatsBridge(hub, [PRICES], servers=server.url, mode="jetstream") as bridge:
            hub.publish(PRICES.fill("a"), Price(1.0))
            hub.publish(PRICES.fill("b"), Price(2.0))
            hub.publish(PRICES.fill("a"), Price(3.0))
            hub.publish(PRICES.fill("cleared"), Price(4.0))
            assert hub.clear(PRICES.fill("cleared"))
            await _acknowledged(bridge, 5)
            errors = tmp_path / "peer.err"
            with errors.open("w") as stderr:
                peer = subprocess.Popen(  # noqa: ASYNC220 - started once; its output is read
                    [sys.executable, "-m", "tests.nats_retain_peer", server.url, "3"],
                    cwd=ROOT,
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                    text=True,
                )
            try:
                assert peer.stdout is not None
                loop = asyncio.get_running_loop()
                ready = await loop.run_in_executor(None, peer.stdout.readline)
                assert ready.strip() == "ready", errors.read_text()
                lines = [json.loads(await loop.run_in_executor(None, peer.stdout.readline))]
                lines.append(json.loads(await loop.run_in_executor(None, peer.stdout.readline)))
                hub.publish(PRICES.fill("d"), Price(5.0))  # live, after the retained ones
                lines.append(json.loads(await loop.run_in_executor(None, peer.stdout.readline)))
                last = json.loads(await loop.run_in_executor(None, peer.stdout.readline))
                assert await loop.run_in_executor(None, peer.wait, 30) == 0, errors.read_text()
            finally:
                if peer.poll() is None:
                    peer.kill()
                    peer.wait()
                assert peer.stdout is not None
                peer.stdout.close()
    # JetStream's last-per-subject order: b's last message precedes a's.
    assert lines == [["b", 2.0], ["a", 3.0], ["d", 5.0]]
    assert last == {"a": 3.0, "b": 2.0, "d": 5.0, "cleared": None}


async def test_late_hub_retains_values_for_later_listeners(server: NatsServer) -> None:
    """A late joiner has the last values when start() returns: later subscribers and
    hub.last see them."""
    async with (
        Hub() as early,
        NatsBridge(early, [PRICES], servers=server.url, mode="jetstream") as out,
    ):
        early.publish(PRICES.fill("x"), Price(1.5))
        early.publish(PRICES.fill("y"), Price(2.5))
        await _acknowledged(out, 2)
        async with Hub() as late, NatsBridge(late, [PRICES], servers=server.url, mode="jetstream"):
            assert late.statistics().retained == 2  # start() waited for the last values
            assert late.last(PRICES.fill("x")) == Price(1.5)
            got: list[tuple[Key, Price]] = []
            Subscriber(late, "s").add_sync_listener(PRICES, lambda k, p: got.append((k, p)))
            assert got == [(("px", "x"), Price(1.5)), (("px", "y"), Price(2.5))]
            early.clear(PRICES.fill("x"))
            await eventually(lambda: late.last(PRICES.fill("x")) is None, timeout=20)
            assert late.last(PRICES.fill("y")) == Price(2.5)


async def test_tombstone_crosses_core_nats(server: NatsServer) -> None:
    """In core mode a clear reaches the peers present: their retained value is gone."""
    async with (
        Hub() as a,
        Hub() as b,
        NatsBridge(a, [PRICES], servers=server.url),
        NatsBridge(b, [PRICES], servers=server.url),
    ):
        a.publish(PRICES.fill("k"), Price(1.0))
        await eventually(lambda: b.last(PRICES.fill("k")) == Price(1.0))
        a.clear(PRICES.fill("k"))
        await eventually(lambda: b.last(PRICES.fill("k")) is None)


async def test_hostile_tombstones_and_payloads_are_reported_not_applied(
    server: NatsServer,
) -> None:
    """A tombstone on a non-retained topic, and malformed retained payloads, are rejected."""
    plain = Topic(("plain", "*"), Price)
    async with Hub() as hub:
        failures: list[BridgeFailure] = []
        hub.add_subscriber(BRIDGE_ERROR, lambda k, f: failures.append(f))
        got: list[Price] = []
        hub.add_subscriber(plain, lambda k, p: got.append(p))
        async with NatsBridge(hub, [PRICES, plain], servers=server.url, mode="jetstream") as bridge:
            hub.publish(PRICES.fill("kept"), Price(7.0))
            await _acknowledged(bridge, 1)
            nc = await nats.connect(server.url)
            try:
                js = nc.jetstream()
                forged = {TOMBSTONE_HEADER: "1", MSG_ID_HEADER: "f1"}
                await js.publish("typedpubsub.plain.k", b"", headers=forged)
                await js.publish("typedpubsub.px.bad", b'{"value": "not a number"}')
                await js.publish("typedpubsub.px.junk", b"{not json")
                await js.publish("typedpubsub.plain.k", b'{"value": 1}')
            finally:
                await nc.close()
            await eventually(lambda: len(got) == 1 and len(failures) == 3, timeout=20)
        assert got == [Price(1.0)]
        assert [f.reason for f in failures] == [
            "invalid_tombstone",
            "invalid_payload",
            "invalid_json",
        ]
        assert hub.last(PRICES.fill("bad")) is None
        assert hub.last(PRICES.fill("junk")) is None
        assert hub.last(PRICES.fill("kept")) == Price(7.0)
        assert bridge.statistics().rejected == 3
