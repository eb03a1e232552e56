"""typedpubsub.telemetry across processes: the trace context crosses a NATS bridge in headers."""

from __future__ import annotations

import asyncio
from typing import Any

import nats
import pytest
from opentelemetry import propagate
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import (
    CarrierT,
    Getter,
    Setter,
    TextMapPropagator,
    default_getter,
    default_setter,
)
from opentelemetry.trace import SpanKind

from typedpubsub import Hub, Key, ResponderError, Subscriber
from typedpubsub.nats import Mode, NatsBridge
from typedpubsub.testing.natsserver import NatsServer

from .helpers import eventually
from .nats_request_peer import ADD, Add, Sum
from .nats_topics import TRADES, Trade, trade
from .test_telemetry import Otel, attributes, ids, make_otel, parent_id


@pytest.fixture
def two() -> Any:
    """Two in-memory OpenTelemetry setups: one per side of the bridge, as in two processes."""
    made = (make_otel(), make_otel())
    yield made
    for otel in made:
        otel.tracer_provider.shutdown()
        otel.meter_provider.shutdown()


@pytest.mark.parametrize("mode", ["core", "jetstream"])
async def test_publish_and_remote_listener_share_one_trace(
    server: NatsServer, two: tuple[Otel, Otel], mode: Mode
) -> None:
    """A publish in one hub and the listeners of another hub, bridged by NATS, are one trace."""
    here, there = two
    async with Hub() as producer, Hub() as consumer, Subscriber(consumer, "c") as subscriber:
        here.instrument(producer)
        there.instrument(consumer)
        got: list[Trade] = []

        async def on_trade(key: Key, message: Trade) -> None:
            got.append(message)

        subscriber.add_async_listener(TRADES, on_trade)
        consumer.add_subscriber(TRADES.fill("X", "S"), lambda k, m: None)
        durable = "c" if mode == "jetstream" else None
        async with (
            NatsBridge(producer, [TRADES], servers=server.url, mode=mode),
            NatsBridge(consumer, [TRADES], servers=server.url, mode=mode, durable=durable),
        ):
            producer.publish(TRADES.fill("X", "S"), trade(1))
            producer.publish(TRADES.fill("X", "S"), trade(2))
            await eventually(lambda: len(got) == 2 and len(there.spans()) == 4, timeout=10)
    sends = here.spans("send X.trade.S")
    assert [s.kind for s in sends] == [SpanKind.PRODUCER, SpanKind.PRODUCER]
    assert not here.spans("process *.trade.*")  # the bridge's send is not a listener's span
    for send in sends:
        children = [s for s in there.spans() if parent_id(s) == ids(send).span_id]
        assert sorted(s.name for s in children) == ["process *.trade.*", "process X.trade.S"]
        for child in children:
            assert child.kind is SpanKind.CONSUMER
            assert ids(child).trace_id == ids(send).trace_id
            assert [link.context.span_id for link in child.links] == [ids(send).span_id]
            assert attributes(child)["messaging.destination.name"] == "X.trade.S"


async def test_uninstrumented_bridges_send_no_trace_headers(
    server: NatsServer, two: tuple[Otel, Otel]
) -> None:
    """Without instrument() a bridge's messages carry no traceparent; with it, they do."""
    spy = await nats.connect(server.url)
    headers: list[dict[str, str]] = []

    async def record(msg: Any) -> None:
        headers.append(dict(msg.headers or {}))

    try:
        await spy.subscribe("X.>", cb=record)
        await spy.flush()
        async with Hub() as hub, NatsBridge(hub, [TRADES], servers=server.url):
            hub.publish(TRADES.fill("X", "S"), trade(1))
            await eventually(lambda: len(headers) == 1, timeout=10)
            with two[0].instrument(hub):
                hub.publish(TRADES.fill("X", "S"), trade(2))
                await eventually(lambda: len(headers) == 2, timeout=10)
    finally:
        await spy.close()
    assert "traceparent" not in headers[0]
    (send,) = two[0].spans()
    trace_id = f"{ids(send).trace_id:032x}"
    assert headers[1]["traceparent"].startswith(f"00-{trace_id}-{ids(send).span_id:016x}-")


HOSTILE_HEADERS: list[dict[str, str]] = [
    {"traceparent": "garbage"},
    {"traceparent": "00-" + "0" * 32 + "-" + "0" * 16 + "-01"},  # invalid all-zero ids
    {"traceparent": "ff-" + "1" * 32 + "-" + "1" * 16 + "-01"},  # forbidden version
    {"traceparent": "00-" + "1" * 32 + "-" + "1" * 16 + "-01-extra"},
    {"traceparent": "00-" + "g" * 32 + "-" + "1" * 16 + "-01"},
    {"traceparent": "x" * 3000, "tracestate": "," * 3000},
    {"traceparent": "00-" + "1" * 32 + "-" + "1" * 16 + "-01", "tracestate": "=,=;\x7f"},
    {"tracestate": "k=v"},
    {"baggage": "%%%;;==,,"},
]


async def test_forged_trace_headers_do_not_break_delivery(
    server: NatsServer, two: tuple[Otel, Otel]
) -> None:
    """Malformed or forged traceparent/tracestate headers are ignored: delivery goes on."""
    otel = two[0]
    got: list[int] = []
    async with Hub() as hub:
        otel.instrument(hub)
        hub.add_subscriber(TRADES, lambda k, m: got.append(m.trade_id))
        async with NatsBridge(hub, [TRADES], servers=server.url):
            raw = await nats.connect(server.url)
            try:
                for i, headers in enumerate(HOSTILE_HEADERS):
                    payload = f'{{"trade_id": {i}, "quantity": 1, "price": "1"}}'.encode()
                    await raw.publish("X.trade.S", payload, headers=headers)
                await raw.flush()
            finally:
                await raw.close()
            await eventually(lambda: len(got) == len(HOSTILE_HEADERS), timeout=10)
    assert got == list(range(len(HOSTILE_HEADERS)))
    spans = otel.spans("process *.trade.*")
    assert len(spans) == len(HOSTILE_HEADERS)
    valid_parent = [s for s in spans if s.parent is not None]
    # Only the well-formed traceparent (with a tracestate that is dropped) gives a parent.
    assert [(parent_id(s), s.parent.is_remote if s.parent else None) for s in valid_parent] == [
        (int("1" * 16, 16), True)
    ]


class _Exploding(TextMapPropagator):
    """A propagator of the application's choice that fails on every message."""

    def extract(
        self,
        carrier: CarrierT,
        context: Context | None = None,
        getter: Getter[CarrierT] = default_getter,
    ) -> Context:
        raise RuntimeError("boom")

    def inject(
        self,
        carrier: CarrierT,
        context: Context | None = None,
        setter: Setter[CarrierT] = default_setter,
    ) -> None:
        setter.set(carrier, "traceparent", "not one")

    @property
    def fields(self) -> set[str]:
        return {"traceparent"}


async def test_a_failing_propagator_does_not_break_delivery(
    server: NatsServer, two: tuple[Otel, Otel]
) -> None:
    """A propagator that raises on extraction leaves the message delivered, without a parent."""
    previous = propagate.get_global_textmap()
    propagate.set_global_textmap(_Exploding())
    try:
        here, there = two
        got = asyncio.Event()
        async with Hub() as producer, Hub() as consumer:
            here.instrument(producer)
            there.instrument(consumer)
            consumer.add_subscriber(TRADES, lambda k, m: got.set())
            async with (
                NatsBridge(producer, [TRADES], servers=server.url),
                NatsBridge(consumer, [TRADES], servers=server.url),
            ):
                producer.publish(TRADES.fill("X", "S"), trade(1))
                await asyncio.wait_for(got.wait(), 10)
    finally:
        propagate.set_global_textmap(previous)
    (process,) = there.spans()
    assert process.parent is None


@pytest.mark.parametrize("remote", [False, True])
async def test_a_request_and_its_responder_share_one_trace(
    server: NatsServer, two: tuple[Otel, Otel], remote: bool
) -> None:
    """A request is a send span; its responder's handler, here or across NATS, a process span in it."""
    here, there = two
    async with Hub() as requester, Hub() as answerer:
        here.instrument(requester)
        there.instrument(answerer)
        for hub in [answerer] if remote else [requester]:

            async def add(key: Key, request: Add) -> Sum:
                if request.a < 0:
                    raise ValueError("negative")
                return Sum(request.a + request.b, "t")

            Subscriber(hub, "calc").add_responder(ADD, add)
        async with (
            NatsBridge(requester, [ADD], servers=server.url),
            NatsBridge(answerer, [ADD], servers=server.url),
        ):
            assert await requester.request(ADD.fill("s1"), Add(1, 2), timeout=10) == Sum(3, "t")
            with pytest.raises(ResponderError):
                await requester.request(ADD.fill("s1"), Add(-1, 2), timeout=10)
    sends = [s for s in here.spans("send calc.s1.add") if s.parent is None]
    assert len(sends) == 2
    handlers = (there if remote else here).spans("process calc.*.add")
    assert len(handlers) == 2
    for send, handler in zip(sends, handlers, strict=True):
        assert ids(handler).trace_id == ids(send).trace_id
        assert attributes(handler)["messaging.destination.name"] == "calc.s1.add"
    assert attributes(sends[1])["error.type"] == "typedpubsub.errors.ResponderError"
    assert attributes(handlers[1])["error.type"] == "ValueError"
    if remote:
        assert [parent_id(h) for h in handlers] == [ids(s).span_id for s in sends]
