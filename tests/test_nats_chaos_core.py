"""Core-mode NATS bridge under faults: server crashes, outages, a hostile client; real server."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

import nats
import pytest

from typedpubsub import Hub, Key
from typedpubsub.nats import (
    BRIDGE_ERROR,
    MSG_ID_HEADER,
    ORIGIN_HEADER,
    BridgeFailure,
    NatsBridge,
)
from typedpubsub.testing.natsserver import NatsServer

from .helpers import eventually
from .nats_topics import TRADES, trade


def nats_tasks() -> list[asyncio.Task[Any]]:
    """Tasks of nats-py still alive in this loop."""
    return [
        task
        for task in asyncio.all_tasks()
        if not task.done()
        and "nats" in getattr(task.get_coro(), "__module__", "")
        or "nats/" in repr(task.get_coro())
    ]


async def kill(server: NatsServer) -> None:
    await asyncio.get_running_loop().run_in_executor(None, server.stop, signal.SIGKILL)


async def revive(server: NatsServer) -> None:
    await asyncio.get_running_loop().run_in_executor(None, server.start)


async def test_an_outage_is_reported_once_when_it_starts_and_once_when_it_ends(
    server: NatsServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A down server: one 'disconnected', one 'reconnected', not one report per attempt."""
    caplog.set_level(logging.WARNING, logger="typedpubsub.nats")
    async with Hub() as hub:
        failures: list[BridgeFailure] = []
        hub.add_subscriber(BRIDGE_ERROR, lambda k, f: failures.append(f))
        async with NatsBridge(hub, [TRADES], servers=server.url) as bridge:
            await kill(server)
            await eventually(lambda: len(failures) == 1)
            await asyncio.sleep(1.5)  # several reconnect attempts (every 0.2 s) fail meanwhile
            hub.publish(TRADES.fill("D", "S"), trade(1))  # core: not sent, counted
            assert [f.reason for f in failures] == ["disconnected"]
            await revive(server)
            await eventually(lambda: len(failures) == 2, timeout=10)
            assert bridge.statistics().errors == 1
        assert [f.reason for f in failures] == ["disconnected", "reconnected"]
        for failure in failures:
            assert server.url in failure.error
            assert "''" not in failure.error
        assert "1 message(s) published meanwhile were not sent" in failures[1].error
        bridge_lines = [r for r in caplog.records if r.name == "typedpubsub.nats"]
        assert len(bridge_lines) == 2


async def test_aclose_while_the_server_is_down_is_quiet_and_complete(server: NatsServer) -> None:
    """aclose() with the server gone raises nothing and leaves no nats-py task behind."""
    before = set(asyncio.all_tasks())
    async with Hub() as hub:
        failures: list[BridgeFailure] = []
        hub.add_subscriber(BRIDGE_ERROR, lambda k, f: failures.append(f))
        bridge = NatsBridge(hub, [TRADES], servers=server.url)
        await bridge.start()
        hub.publish(TRADES.fill("A", "B"), trade(1))
        await kill(server)
        await eventually(lambda: len(failures) == 1)
        hub.publish(TRADES.fill("A", "B"), trade(2))
        await asyncio.wait_for(bridge.aclose(timeout=2), 10)
    await asyncio.sleep(0.05)  # let cancelled tasks finish unwinding
    left = [t for t in asyncio.all_tasks() if t not in before and not t.done()]
    assert left == []


async def test_core_mode_loses_only_during_an_outage_and_counts(server: NatsServer) -> None:
    """kill -9 and restart mid-stream: all before and after arrive, once; the rest is counted."""
    async with Hub() as producer, Hub() as consumer:
        got: list[int] = []
        consumer.add_subscriber(TRADES, lambda k, m: got.append(m.trade_id))
        reports: list[BridgeFailure] = []
        producer.add_subscriber(BRIDGE_ERROR, lambda k, f: reports.append(f))
        consumer_reports: list[BridgeFailure] = []
        consumer.add_subscriber(BRIDGE_ERROR, lambda k, f: consumer_reports.append(f))
        async with (
            NatsBridge(producer, [TRADES], servers=server.url) as out,
            NatsBridge(consumer, [TRADES], servers=server.url),
        ):
            for i in range(100):
                producer.publish(TRADES.fill("C", "S"), trade(i))
            await eventually(lambda: len(got) == 100)
            await kill(server)
            await eventually(lambda: len(reports) == 1 and len(consumer_reports) == 1)
            for i in range(100, 200):  # during the outage
                producer.publish(TRADES.fill("C", "S"), trade(i))
            await revive(server)
            await eventually(lambda: len(reports) == 2 and len(consumer_reports) == 2, timeout=10)
            # The server may not have the consumer's renewed subscription yet: probe until a
            # message gets through, so that what follows is not sent into the gap.
            probes = 0
            while not any(t < 0 for t in got):
                probes += 1
                producer.publish(TRADES.fill("C", "S"), trade(-probes))
                await asyncio.sleep(0.05)
                assert probes < 200, "no delivery after the reconnection"
            for i in range(200, 300):
                producer.publish(TRADES.fill("C", "S"), trade(i))
            await eventually(lambda: 299 in got, timeout=10)
            await asyncio.sleep(0.2)
            stats = out.statistics()
        assert [r.reason for r in reports] == ["disconnected", "reconnected"]
        assert [t for t in got if t >= 0] == list(range(100)) + list(range(200, 300))
        assert (stats.sent, stats.errors) == (200 + probes, 100)


async def test_a_hostile_client_is_rejected_and_genuine_messages_flow(server: NatsServer) -> None:
    """Forged headers, malformed and oversized bodies, odd subjects: each rejected, counted."""
    async with Hub() as sender, Hub() as receiver:
        got: list[tuple[Key, Any]] = []
        receiver.add_subscriber(TRADES, lambda k, m: got.append((k, m.trade_id)))
        receiver.add_subscriber(Key("any", "*"), lambda k, m: got.append((k, m)))
        failures: list[BridgeFailure] = []
        receiver.add_subscriber(BRIDGE_ERROR, lambda k, f: failures.append(f))
        keys = [TRADES, Key("any", "*")]
        async with (
            NatsBridge(sender, keys, servers=server.url),
            NatsBridge(receiver, keys, servers=server.url) as into,
        ):
            hostile = await nats.connect(server.url)
            try:
                max_payload = hostile.max_payload
                huge = b'{"trade_id": "' + b"9" * (max_payload - 100) + b'"}'
                attacks: list[tuple[str, bytes, dict[str, str] | None]] = [
                    ("X.trade.Y", b"{not json", None),
                    ("X.trade.Y", b'{"trade_id": "nope"}', None),
                    ("X.trade.Y", huge, None),  # just under max_payload, invalid
                    ("X.trade.Y", b"\xff\xfe", {ORIGIN_HEADER: "x" * 5000, MSG_ID_HEADER: ""}),
                    ("any.x", b"NaN-ish", {MSG_ID_HEADER: "\u2603" * 100}),
                    ("any.\u00e9t\u00e9", b'{"unicode": "fine"}', None),  # a valid key: delivered
                    ("any." + "t" * 3000, b"[1]", None),  # a long token: a valid key too
                    ("$x.trade.y", b"{}", None),  # system-like: ignored, never delivered
                ]
                for i, (subject, data, headers) in enumerate(attacks):
                    await hostile.publish(subject, data, headers=headers)
                    sender.publish(TRADES.fill("G", "S"), trade(i))
                await hostile.flush()
            finally:
                await hostile.close()
            await eventually(lambda: len([g for g in got if g[0][0] == "G"]) == len(attacks))
            await eventually(lambda: len(failures) >= 5)
            await asyncio.sleep(0.2)
            stats = into.statistics()
        reasons = sorted(f.reason for f in failures)
        assert reasons == ["invalid_json"] * 3 + ["invalid_payload"] * 2
        assert stats.rejected == 5
        assert [m for k, m in got if k[0] == "G"] == list(range(len(attacks)))
        odd = sorted(k for k, _ in got if k[0] == "any")
        assert odd == [("any", "t" * 3000), ("any", "\u00e9t\u00e9")]
        assert max(len(f.error) for f in failures) < 5000  # the huge body is not echoed whole


async def test_a_key_too_long_for_a_subject_is_refused_not_fatal(server: NatsServer) -> None:
    """A local key longer than the server accepts is not sent; the connection survives."""
    async with Hub() as hub:
        failures: list[BridgeFailure] = []
        hub.add_subscriber(BRIDGE_ERROR, lambda k, f: failures.append(f))
        async with NatsBridge(hub, [Key("*")], servers=server.url) as bridge:
            hub.publish(Key("x" * 5000), {})
            hub.publish(Key("fine"), {})
            await eventually(lambda: bridge.statistics().sent == 1)
            await asyncio.sleep(0.3)  # a server-side disconnect would be reported by now
        assert [f.reason for f in failures] == ["invalid_key"]
        assert "5000 bytes" in failures[0].error
        assert len(failures[0].error) < 300
