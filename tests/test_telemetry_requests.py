"""typedpubsub.telemetry for request/reply: request and responder spans, in process and over NATS."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import nats
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import propagate
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import CarrierT, Setter, default_setter
from opentelemetry.trace import SpanKind, StatusCode

from typedpubsub import (
    Hub,
    Key,
    NoResponderError,
    PayloadValidationError,
    Publisher,
    RequestTimeoutError,
    RequestTopic,
    ResponderError,
    Subscriber,
)
from typedpubsub.nats import NatsBridge
from typedpubsub.testing.natsserver import NatsServer

from .conftest import ROOT
from .test_telemetry import Otel, attributes, ids, make_otel, parent_id
from .test_telemetry_nats import HOSTILE_HEADERS, _Exploding


@dataclasses.dataclass
class Add:
    a: int
    b: int


@dataclasses.dataclass
class Sum:
    total: int


ADD = RequestTopic(("rpc", "*", "add"), Add, Sum, parameters=["shard"])
CONCRETE = ADD.fill("s1")


async def add(key: Key, request: Add) -> Sum:
    return Sum(request.a + request.b)


def add_now(key: Key, request: Add) -> Sum:
    return Sum(request.a + request.b)


@pytest.fixture
def otel() -> Any:
    """In-memory span exporter and metric reader, shut down after the test."""
    made = make_otel()
    yield made
    made.tracer_provider.shutdown()
    made.meter_provider.shutdown()


@pytest.fixture
def two() -> Any:
    """Two in-memory OpenTelemetry setups: one per side of the bridge, as in two processes."""
    made = (make_otel(), make_otel())
    yield made
    for otel in made:
        otel.tracer_provider.shutdown()
        otel.meter_provider.shutdown()


@pytest.mark.parametrize("handler", [add, add_now], ids=["async", "sync"])
async def test_request_is_a_producer_span_and_the_responder_a_consumer_child(
    otel: Otel, hub: Hub, subscriber: Subscriber, handler: Any
) -> None:
    """A request is `send <key>` (PRODUCER); its responder runs in `process <pattern>` under it."""
    otel.instrument(hub)
    subscriber.add_responder(ADD, handler)
    assert await hub.request(CONCRETE, Add(1, 2), timeout=5) == Sum(3)
    (send,) = otel.spans("send rpc.s1.add")
    (process,) = otel.spans("process rpc.*.add")
    assert send.kind is SpanKind.PRODUCER
    assert attributes(send) == {
        "messaging.system": "typedpubsub",
        "messaging.operation.name": "send",
        "messaging.operation.type": "send",
        "messaging.destination.name": "rpc.s1.add",
    }
    assert process.kind is SpanKind.CONSUMER
    assert attributes(process) == {
        "messaging.system": "typedpubsub",
        "messaging.operation.name": "process",
        "messaging.operation.type": "process",
        "messaging.destination.name": "rpc.s1.add",
        "messaging.destination.template": "rpc.*.add",
    }
    assert ids(process).trace_id == ids(send).trace_id
    assert parent_id(process) == ids(send).span_id
    assert [link.context.span_id for link in process.links] == [ids(send).span_id]
    assert send.status.status_code is StatusCode.UNSET
    assert process.status.status_code is StatusCode.UNSET


async def test_listeners_observing_a_request_are_traced_under_it(
    otel: Otel, hub: Hub, subscriber: Subscriber
) -> None:
    """A listener of the request key gets its own CONSUMER span, child of the request's span."""
    otel.instrument(hub)
    subscriber.add_responder(ADD, add)
    seen: list[Add] = []
    hub.add_subscriber(CONCRETE, lambda k, m: seen.append(m))
    await Publisher(hub, "rpc").request(RequestTopic(("s1", "add"), Add, Sum), Add(2, 2), timeout=5)
    assert seen == [Add(2, 2)]
    (send,) = otel.spans("send rpc.s1.add")
    children = [s for s in otel.spans() if parent_id(s) == ids(send).span_id]
    assert sorted(s.name for s in children) == ["process rpc.*.add", "process rpc.s1.add"]


async def test_request_errors_are_recorded_with_their_type(
    otel: Otel, hub: Hub, subscriber: Subscriber
) -> None:
    """A wrong topic, no responder, an invalid request, a failing responder, a timeout: all errors."""
    otel.instrument(hub)
    with pytest.raises(NoResponderError):
        await hub.request(CONCRETE, Add(1, 1), timeout=5)
    bad: Any = {"a": "x"}
    with pytest.raises(PayloadValidationError):
        await hub.request(CONCRETE, bad, timeout=5)

    async def boom(key: Key, request: Add) -> Sum:
        raise ValueError("no sums today")

    subscriber.add_responder(ADD, boom)
    with pytest.raises(ResponderError):
        await hub.request(CONCRETE, Add(1, 1), timeout=5)
    subscriber.remove_responder(ADD, boom)
    never = asyncio.Event()

    async def stuck(key: Key, request: Add) -> Sum:
        await never.wait()
        return Sum(0)

    subscriber.add_responder(ADD, stuck)
    with pytest.raises(RequestTimeoutError):
        await hub.request(CONCRETE, Add(1, 1), timeout=0.05)
    plain: Any = Key("rpc", "s1", "add")
    with pytest.raises(TypeError, match=r"^topic must be a RequestTopic"):
        await hub.request(plain, Add(1, 1), timeout=5)
    sends = otel.spans("send rpc.s1.add")
    assert attributes(sends.pop())["error.type"] == "TypeError"
    assert [attributes(s)["error.type"] for s in sends] == [
        "typedpubsub.errors.NoResponderError",
        "typedpubsub.errors.PayloadValidationError",
        "typedpubsub.errors.ResponderError",
        "typedpubsub.errors.RequestTimeoutError",
    ]
    assert all(s.status.status_code is StatusCode.ERROR for s in sends)
    assert all(any(e.name == "exception" for e in s.events) for s in sends)
    # The responder's span holds its handler's own error; one cancelled by the timeout ends
    # without one (the request's span says why).
    processes = otel.spans("process rpc.*.add")
    assert [attributes(s).get("error.type") for s in processes] == ["ValueError", None]
    assert processes[0].status.status_code is StatusCode.ERROR
    assert [parent_id(p) for p in processes] == [ids(s).span_id for s in sends[2:]]


async def test_request_metrics_follow_the_conventions(
    otel: Otel, hub: Hub, subscriber: Subscriber
) -> None:
    """Requests count as sent messages and responders as consumed ones, with durations."""
    otel.instrument(hub)
    subscriber.add_responder(ADD, add)
    await hub.request(CONCRETE, Add(1, 2), timeout=5)
    with pytest.raises(NoResponderError):
        await hub.request(RequestTopic(("rpc", "x", "none"), Add, Sum), Add(1, 2), timeout=5)
    sent = {
        (p.attributes["messaging.destination.name"], p.attributes.get("error.type")): p.value
        for p in otel.points("messaging.client.sent.messages")
    }
    assert sent == {
        ("rpc.s1.add", None): 1,
        ("rpc.x.none", "typedpubsub.errors.NoResponderError"): 1,
    }
    (consumed,) = otel.points("messaging.client.consumed.messages")
    assert consumed.value == 1
    assert consumed.attributes["messaging.destination.template"] == "rpc.*.add"
    assert sum(p.count for p in otel.points("messaging.process.duration")) == 1
    assert sum(p.count for p in otel.points("messaging.client.operation.duration")) == 2


async def test_uninstrumented_requests_record_nothing(
    otel: Otel, hub: Hub, subscriber: Subscriber
) -> None:
    """After uninstrument() requests and responders make no spans and still answer."""
    subscriber.add_responder(ADD, add)
    handle = otel.instrument(hub)
    await hub.request(CONCRETE, Add(1, 2), timeout=5)
    handle.uninstrument()
    assert await hub.request(CONCRETE, Add(2, 2), timeout=5) == Sum(4)
    assert len(otel.spans()) == 2


# -- across NATS ----------------------------------------------------------------------------


async def test_request_and_remote_responder_share_one_trace(
    server: NatsServer, two: tuple[Otel, Otel]
) -> None:
    """A request in one hub and its responder in another hub, joined by NATS, are one trace."""
    here, there = two
    async with Hub() as client, Hub() as service, Subscriber(service, "s") as subscriber:
        here.instrument(client)
        there.instrument(service)
        subscriber.add_responder(ADD, add)
        observed: list[Add] = []
        service.add_subscriber(ADD, lambda k, m: observed.append(m))
        async with (
            NatsBridge(service, [ADD], servers=server.url),
            NatsBridge(client, [ADD], servers=server.url),
        ):
            assert await client.request(CONCRETE, Add(3, 4), timeout=10) == Sum(7)
    assert observed == [Add(3, 4)]
    (send,) = here.spans()
    assert send.name == "send rpc.s1.add"
    assert send.kind is SpanKind.PRODUCER
    remote = there.spans()
    assert sorted(s.name for s in remote) == ["process rpc.*.add", "process rpc.*.add"]
    for span in remote:
        assert span.kind is SpanKind.CONSUMER
        assert ids(span).trace_id == ids(send).trace_id
        assert parent_id(span) == ids(send).span_id
        assert span.parent is not None
        assert span.parent.is_remote
        assert [link.context.span_id for link in span.links] == [ids(send).span_id]


async def test_remote_responder_errors_are_recorded_on_both_sides(
    server: NatsServer, two: tuple[Otel, Otel]
) -> None:
    """A responder failing across NATS ends its span and the remote request's span in error."""
    here, there = two

    async def boom(key: Key, request: Add) -> Sum:
        raise ValueError("no sums today")

    async with Hub() as client, Hub() as service, Subscriber(service, "s") as subscriber:
        here.instrument(client)
        there.instrument(service)
        subscriber.add_responder(ADD, boom)
        async with (
            NatsBridge(service, [ADD], servers=server.url),
            NatsBridge(client, [ADD], servers=server.url),
        ):
            with pytest.raises(ResponderError, match=r"^responder across NATS"):
                await client.request(CONCRETE, Add(3, 4), timeout=10)
    (send,) = here.spans()
    (process,) = there.spans()
    assert attributes(send)["error.type"] == "typedpubsub.errors.ResponderError"
    assert attributes(process)["error.type"] == "ValueError"
    assert parent_id(process) == ids(send).span_id


async def test_uninstrumented_requests_carry_no_trace_headers(
    server: NatsServer, two: tuple[Otel, Otel]
) -> None:
    """Without instrument() a forwarded request has no traceparent; with it, the request's span."""
    spy = await nats.connect(server.url)
    headers: list[dict[str, str]] = []

    async def record(msg: Any) -> None:
        headers.append(dict(msg.headers or {}))
        await spy.publish(msg.reply, b'{"total": 0}')

    try:
        await spy.subscribe("rpc.*.add", cb=record)
        await spy.flush()
        async with Hub() as hub, NatsBridge(hub, [ADD], servers=server.url):
            assert await hub.request(CONCRETE, Add(1, 1), timeout=10) == Sum(0)
            with two[0].instrument(hub):
                assert await hub.request(CONCRETE, Add(1, 1), timeout=10) == Sum(0)
    finally:
        await spy.close()
    assert "traceparent" not in headers[0]
    (send,) = two[0].spans()
    trace_id = f"{ids(send).trace_id:032x}"
    assert headers[1]["traceparent"].startswith(f"00-{trace_id}-{ids(send).span_id:016x}-")
    assert headers[1]["Typedpubsub-Timeout"] == "10.0"  # beside the timeout


async def test_forged_trace_headers_on_requests_do_not_break_serving(
    server: NatsServer, otel: Otel
) -> None:
    """Requests with malformed or forged traceparent/tracestate are answered all the same."""
    async with Hub() as hub, Subscriber(hub, "s") as subscriber:
        otel.instrument(hub)
        subscriber.add_responder(ADD, add)
        async with NatsBridge(hub, [ADD], servers=server.url):
            raw = await nats.connect(server.url)
            try:
                for i, headers in enumerate(HOSTILE_HEADERS):
                    payload = f'{{"a": {i}, "b": 1}}'.encode()
                    msg = await raw.request("rpc.f.add", payload, timeout=10, headers=headers)
                    assert msg.data == f'{{"total":{i + 1}}}'.encode()
                    assert not msg.headers
            finally:
                await raw.close()
    spans = otel.spans("process rpc.*.add")
    assert len(spans) == len(HOSTILE_HEADERS)
    with_parent = [s for s in spans if s.parent is not None]
    assert [(parent_id(s), s.parent.is_remote if s.parent else None) for s in with_parent] == [
        (int("1" * 16, 16), True)
    ]


async def test_a_failing_propagator_does_not_break_requests(
    server: NatsServer, two: tuple[Otel, Otel]
) -> None:
    """A propagator that raises on extraction leaves remote requests answered, without a parent."""
    previous = propagate.get_global_textmap()
    propagate.set_global_textmap(_Exploding())
    try:
        here, there = two
        async with Hub() as client, Hub() as service, Subscriber(service, "s") as subscriber:
            here.instrument(client)
            there.instrument(service)
            subscriber.add_responder(ADD, add)
            async with (
                NatsBridge(service, [ADD], servers=server.url),
                NatsBridge(client, [ADD], servers=server.url),
            ):
                assert await client.request(CONCRETE, Add(1, 2), timeout=10) == Sum(3)
    finally:
        propagate.set_global_textmap(previous)
    (process,) = there.spans()
    assert process.parent is None


@settings(max_examples=100, deadline=None)
@given(
    headers=st.one_of(
        st.none(),
        st.dictionaries(
            st.sampled_from(["traceparent", "tracestate", "baggage", "Traceparent", "x"]),
            st.text(max_size=80),
        ),
    )
)
def test_any_request_headers_leave_the_responder_answering(
    headers: Mapping[str, str] | None,
) -> None:
    """Whatever trace headers a request carries, its responder runs and answers in a span."""
    from typedpubsub._telemetry import Telemetry

    otel = make_otel()
    telemetry = Telemetry(
        otel.tracer_provider.get_tracer("t"),
        otel.meter_provider.get_meter("t"),
        lambda callback: False,
    )
    replies: list[object] = []

    async def answer() -> Sum:
        return Sum(1)

    async def serve() -> None:
        replies.append(await telemetry.aprocess(CONCRETE, None, "rpc.*.add", answer))

    asyncio.run(telemetry.answered(headers, serve()))
    assert replies == [Sum(1)]
    (span,) = otel.spans()
    assert span.name == "process rpc.*.add"
    assert span.parent is None or span.parent.is_remote
    otel.tracer_provider.shutdown()
    otel.meter_provider.shutdown()


def test_requests_import_nothing_of_opentelemetry_without_instrument(server: Any) -> None:
    """Requests and responders, in process and across NATS, never import OpenTelemetry alone."""
    script = f"""
import asyncio, sys
from typedpubsub import Hub, RequestTopic, Subscriber
from typedpubsub.nats import NatsBridge

ADD = RequestTopic(("rpc", "*", "add"), dict[str, int], int)

async def add(key, request):
    return request["a"] + request["b"]

def add_now(key, request):
    return request["a"] + request["b"]

async def main():
    async with Hub() as client, Hub() as service:
        Subscriber(service, "s").add_responder(ADD, add)
        Subscriber(client, "s").add_responder(ADD.fill("here"), add_now)
        async with (
            NatsBridge(service, [ADD], servers={server.url!r}),
            NatsBridge(client, [ADD], servers={server.url!r}),
        ):
            assert await client.request(ADD.fill("x"), {{"a": 1, "b": 2}}, timeout=10) == 3
            assert await client.request(ADD.fill("here"), {{"a": 1, "b": 2}}, timeout=10) == 3
            assert await service.request(ADD.fill("y"), {{"a": 1, "b": 2}}, timeout=10) == 3
    print(sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry"))

asyncio.run(main())
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().replace("'", '"')) == []


@settings(max_examples=30, deadline=None)
@given(plan=st.lists(st.tuples(st.integers(0, 4), st.booleans()), min_size=1, max_size=8))
def test_concurrent_requests_each_parent_their_own_responder(
    plan: list[tuple[int, bool]],
) -> None:
    """However concurrent requests interleave, each responder's span is under its own request's."""
    otel = make_otel()

    async def respond(key: Key, request: Add) -> Sum:
        for _ in range(request.a):
            await asyncio.sleep(0)
        if request.b:
            raise ValueError("asked to fail")
        return Sum(request.a)

    async def main() -> None:
        async with Hub() as hub, Subscriber(hub, "s") as subscriber:
            otel.instrument(hub)
            subscriber.add_responder(ADD, respond)

            async def one(index: int, turns: int, fail: bool) -> None:
                try:
                    await hub.request(ADD.fill(f"s{index}"), Add(turns, int(fail)), timeout=10)
                except ResponderError:
                    assert fail

            await asyncio.wait_for(
                asyncio.gather(*(one(i, turns, fail) for i, (turns, fail) in enumerate(plan))), 10
            )

    asyncio.run(main())
    for index, (_, fail) in enumerate(plan):
        (send,) = otel.spans(f"send rpc.s{index}.add")
        (process,) = [
            s
            for s in otel.spans("process rpc.*.add")
            if attributes(s)["messaging.destination.name"] == f"rpc.s{index}.add"
        ]
        assert parent_id(process) == ids(send).span_id
        assert ("error.type" in attributes(process)) is fail
        assert ("error.type" in attributes(send)) is fail
    otel.tracer_provider.shutdown()
    otel.meter_provider.shutdown()


class _ExplodingInject(_Exploding):
    """A propagator of the application's choice that fails when injecting, too."""

    def inject(
        self,
        carrier: CarrierT,
        context: Context | None = None,
        setter: Setter[CarrierT] = default_setter,
    ) -> None:
        raise RuntimeError("inject boom")


async def test_a_propagator_failing_to_inject_breaks_no_request_and_no_publish(
    server: NatsServer, two: tuple[Otel, Otel]
) -> None:
    """A propagator that raises on injection: requests are answered, messages delivered, untraced."""
    previous = propagate.get_global_textmap()
    propagate.set_global_textmap(_ExplodingInject())
    try:
        here, there = two
        got = asyncio.Event()
        async with Hub() as client, Hub() as service, Subscriber(service, "s") as subscriber:
            here.instrument(client)
            there.instrument(service)
            subscriber.add_responder(ADD, add)
            service.add_subscriber(Key("news", "*"), lambda k, m: got.set())
            async with (
                NatsBridge(service, [ADD, Key("news", "*")], servers=server.url),
                NatsBridge(client, [ADD, Key("news", "*")], servers=server.url),
            ):
                assert await client.request(CONCRETE, Add(1, 2), timeout=10) == Sum(3)
                client.publish(Key("news", "1"), {"n": 1})
                await asyncio.wait_for(got.wait(), 10)
    finally:
        propagate.set_global_textmap(previous)
    assert [s.name for s in here.spans()] == ["send rpc.s1.add", "send news.1"]
    assert all(s.parent is None for s in there.spans())


class _Clobbering(_Exploding):
    """A propagator that writes fields named like the bridge's own headers."""

    def inject(
        self,
        carrier: CarrierT,
        context: Context | None = None,
        setter: Setter[CarrierT] = default_setter,
    ) -> None:
        for name, value in (
            ("Nats-Msg-Id", "always-the-same"),
            ("Typedpubsub-Timeout", "0.000001"),
            ("Typedpubsub-Tombstone", "1"),
        ):
            setter.set(carrier, name, value)


async def test_a_propagator_cannot_replace_the_bridge_headers(
    server: NatsServer, two: tuple[Otel, Otel]
) -> None:
    """Propagator fields named like our headers lose: ids, timeouts and tombstones stay ours."""
    previous = propagate.get_global_textmap()
    propagate.set_global_textmap(_Clobbering())
    try:
        here, there = two
        seen: list[object] = []
        two_seen = asyncio.Event()

        def listener(key: Key, message: object) -> None:
            seen.append(message)
            if len(seen) == 2:
                two_seen.set()

        async with Hub() as client, Hub() as service, Subscriber(service, "s") as subscriber:
            here.instrument(client)
            there.instrument(service)
            subscriber.add_responder(ADD, add)
            service.add_subscriber(Key("news", "*"), listener)
            async with (
                NatsBridge(service, [ADD, Key("news", "*")], servers=server.url),
                NatsBridge(client, [ADD, Key("news", "*")], servers=server.url),
            ):
                assert await client.request(CONCRETE, Add(1, 2), timeout=10) == Sum(3)
                client.publish(Key("news", "1"), {"n": 1})
                client.publish(Key("news", "2"), {"n": 2})
                await asyncio.wait_for(two_seen.wait(), 10)
    finally:
        propagate.set_global_textmap(previous)
    assert seen == [{"n": 1}, {"n": 2}]
