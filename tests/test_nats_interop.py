"""NATS bridge delivery rules and contract-first interop, against a real nats-server.

A raw nats-py client stands for a program in another language: it only knows the exported
AsyncAPI document and plain JSON.
"""

from __future__ import annotations

import asyncio
import dataclasses
import decimal
import json
import math
from typing import Any, Literal

import jsonschema
import nats
import pytest
from hypothesis import find
from nats.aio.msg import Msg

from typedpubsub import LISTENER_ERROR, Hub, Key, Subscriber, Topic, schema
from typedpubsub.nats import (
    BRIDGE_ERROR,
    MSG_ID_HEADER,
    ORIGIN_HEADER,
    BridgeFailure,
    NatsBridge,
)
from typedpubsub.testing.natsserver import NatsServer

from .conftest import shared_file
from .helpers import eventually
from .jsonschema_strategy import from_schema
from .nats_topics import TRADES, Trade, trade


class Wire:
    """A raw nats-py subscriber counting what the server carries on a subject."""

    def __init__(self) -> None:
        self.messages: list[Msg] = []

    async def on_msg(self, msg: Msg) -> None:
        self.messages.append(msg)

    def bodies(self) -> list[Any]:
        return [json.loads(m.data) for m in self.messages]


async def test_two_bridges_on_one_hub_do_not_reforward_deliveries(server: NatsServer) -> None:
    """One remote publish reaches a hub with two bridges once, and neither bridge sends it back."""
    async with Hub() as hub, Hub() as remote:
        got: list[int] = []
        hub.add_subscriber(TRADES, lambda k, m: got.append(m.trade_id))
        wire = Wire()
        raw = await nats.connect(server.url)
        try:
            await raw.subscribe(">", cb=wire.on_msg)
            await raw.flush()
            async with (
                NatsBridge(hub, [TRADES], servers=server.url),
                NatsBridge(hub, [Key("*")], servers=server.url),
                NatsBridge(remote, [TRADES], servers=server.url) as sender,
            ):
                remote.publish(TRADES.fill("X", "Y"), trade(1))
                await eventually(lambda: sender.statistics().sent == 1)
                await eventually(lambda: len(got) >= 1)
                # give any re-send the time to show up on the wire: a bounded round trip
                await asyncio.wait_for(raw.flush(), 5)
                await asyncio.sleep(0.3)
            assert got == [1]
            assert [m.subject for m in wire.messages] == ["X.trade.Y"]
        finally:
            await raw.close()


async def test_catch_all_pattern_does_not_forward_hub_topics_or_storm(server: NatsServer) -> None:
    """Key('*') with a failing listener and an unserialisable payload: reported once, no storm."""
    async with Hub() as hub:
        failures: list[BridgeFailure] = []
        errors: list[Any] = []
        hub.add_subscriber(BRIDGE_ERROR, lambda k, f: failures.append(f))
        hub.add_subscriber(Key("Hub", "listenerError", "*"), lambda k, e: errors.append(e))

        def failing(key: Key, message: object) -> None:
            raise RuntimeError("boom")

        hub.add_subscriber(Key("app", "x"), failing)
        wire = Wire()
        raw = await nats.connect(server.url)
        try:
            await raw.subscribe(">", cb=wire.on_msg)
            await raw.flush()
            async with NatsBridge(hub, [Key("*")], servers=server.url) as bridge:
                hub.publish(Key("app", "x"), {"n": 1})  # sent; the local listener fails
                hub.publish(Key("app", "y"), object())  # cannot be JSON: reported, not sent
                await eventually(lambda: bridge.statistics().sent == 1)
                await asyncio.wait_for(raw.flush(), 5)
                await asyncio.sleep(0.3)
                stats = bridge.statistics()
            assert [m.subject for m in wire.messages] == ["app.x"]
            assert [f.reason for f in failures] == ["unserialisable"]
            assert len(errors) == 1
            assert (stats.sent, stats.errors) == (1, 1)
        finally:
            await raw.close()


async def test_hub_topics_are_forwarded_when_listed_explicitly(server: NatsServer) -> None:
    """A bridged topic starting with 'Hub' does carry the hub's own messages."""
    async with Hub() as hub, Hub() as monitor:
        seen: list[Key] = []
        monitor.add_subscriber(LISTENER_ERROR, lambda k, e: seen.append(k))

        def failing(key: Key, message: object) -> None:
            raise RuntimeError("boom")

        hub.add_subscriber(Key("app", "x"), failing)
        async with (
            NatsBridge(hub, [LISTENER_ERROR], servers=server.url),
            NatsBridge(monitor, [LISTENER_ERROR], servers=server.url),
        ):
            hub.publish(Key("app", "x"), 1)
            await eventually(lambda: len(seen) == 1)
        assert seen == [("Hub", "listenerError", "app", "x")]


async def test_plain_json_from_any_producer_reaches_typed_listeners(server: NatsServer) -> None:
    """A producer without typedpubsub headers, following the exported schema, is delivered."""
    document = schema.asyncapi([TRADES], servers={"local": server.url})
    payload_schema = {**document["components"]["messages"]["trades"]["payload"]}
    payload_schema["components"] = document["components"]
    body = {"trade_id": 7, "quantity": 3, "price": "2.50"}
    jsonschema.validate(body, payload_schema)
    # and documents generated from the exported schema alone, as another language's tooling would
    generated = [
        find(from_schema(payload_schema), lambda d, low=low: d["trade_id"] > low)  # type: ignore[misc]  # hypothesis's find is untyped here
        for low in (0, 100)
    ]
    for document_body in generated:
        jsonschema.validate(document_body, payload_schema)
    async with Hub() as hub:
        got: list[Trade] = []
        hub.add_subscriber(TRADES, lambda k, m: got.append(m))
        async with NatsBridge(hub, [TRADES], servers=server.url) as bridge:
            raw = await nats.connect(server.url)
            try:
                await raw.publish("XNAS.trade.AAPL", json.dumps(body).encode())
                for document_body in generated:
                    await raw.publish("XNAS.trade.MSFT", json.dumps(document_body).encode())
                await raw.publish("XNAS.trade.AAPL", b'{"trade_id": "x"}')  # still validated
                await raw.flush()
            finally:
                await raw.close()
            await eventually(lambda: len(got) == 3 and bridge.statistics().rejected == 1)
        assert got[1:] == [TRADES.adapter.validate_python(d) for d in generated]
        assert got[0] == Trade(trade_id=7, quantity=3, price=decimal.Decimal("2.50"))


async def test_what_the_bridge_sends_is_plain_json_with_declared_headers(
    server: NatsServer,
) -> None:
    """A foreign consumer reads plain JSON; every header sent is declared in the AsyncAPI export."""
    document = schema.asyncapi([TRADES], servers={"local": server.url})
    with shared_file("schemas", "asyncapi-3.0.0.json").open() as f:
        errors = list(jsonschema.Draft7Validator(json.load(f)).iter_errors(document))
    assert [e.message for e in errors] == []
    assert schema.check_asyncapi(document) == []
    headers_ref = document["components"]["messages"]["trades"]["headers"]["$ref"]
    headers_schema = document["components"]["schemas"][headers_ref.rsplit("/", 1)[1]]
    wire = Wire()
    raw = await nats.connect(server.url)
    try:
        await raw.subscribe("*.trade.>", cb=wire.on_msg)
        await raw.flush()
        async with Hub() as hub, NatsBridge(hub, [TRADES], servers=server.url) as bridge:
            hub.publish(TRADES.fill("XNAS", "AAPL"), trade(4))
            await eventually(lambda: len(wire.messages) == 1)
            (msg,) = wire.messages
            assert json.loads(msg.data) == {"trade_id": 4, "quantity": 14, "price": "1.5"}
            assert msg.headers is not None
            assert set(msg.headers) <= set(headers_schema["properties"])
            assert msg.headers.get(ORIGIN_HEADER) is None  # core mode: nothing comes back
            assert bridge.mode == "core"
            jsonschema.validate(dict(msg.headers), headers_schema)
    finally:
        await raw.close()
    assert {ORIGIN_HEADER, MSG_ID_HEADER} <= set(headers_schema["properties"])
    assert "headers" not in schema.asyncapi([TRADES])["components"]["messages"]["trades"]


@dataclasses.dataclass
class Reading:
    value: float
    raw: bytes = b""


READINGS = Topic(("sensor", "*"), Reading)


async def test_non_finite_floats_and_non_utf8_bytes_are_refused_not_sent(
    server: NatsServer,
) -> None:
    """NaN, Infinity and non-UTF-8 bytes cannot be JSON: not sent, counted, reported once each."""
    async with Hub() as sender, Hub() as receiver:
        failures: list[BridgeFailure] = []
        sender.add_subscriber(BRIDGE_ERROR, lambda k, f: failures.append(f))
        got: list[Any] = []
        receiver.add_subscriber(READINGS, lambda k, m: got.append(m))
        receiver.add_subscriber(Key("raw", "*"), lambda k, m: got.append(m))
        receiver_failures: list[BridgeFailure] = []
        receiver.add_subscriber(BRIDGE_ERROR, lambda k, f: receiver_failures.append(f))
        keys = [READINGS, Key("raw", "*")]
        async with (
            NatsBridge(sender, keys, servers=server.url) as out,
            NatsBridge(receiver, keys, servers=server.url) as into,
        ):
            sender.publish(READINGS.fill("a"), Reading(math.nan))
            sender.publish(READINGS.fill("b"), Reading(math.inf))
            sender.publish(READINGS.fill("c"), Reading(1.0, b"\xff\xfe"))
            sender.publish(Key("raw", "d"), {"v": -math.inf})
            sender.publish(READINGS.fill("ok"), Reading(2.5, b"fine"))
            sender.publish(Key("raw", "ok"), {"v": None})
            await eventually(lambda: len(got) == 2)
            await asyncio.sleep(0.2)
            stats = out.statistics()
        assert got == [Reading(2.5, b"fine"), {"v": None}]
        assert [f.reason for f in failures] == ["unserialisable"] * 4
        assert [f.key for f in failures] == [
            ("sensor", "a"),
            ("sensor", "b"),
            ("sensor", "c"),
            ("raw", "d"),
        ]
        assert "nan" in failures[0].error.lower() or "finite" in failures[0].error.lower()
        assert (stats.sent, stats.errors) == (2, 4)
        assert receiver_failures == []
        assert into.statistics().rejected == 0


@pytest.mark.parametrize("overflow", ["block", "raise"])
async def test_bounded_queues_fed_by_the_bridge_never_lose_silently(
    server: NatsServer, overflow: Literal["block", "raise"]
) -> None:
    """block: every message arrives (the bridge waits); raise: what is refused is counted."""
    count = 100
    async with Hub() as sender, Hub() as receiver:
        got: list[int] = []
        gate = asyncio.Event()

        async def slow(key: Key, message: Trade) -> None:
            await gate.wait()
            got.append(message.trade_id)

        dropped: list[Any] = []
        receiver.add_subscriber(Key("Hub", "messageDropped", "*"), lambda k, d: dropped.append(d))
        async with (
            Subscriber(receiver, "slow") as subscriber,
            NatsBridge(receiver, [TRADES], servers=server.url) as into,
            NatsBridge(sender, [TRADES], servers=server.url),
        ):
            subscriber.add_async_listener(
                TRADES,
                slow,
                max_queue_size=5,
                overflow=overflow,
            )
            for i in range(count):
                sender.publish(TRADES.fill("Q", "S"), trade(i))
            if overflow == "block":
                await eventually(lambda: into.statistics().received >= 5)
                gate.set()
                await eventually(lambda: len(got) == count, timeout=10)
                assert got == list(range(count))
                assert dropped == []
            else:
                await eventually(lambda: into.statistics().received == count, timeout=10)
                gate.set()
                await eventually(lambda: sum(d.count for d in dropped) + len(got) == count)
                assert 0 < len(got) < count
                assert got == sorted(set(got))  # in order, each once; the refused ones counted
                assert receiver.statistics().dropped == count - len(got)


@dataclasses.dataclass
class Fussy:
    """A payload whose validator raises something other than ValueError on some input."""

    n: int

    def __post_init__(self) -> None:
        if self.n == 13:
            raise TypeError("thirteen is unlucky")


FUSSY = Topic(("fussy", "*"), Fussy)


async def test_incoming_payloads_are_refused_however_their_validators_fail(
    server: NatsServer,
) -> None:
    """A validator raising TypeError, or JSON nested too deeply, is a rejected message, not a crash."""
    async with Hub() as hub:
        got: list[int] = []
        failures: list[BridgeFailure] = []
        hub.add_subscriber(FUSSY, lambda k, m: got.append(m.n))
        hub.add_subscriber(BRIDGE_ERROR, lambda k, f: failures.append(f))
        async with NatsBridge(hub, [FUSSY], servers=server.url) as bridge:
            raw = await nats.connect(server.url)
            try:
                await raw.publish("fussy.a", b'{"n": 13}')
                await raw.publish("fussy.a", b'{"n": ' + b"[" * 5000 + b"]" * 5000 + b"}")
                await raw.publish("fussy.a", b'{"n": 1}')
                await raw.flush()
            finally:
                await raw.close()
            await eventually(lambda: got == [1] and bridge.statistics().rejected == 2)
        assert [f.reason for f in failures] == ["invalid_payload", "invalid_json"]
        assert "TypeError: thirteen is unlucky" in failures[0].error
