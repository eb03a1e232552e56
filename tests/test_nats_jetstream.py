"""The NATS bridge in JetStream mode, against a real nats-server: stream layout, limits, the
bounded pipelined send queue, permanent send failures and durable replay."""

from __future__ import annotations

import asyncio
import collections
import decimal
import subprocess
import sys
from pathlib import Path
from typing import Any

import nats
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from typedpubsub import Hub, Key, Subscriber, Topic
from typedpubsub._bridge import nats_bridge
from typedpubsub._bridge.jetstream import Entry, SendQueue
from typedpubsub.errors import BridgeConnectionError, QueueFullError
from typedpubsub.nats import BRIDGE_ERROR, BridgeFailure, NatsBridge
from typedpubsub.testing.natsserver import NatsServer

from .conftest import ROOT
from .helpers import eventually
from .nats_topics import TRADES, Trade

ORDERS = Topic(("*", "order", "*"), Trade, name="orders")
BOOK = Key("book", "*")
README_TOPICS: list[Key[Any]] = [TRADES, ORDERS, BOOK]


def trade(i: int) -> Trade:
    return Trade(trade_id=i, quantity=1, price=decimal.Decimal("1.5"))


async def stream_config(url: str, name: str) -> Any:
    nc = await nats.connect(url)
    try:
        return (await nc.jetstream().stream_info(name)).config
    finally:
        await nc.close()


async def test_overlapping_topic_sets_share_one_stream(server: NatsServer) -> None:
    """Topics whose subjects overlap (the README's sets) start, and each message arrives once."""
    async with Hub() as producer, Hub() as consumer:
        got: dict[str, list[tuple[str, ...]]] = {"trades": [], "orders": [], "book": []}
        for keys, pattern in zip(got.values(), README_TOPICS, strict=True):

            def record(key: Key, message: object, keys: list[tuple[str, ...]] = keys) -> None:
                keys.append(tuple(key))

            consumer.add_subscriber(pattern, record)
        async with (
            NatsBridge(producer, README_TOPICS, servers=server.url, mode="jetstream") as out,
            NatsBridge(consumer, README_TOPICS, servers=server.url, mode="jetstream", durable="c"),
        ):
            producer.publish(TRADES.fill("X", "S"), trade(1))
            producer.publish(ORDERS.fill("X", "S"), trade(2))
            producer.publish(Key("book", "S"), {"n": 3})
            producer.publish(Key("book", "trade", "S"), trade(4))  # matches TRADES and BOOK
            await eventually(lambda: sum(map(len, got.values())) >= 5, timeout=10)
            await asyncio.sleep(0.2)
            await eventually(lambda: out.statistics().sent == 4, timeout=10)
        config = await stream_config(server.url, "TYPEDPUBSUB")
    assert config.subjects == ["typedpubsub.>"]
    assert {name: sorted(keys) for name, keys in got.items()} == {
        "trades": [("X", "trade", "S"), ("book", "trade", "S")],
        "orders": [("X", "order", "S")],
        "book": [("book", "S"), ("book", "trade", "S")],
    }


async def test_a_stream_of_the_older_layout_is_widened(server: NatsServer) -> None:
    """A stream holding per-pattern subjects of an older bridge now captures the prefix."""
    nc = await nats.connect(server.url)
    try:
        await nc.jetstream().add_stream(
            name="TYPEDPUBSUB", subjects=["typedpubsub.*.trade.>", "elsewhere.>"]
        )
    finally:
        await nc.close()
    async with NatsBridge(Hub(), [TRADES], servers=server.url, mode="jetstream"):
        pass
    config = await stream_config(server.url, "TYPEDPUBSUB")
    assert config.subjects == ["typedpubsub.>", "elsewhere.>"]


async def test_two_streams_do_not_collide(server: NatsServer) -> None:
    """Bridges naming different streams start side by side and do not hear each other."""
    async with Hub() as hub_a, Hub() as hub_b, Hub() as hub_c:
        got_b: list[int] = []
        got_c: list[int] = []
        hub_b.add_subscriber(TRADES, lambda k, m: got_b.append(m.trade_id))
        hub_c.add_subscriber(TRADES, lambda k, m: got_c.append(m.trade_id))
        async with (
            NatsBridge(hub_a, [TRADES], servers=server.url, mode="jetstream", stream="APP_A"),
            NatsBridge(hub_b, [TRADES], servers=server.url, mode="jetstream", stream="APP_A"),
            NatsBridge(hub_c, [TRADES], servers=server.url, mode="jetstream", stream="APP_B"),
        ):
            hub_a.publish(TRADES.fill("X", "S"), trade(1))
            await eventually(lambda: got_b == [1], timeout=10)
            await asyncio.sleep(0.2)
        assert got_c == []
        assert (await stream_config(server.url, "APP_A")).subjects == ["app_a.>"]
        assert (await stream_config(server.url, "APP_B")).subjects == ["app_b.>"]


async def test_a_foreign_stream_owning_the_subjects_is_a_clear_error(server: NatsServer) -> None:
    """A stream of another application already capturing the subjects: a clear refusal."""
    nc = await nats.connect(server.url)
    try:
        await nc.jetstream().add_stream(name="FOREIGN", subjects=["typedpubsub.x.>"])
    finally:
        await nc.close()
    with pytest.raises(
        BridgeConnectionError,
        match=r"^cannot create JetStream stream 'TYPEDPUBSUB' with subjects \['typedpubsub\.>'\]"
        r" on nats://127\.0\.0\.1:\d+: .*overlap",
    ):
        await NatsBridge(Hub(), [TRADES], servers=server.url, mode="jetstream").start()


async def test_a_server_without_jetstream_is_a_clear_error(tmp_path: Path) -> None:
    """JetStream mode against a server without JetStream raises BridgeConnectionError."""
    plain = NatsServer(tmp_path, jetstream=False)
    plain.start()
    try:
        with pytest.raises(
            BridgeConnectionError,
            match=r"^JetStream is not enabled on the NATS server at nats://127\.0\.0\.1:\d+",
        ):
            await NatsBridge(Hub(), [TRADES], servers=plain.url, mode="jetstream").start()
    finally:
        plain.stop()


async def test_stream_limits_are_applied_when_the_stream_is_created(server: NatsServer) -> None:
    """max_age, max_msgs, max_bytes and duplicate_window reach the stream's configuration."""
    async with NatsBridge(
        Hub(),
        [TRADES],
        servers=server.url,
        mode="jetstream",
        max_age=60.0,
        max_msgs=1_000,
        max_bytes=1_000_000,
        duplicate_window=30.0,
    ):
        config = await stream_config(server.url, "TYPEDPUBSUB")
    assert (config.max_age, config.max_msgs, config.max_bytes) == (60.0, 1_000, 1_000_000)
    assert config.duplicate_window == 30.0


async def test_default_stream_limits(server: NatsServer) -> None:
    """Without options the stream keeps a day, a million messages and 1 GiB at most."""
    async with NatsBridge(Hub(), [TRADES], servers=server.url, mode="jetstream"):
        config = await stream_config(server.url, "TYPEDPUBSUB")
    assert (config.max_age, config.max_msgs, config.max_bytes) == (86_400.0, 1_000_000, 2**30)
    assert config.duplicate_window == 120.0


def test_jetstream_options_are_checked() -> None:
    """Limits, the send-queue bound and the stream name are checked at construction."""
    hub = Hub()
    with pytest.raises(TypeError, match=r"^max_pending must be int, got '10' \(str\)$"):
        NatsBridge(hub, [TRADES], max_pending="10")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    with pytest.raises(ValueError, match=r"^max_pending must be >= 1, got 0$"):
        NatsBridge(hub, [TRADES], max_pending=0)
    with pytest.raises(ValueError, match=r"^max_msgs must be >= 1 or -1 \(unlimited\), got 0$"):
        NatsBridge(hub, [TRADES], mode="jetstream", max_msgs=0)
    with pytest.raises(ValueError, match=r"^max_age must be > 0 or None \(unlimited\), got -1$"):
        NatsBridge(hub, [TRADES], mode="jetstream", max_age=-1)
    with pytest.raises(TypeError, match=r"^max_bytes must be int, got 1\.5 \(float\)$"):
        NatsBridge(hub, [TRADES], mode="jetstream", max_bytes=1.5)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    with pytest.raises(ValueError, match=r"^stream must be a non-empty NATS name, got 'a\.b'$"):
        NatsBridge(hub, [TRADES], mode="jetstream", stream="a.b")


SMALL_PAYLOAD = """
max_payload: 4096
"""


async def test_an_oversized_publish_is_reported_at_once_and_the_rest_flow(tmp_path: Path) -> None:
    """A message over max_payload fails on BRIDGE_ERROR at once; the ones after it are sent."""
    small = NatsServer(tmp_path, config=SMALL_PAYLOAD)
    small.start()
    try:
        async with Hub() as producer, Hub() as consumer:
            failures: list[BridgeFailure] = []
            got: list[Any] = []
            producer.add_subscriber(BRIDGE_ERROR, lambda k, f: failures.append(f))
            consumer.add_subscriber(Key("big", "*"), lambda k, m: got.append(m))
            async with (
                NatsBridge(producer, [Key("big", "*")], servers=small.url, mode="jetstream") as out,
                NatsBridge(consumer, [Key("big", "*")], servers=small.url, mode="jetstream"),
            ):
                producer.publish(Key("big", "a"), {"n": 0})
                producer.publish(Key("big", "a"), {"n": 1, "pad": "x" * 10_000})
                for i in range(2, 50):
                    producer.publish(Key("big", "a"), {"n": i})
                await eventually(lambda: len(got) == 49, timeout=10)
                await eventually(lambda: out.statistics().sent == 49, timeout=10)  # acks read
                stats = out.statistics()
        assert [m["n"] for m in got] == [0, *range(2, 50)]
        assert [(f.reason, f.key) for f in failures] == [("publish", ("big", "a"))]
        assert "maximum payload exceeded" in failures[0].error
        assert (stats.sent, stats.failed, stats.pending) == (49, 1, 0)
    finally:
        small.stop()


DENIED = """
authorization {
  users = [
    {user: app, password: pw, permissions: {publish: {deny: "typedpubsub.secret.>"}}}
  ]
}
"""


async def test_a_denied_publish_is_reported_at_once_and_the_rest_flow(tmp_path: Path) -> None:
    """A publish the user may not make fails on BRIDGE_ERROR and does not block later ones."""
    secured = NatsServer(tmp_path, config=DENIED)
    secured.start()
    url = secured.url.replace("nats://", "nats://app:pw@")
    patterns = [Key("secret", "*"), Key("open", "*")]
    try:
        async with Hub() as producer, Hub() as consumer:
            failures: list[BridgeFailure] = []
            got: list[Any] = []
            producer.add_subscriber(BRIDGE_ERROR, lambda k, f: failures.append(f))
            consumer.add_subscriber(Key("open", "*"), lambda k, m: got.append(m))
            async with (
                NatsBridge(producer, patterns, servers=url, mode="jetstream") as out,
                NatsBridge(consumer, patterns, servers=url, mode="jetstream"),
            ):
                producer.publish(Key("secret", "a"), {"n": -1})
                for i in range(20):
                    producer.publish(Key("open", "a"), {"n": i})
                await eventually(lambda: len(got) == 20, timeout=10)
                await eventually(lambda: out.statistics().failed == 1, timeout=10)
                await eventually(lambda: out.statistics().sent == 20, timeout=10)  # acks read
                stats = out.statistics()
        assert [m["n"] for m in got] == list(range(20))
        assert ("publish", ("secret", "a")) in [(f.reason, f.key) for f in failures]
        assert (stats.sent, stats.failed, stats.pending) == (20, 1, 0)
    finally:
        secured.stop()


async def test_the_send_queue_is_bounded_while_the_server_is_down(server: NatsServer) -> None:
    """Server down: publish raises QueueFullError past max_pending, apublish waits; none lost."""
    async with Hub() as producer, Hub() as consumer:
        got: list[int] = []
        consumer.add_subscriber(TRADES, lambda k, m: got.append(m.trade_id))
        async with (
            NatsBridge(
                producer, [TRADES], servers=server.url, mode="jetstream", max_pending=50
            ) as out,
            NatsBridge(consumer, [TRADES], servers=server.url, mode="jetstream", durable="d"),
        ):
            await asyncio.get_running_loop().run_in_executor(None, server.stop)
            accepted: list[int] = []
            refused = 0
            for i in range(120):
                try:
                    producer.publish(TRADES.fill("Q", "S"), trade(i))
                except QueueFullError:
                    refused += 1
                else:
                    accepted.append(i)
            assert len(accepted) == 50
            assert (out.statistics().pending, out.statistics().dropped) == (50, 70)
            waiting = asyncio.ensure_future(producer.apublish(TRADES.fill("Q", "S"), trade(500)))
            await asyncio.sleep(0.3)
            assert not waiting.done()  # waits for room
            await asyncio.get_running_loop().run_in_executor(None, server.start)
            await asyncio.wait_for(waiting, 20)
            accepted.append(500)
            await eventually(lambda: len(got) >= len(accepted), timeout=20)
            await asyncio.sleep(0.2)
        assert sorted(got) == sorted(accepted)
        assert refused == 70


async def test_many_publishes_keep_their_order(server: NatsServer) -> None:
    """Pipelined sending keeps the order of messages on one key."""
    count = 3_000
    async with Hub() as producer, Hub() as consumer:
        got: list[int] = []
        consumer.add_subscriber(TRADES, lambda k, m: got.append(m.trade_id))
        async with (
            NatsBridge(producer, [TRADES], servers=server.url, mode="jetstream") as out,
            NatsBridge(consumer, [TRADES], servers=server.url, mode="jetstream", durable="o"),
        ):
            for i in range(count):
                await producer.apublish(TRADES.fill("O", "S"), trade(i))
            await eventually(lambda: len(got) == count, timeout=30)
            await eventually(lambda: out.statistics().sent == count, timeout=10)
    assert got == list(range(count))


async def test_durable_replay_waits_for_listeners_added_inside_the_bridge(
    server: NatsServer,
) -> None:
    """Messages published while a durable consumer was down reach listeners added after start."""
    async with (
        Hub() as producer,
        NatsBridge(producer, [TRADES], servers=server.url, mode="jetstream") as out,
    ):
        async with Hub() as first:
            first.add_subscriber(TRADES, lambda k, m: None)
            async with NatsBridge(
                first, [TRADES], servers=server.url, mode="jetstream", durable="svc"
            ):
                pass  # the durable consumer exists from now on
        for i in range(10):  # the consumer process is down
            producer.publish(TRADES.fill("J", "S"), trade(i))
        await eventually(lambda: out.statistics().sent == 10, timeout=10)
        later: list[int] = []
        async with (
            Hub() as restarted,
            NatsBridge(restarted, [TRADES], servers=server.url, mode="jetstream", durable="svc"),
        ):
            await asyncio.sleep(0.3)  # replay has every chance to arrive before the listener
            async with Subscriber(restarted, "late") as subscriber:

                async def on_trade(key: Key, message: Trade) -> None:
                    later.append(message.trade_id)

                subscriber.add_async_listener(TRADES, on_trade)
                await eventually(lambda: len(later) >= 10, timeout=10)
                await asyncio.sleep(0.2)
    assert sorted(later) == list(range(10))


async def test_a_message_no_listener_takes_is_redelivered_then_counted(
    server: NatsServer,
) -> None:
    """A key the listeners do not cover comes back a few times, then is acknowledged, counted."""
    async with Hub() as producer, Hub() as consumer:
        got: list[int] = []
        consumer.add_subscriber(TRADES.fill("A", "*"), lambda k, m: got.append(m.trade_id))
        async with (
            NatsBridge(producer, [TRADES], servers=server.url, mode="jetstream"),
            NatsBridge(
                consumer, [TRADES], servers=server.url, mode="jetstream", durable="d"
            ) as bridge,
        ):
            producer.publish(TRADES.fill("B", "S"), trade(1))  # no listener for B
            producer.publish(TRADES.fill("A", "S"), trade(2))
            await eventually(lambda: got == [2], timeout=10)
            late: list[int] = []
            consumer.add_subscriber(TRADES.fill("B", "*"), lambda k, m: late.append(m.trade_id))
            await eventually(lambda: late == [1], timeout=10)  # redelivered after 2 s
            producer.publish(TRADES.fill("C", "S"), trade(3))  # nobody ever listens
            await eventually(lambda: bridge.statistics().unrouted == 1, timeout=15)
        assert got == [2]


async def test_an_ephemeral_consumer_serves_the_listeners_present(server: NatsServer) -> None:
    """Without durable or queue group, a bridge consumes from start and never redelivers."""
    async with Hub() as producer, Hub() as consumer:
        async with (
            NatsBridge(producer, [TRADES], servers=server.url, mode="jetstream"),
            NatsBridge(consumer, [TRADES], servers=server.url, mode="jetstream") as bridge,
        ):
            got: list[int] = []
            consumer.add_subscriber(TRADES, lambda k, m: got.append(m.trade_id))
            producer.publish(TRADES.fill("E", "S"), trade(1))
            await eventually(lambda: got == [1], timeout=10)
            stats = bridge.statistics()
        assert (stats.received, stats.unrouted) == (1, 0)


async def test_jetstream_queue_group_shares_the_work(server: NatsServer) -> None:
    """Bridges in one JetStream queue group get each message once between them."""
    async with Hub() as source, Hub() as worker_1, Hub() as worker_2:
        seen: list[int] = []
        for hub in (worker_1, worker_2):
            hub.add_subscriber(TRADES, lambda k, m: seen.append(m.trade_id))
        options: dict[str, Any] = {"servers": server.url, "mode": "jetstream"}
        async with (
            NatsBridge(source, [TRADES], **options),
            NatsBridge(worker_1, [TRADES], queue_group="workers", **options),
            NatsBridge(worker_2, [TRADES], queue_group="workers", **options),
        ):
            for i in range(200):
                await source.apublish(TRADES.fill("Q", "S"), trade(i))
            await eventually(lambda: len(seen) >= 200, timeout=20)
            await asyncio.sleep(0.2)
        assert sorted(seen) == list(range(200))


def test_jetstream_benchmark_smoke() -> None:
    """The JetStream row of the NATS benchmark runs and reports its measurement."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "nats_bench.py"), "--jetstream", "--smoke"]
        + ["-o", "-"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "| 1,000 |" in result.stdout


Op = tuple[str, int]
OPS = st.lists(
    st.tuples(st.sampled_from(["put", "send", "ack", "retry", "wait"]), st.integers(1, 5)),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(max_size=st.integers(1, 8), ops=OPS)
def test_send_queue_keeps_order_bound_and_wakes_waiters(max_size: int, ops: list[Op]) -> None:
    """Any interleaving of publishes, sends, acks, retries and waiters: FIFO, bounded, no waiter
    left waiting while there is room, each message acknowledged once."""

    async def scenario() -> None:
        queue = SendQueue(max_size)
        in_flight: collections.deque[Entry] = collections.deque()
        acked: list[str] = []
        waiters: list[asyncio.Future[None]] = []
        counter = 0
        for op, n in [*ops, ("send", 10**6), ("ack", 10**6)]:
            if op == "put":
                for _ in range(n):
                    if not queue.full():
                        queue.put(("s", b"", str(counter), Key("k"), None))
                        counter += 1
            elif op == "send":
                for _ in range(min(n, len(queue.items))):
                    in_flight.append(queue.items.popleft())
                    queue.in_flight += 1
            elif op == "ack":
                for _ in range(min(n, len(in_flight))):
                    acked.append(in_flight.popleft()[2])
                    queue.in_flight -= 1
                queue.wake_room()
            elif op == "retry":
                queue.requeue(list(in_flight))
                queue.in_flight = 0
                in_flight.clear()
            else:
                waiters.append(asyncio.ensure_future(queue.wait_room(queue.max_size - 1)))
            for _ in range(3):
                await asyncio.sleep(0)
            assert len(queue) <= max_size
            assert queue.blocks() == (len(queue) >= max_size)
            assert all(w.done() or len(queue) >= max_size for w in waiters)
        assert acked == [str(i) for i in range(counter)]
        assert all(w.done() for w in waiters)

    asyncio.run(asyncio.wait_for(scenario(), 10))


async def test_messages_reaching_a_closed_hub_stay_on_the_server(
    server: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A durable message arriving while the bridge's hub is closed is not acknowledged: it waits."""
    # Redeliveries every 50 ms: a closed hub must not count them towards giving up.
    monkeypatch.setattr(nats_bridge, "_REDELIVERY_DELAY", 0.05)
    async with Hub() as producer:
        async with NatsBridge(producer, [TRADES], servers=server.url, mode="jetstream") as out:
            closed = Hub()
            closed.add_subscriber(TRADES, lambda k, m: None)
            bridge = NatsBridge(
                closed, [TRADES], servers=server.url, mode="jetstream", durable="late"
            )
            await bridge.start()
            await closed.aclose()
            for i in range(5):
                await producer.apublish(TRADES.fill("K", "S"), trade(i))
            await eventually(lambda: out.statistics().sent == 5)
            await asyncio.sleep(1.0)  # offered many times over to the closed hub's bridge
            assert bridge.statistics().unrouted == 0
            await bridge.aclose()
        async with Hub() as restarted:
            got: list[int] = []
            restarted.add_subscriber(TRADES, lambda k, m: got.append(m.trade_id))
            async with NatsBridge(
                restarted, [TRADES], servers=server.url, mode="jetstream", durable="late"
            ):
                await eventually(lambda: sorted(got) == list(range(5)), timeout=20)
