"""The NATS bridge, against a real nats-server started on a free loopback port."""

from __future__ import annotations

import asyncio
import decimal
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import nats
import pytest

from typedpubsub import Hub, Key, Subscriber, Topic
from typedpubsub.errors import BridgeConnectionError, InvalidKeyError
from typedpubsub.nats import (
    BRIDGE_ERROR,
    MSG_ID_HEADER,
    ORIGIN_HEADER,
    BridgeFailure,
    NatsBridge,
    key_to_subject,
    pattern_to_subject,
    subject_to_key,
)
from typedpubsub.testing.natsserver import NatsServer

from .conftest import ROOT, recorded_triples
from .helpers import eventually
from .nats_topics import CONFIRMATIONS, TRADES, Confirmation, Trade, trade


def test_key_subject_mapping() -> None:
    """Keys join with '.', a trailing '*' becomes '>', and bad tokens are refused."""
    assert key_to_subject(Key("NASDAQ", "trade", "GOOGL")) == "NASDAQ.trade.GOOGL"
    assert pattern_to_subject(Key("*", "trade", "*")) == "*.trade.>"
    assert pattern_to_subject(Key("a", "*", "c")) == "a.*.c"
    assert pattern_to_subject(Key("*")) == ">"
    assert subject_to_key("a.b") == Key("a", "b")
    for bad in ("a.b", "", "a b", "a*", ">"):
        with pytest.raises(InvalidKeyError, match=r"cannot be a NATS subject token"):
            key_to_subject(Key("x", bad))
    with pytest.raises(InvalidKeyError):
        NatsBridge(Hub(), [Key("bad.part", "*")])


async def test_recorded_keys_route_through_a_real_server_like_aiopubsub(server: NatsServer) -> None:
    """Subscribing the 489 recorded patterns on NATS reaches exactly the recorded matches."""
    triples = recorded_triples()
    published = sorted({tuple(p) for p, _, _ in triples})
    patterns = sorted({tuple(s) for _, s, _ in triples})
    expected = {(tuple(p), tuple(s)) for p, s, ok in triples if ok}
    got: set[tuple[tuple[str, ...], tuple[str, ...]]] = set()
    nc = await nats.connect(server.url)
    try:
        for pattern in patterns:

            async def on_msg(msg: Any, pattern: tuple[str, ...] = pattern) -> None:
                got.add((tuple(subject_to_key(msg.subject)), pattern))

            await nc.subscribe(pattern_to_subject(pattern), cb=on_msg)
        for key in published:
            await nc.publish(key_to_subject(key), b"x")
        await nc.flush()
        await eventually(lambda: len(got) >= len(expected), timeout=20)
        await asyncio.sleep(0.2)  # anything extra would arrive by now
    finally:
        await nc.close()
    assert got == expected


async def test_two_hubs_exchange_typed_messages(server: NatsServer) -> None:
    """Two hubs joined through NATS: typed, wildcard-subscribed, delivered once each, no echo."""
    async with Hub() as hub_a, Hub() as hub_b:
        got_a: list[tuple[Key, Trade]] = []
        got_b: list[tuple[Key, Trade]] = []
        hub_a.add_subscriber(TRADES, lambda k, m: got_a.append((k, m)))
        hub_b.add_subscriber(TRADES, lambda k, m: got_b.append((k, m)))
        async with (
            NatsBridge(hub_a, [TRADES], servers=server.url),
            NatsBridge(hub_b, [TRADES], servers=server.url),
        ):
            hub_a.publish(TRADES.fill("NASDAQ", "GOOGL"), trade(1))
            hub_b.publish(TRADES.fill("NYSE", "IBM"), trade(2))
            await eventually(lambda: len(got_a) == 2 and len(got_b) == 2)
            await asyncio.sleep(0.2)
        assert [m.trade_id for _, m in got_a] == [1, 2]
        assert sorted(m.trade_id for _, m in got_b) == [1, 2]
        (received,) = [m for k, m in got_b if k == ("NASDAQ", "trade", "GOOGL")]
        assert received == trade(1)
        assert isinstance(received.price, decimal.Decimal)


async def test_two_processes(server: NatsServer, tmp_path: Path) -> None:
    """A hub in another OS process answers typed trades through NATS."""
    count = 20
    errors = tmp_path / "peer.err"
    with errors.open("w") as stderr:
        peer = subprocess.Popen(  # noqa: ASYNC220 - started once; its pid is what we need
            [sys.executable, "-m", "tests.nats_peer", server.url, str(count)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        assert peer.stdout is not None
        ready = await asyncio.get_running_loop().run_in_executor(None, peer.stdout.readline)
        assert ready.strip() == "ready", errors.read_text()
        async with Hub() as hub, NatsBridge(hub, [TRADES, CONFIRMATIONS], servers=server.url):
            confirmations: list[Confirmation] = []
            async with Subscriber(hub, "main") as subscriber:

                async def on_confirmation(key: Key, confirmation: Confirmation) -> None:
                    confirmations.append(confirmation)

                subscriber.add_async_listener(CONFIRMATIONS, on_confirmation)
                for i in range(count):
                    hub.publish(TRADES.fill("XNYS" if i % 2 else "XNAS", f"S{i}"), trade(i))
                await eventually(lambda: len(confirmations) == count, timeout=30)
        assert sorted(c.trade_id for c in confirmations) == list(range(count))
        assert {c.venue for c in confirmations} == {"XNYS", "XNAS"}
        assert await asyncio.get_running_loop().run_in_executor(None, peer.wait, 30) == 0
    finally:
        if peer.poll() is None:
            peer.kill()
            peer.wait()
        assert peer.stdout is not None
        peer.stdout.close()


async def test_malformed_messages_are_rejected_foreign_ones_delivered(server: NatsServer) -> None:
    """Bad JSON and invalid payloads are rejected and reported; plain JSON without headers is fine."""
    async with Hub() as hub:
        failures: list[BridgeFailure] = []
        trades: list[Trade] = []
        hub.add_subscriber(BRIDGE_ERROR, lambda k, f: failures.append(f))
        hub.add_subscriber(TRADES, lambda k, m: trades.append(m))
        async with NatsBridge(hub, [TRADES], servers=server.url) as bridge:
            raw = await nats.connect(server.url)
            ours = {ORIGIN_HEADER: "someone-else"}
            foreign = json.dumps({"trade_id": 1, "quantity": 1, "price": "1"}).encode()
            await raw.publish("A.trade.B", foreign)  # no header at all: another language
            await raw.publish("A.trade.B", b"{not json", headers={**ours, MSG_ID_HEADER: "1"})
            await raw.publish(
                "A.trade.B", b'{"trade_id": "x"}', headers={**ours, MSG_ID_HEADER: "2"}
            )
            valid = json.dumps({"trade_id": 7, "quantity": 1, "price": "2.5"}).encode()
            await raw.publish("A.trade.B", valid, headers={**ours, MSG_ID_HEADER: "3"})
            await raw.publish("A.trade.B", valid, headers={**ours, MSG_ID_HEADER: "3"})  # duplicate
            await raw.close()
            await eventually(lambda: len(trades) == 2 and len(failures) == 2)
            await asyncio.sleep(0.1)
            stats = bridge.statistics()
        assert [f.reason for f in failures] == ["invalid_json", "invalid_payload"]
        assert all(f.key == ("A", "trade", "B") for f in failures)
        assert [t.trade_id for t in trades] == [1, 7]
        assert trades[1] == Trade(trade_id=7, quantity=1, price=decimal.Decimal("2.5"))
        assert (stats.rejected, stats.received, stats.duplicates) == (2, 2, 1)


async def test_untyped_keys_need_json_payloads(server: NatsServer) -> None:
    """An untyped bridged key carries JSON only; anything else is refused and reported."""
    async with Hub() as hub_a, Hub() as hub_b:
        got: list[Any] = []
        hub_b.add_subscriber(Key("raw", "*"), lambda k, m: got.append(m))
        async with (
            NatsBridge(hub_a, [Key("raw", "*")], servers=server.url) as bridge_a,
            NatsBridge(hub_b, [Key("raw", "*")], servers=server.url),
        ):
            hub_a.publish(Key("raw", "x"), {"n": [1, 2]})
            hub_a.publish(Key("raw", "y"), object())  # not sent: counted, reported
            await eventually(lambda: got == [{"n": [1, 2]}])
            assert bridge_a.statistics().errors == 1


async def test_queue_group_shares_the_work(server: NatsServer) -> None:
    """Bridges in one queue group each get a share; together exactly every message once."""
    async with Hub() as source, Hub() as worker_1, Hub() as worker_2:
        seen: list[int] = []
        for hub in (worker_1, worker_2):
            hub.add_subscriber(TRADES, lambda k, m: seen.append(m.trade_id))
        async with (
            NatsBridge(source, [TRADES], servers=server.url),
            NatsBridge(worker_1, [TRADES], servers=server.url, queue_group="workers"),
            NatsBridge(worker_2, [TRADES], servers=server.url, queue_group="workers"),
        ):
            for i in range(200):
                source.publish(TRADES.fill("Q", "S"), trade(i))
            await eventually(lambda: len(seen) == 200, timeout=20)
            await asyncio.sleep(0.1)
        assert sorted(seen) == list(range(200))


async def test_jetstream_durable_consumer_gets_what_was_missed(server: NatsServer) -> None:
    """A process that restarts with its durable name receives what was published meanwhile."""
    async with (
        Hub() as producer,
        NatsBridge(producer, [TRADES], servers=server.url, mode="jetstream") as out,
    ):
        async with Hub() as consumer:
            first: list[int] = []
            consumer.add_subscriber(TRADES, lambda k, m: first.append(m.trade_id))
            async with NatsBridge(
                consumer, [TRADES], servers=server.url, mode="jetstream", durable="svc"
            ):
                producer.publish(TRADES.fill("J", "S"), trade(0))
                await eventually(lambda: first == [0])
        for i in range(1, 6):  # the consumer is down
            producer.publish(TRADES.fill("J", "S"), trade(i))
        await eventually(lambda: out.statistics().sent == 6)
        async with Hub() as restarted:
            later: list[int] = []
            restarted.add_subscriber(TRADES, lambda k, m: later.append(m.trade_id))
            async with NatsBridge(
                restarted, [TRADES], servers=server.url, mode="jetstream", durable="svc"
            ):
                await eventually(lambda: len(later) == 5)
                await asyncio.sleep(0.2)
        assert later == [1, 2, 3, 4, 5]


async def test_jetstream_survives_a_server_restart(server: NatsServer) -> None:
    """Kill and restart the server mid-stream: every acknowledged message arrives exactly once."""
    total = 300
    async with Hub() as producer, Hub() as consumer:
        received: list[int] = []
        consumer.add_subscriber(TRADES, lambda k, m: received.append(m.trade_id))
        async with (
            NatsBridge(producer, [TRADES], servers=server.url, mode="jetstream") as out,
            NatsBridge(consumer, [TRADES], servers=server.url, mode="jetstream", durable="r"),
        ):
            for i in range(total):
                producer.publish(TRADES.fill("R", "S"), trade(i))
                if i == total // 2:
                    await eventually(lambda: out.statistics().sent > total // 4, timeout=20)
                    await asyncio.get_running_loop().run_in_executor(None, server.restart)
                if i % 10 == 0:
                    await asyncio.sleep(0.001)
            await eventually(lambda: out.statistics().sent == total, timeout=60)
            await eventually(lambda: len(set(received)) == total, timeout=60)
            await asyncio.sleep(0.5)
        assert sorted(received) == list(range(total))  # each once: no loss, no duplicate


AUTH = """
authorization {
  users = [
    {user: alice, password: s3cret-pw, permissions: {publish: "NASDAQ.>", subscribe: ">"}}
  ]
}
"""


async def test_authentication_and_permissions(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """No credentials: a clear refusal. Publishing outside one's permissions: reported, hub fine."""
    secured = NatsServer(tmp_path, config=AUTH)
    secured.start()
    try:
        async with Hub() as hub:
            with pytest.raises(
                BridgeConnectionError,
                match=r"^cannot connect to NATS at nats://127\.0\.0\.1:\d+: .*Authorization Violation",
            ):
                await NatsBridge(hub, [Key("NASDAQ", "*")], servers=secured.url).start()
            url = secured.url.replace("nats://", "nats://alice:s3cret-pw@")
            failures: list[BridgeFailure] = []
            local: list[Any] = []
            hub.add_subscriber(BRIDGE_ERROR, lambda k, f: failures.append(f))
            hub.add_subscriber(Key("NYSE", "*"), lambda k, m: local.append(m))
            async with NatsBridge(
                hub, [Key("NASDAQ", "*"), Key("NYSE", "*")], servers=url
            ) as bridge:
                hub.publish(Key("NYSE", "IBM"), {"p": 1})
                hub.publish(Key("NASDAQ", "AAPL"), {"p": 2})
                await eventually(lambda: len(failures) == 1)
                assert failures[0].reason == "server"
                assert "permissions violation for publish" in failures[0].error.lower()
                assert local == [{"p": 1}]  # the hub kept working
                await eventually(lambda: bridge.statistics().sent == 2)
        assert "s3cret-pw" not in caplog.text
    finally:
        secured.stop()


async def test_bridge_arguments_are_checked() -> None:
    """Bad modes, names and empty key lists are refused at construction."""
    hub = Hub()
    with pytest.raises(ValueError, match=r"^mode must be 'core' or 'jetstream', got 'fast'$"):
        NatsBridge(hub, [TRADES], mode="fast")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    with pytest.raises(ValueError, match=r"^keys must hold at least one key"):
        NatsBridge(hub, [])
    with pytest.raises(ValueError, match=r"^queue_group must be a non-empty NATS name"):
        NatsBridge(hub, [TRADES], queue_group="a.b")


async def test_unreachable_server_is_a_clear_error() -> None:
    """Nobody listening: start() gives up after start_timeout with a clear error."""
    from typedpubsub.testing.natsserver import free_port

    hub = Hub()
    bridge = NatsBridge(hub, [TRADES], servers=f"nats://127.0.0.1:{free_port()}", start_timeout=1)
    with pytest.raises(
        BridgeConnectionError, match=r"^cannot connect to NATS at nats://127\.0\.0\.1:\d+"
    ):
        await bridge.start()


def test_typed_topics_survive_json_round_trip() -> None:
    """The bridge's wire format is the topic adapter's JSON."""
    data = TRADES.adapter.dump_json(trade(3))
    assert TRADES.adapter.validate_json(data) == trade(3)
    assert isinstance(TRADES, Topic)


async def test_sync_listener_may_answer_through_the_bridge(server: NatsServer) -> None:
    """A sync listener that publishes a reply while a message is delivered from NATS sends it."""
    async with Hub() as asker, Hub() as answerer:
        answerer.add_subscriber(
            TRADES,
            lambda k, m: answerer.publish(CONFIRMATIONS.fill(k[0]), Confirmation(m.trade_id, k[0])),
        )
        got: list[Confirmation] = []
        asker.add_subscriber(CONFIRMATIONS, lambda k, m: got.append(m))
        async with (
            NatsBridge(asker, [TRADES, CONFIRMATIONS], servers=server.url),
            NatsBridge(answerer, [TRADES, CONFIRMATIONS], servers=server.url),
        ):
            asker.publish(TRADES.fill("V", "S"), trade(5))
            await eventually(lambda: got == [Confirmation(5, "V")])
            await asyncio.sleep(0.1)
        assert got == [Confirmation(5, "V")]
