"""typedpubsub.telemetry: spans and metrics of one hub, per the messaging semantic conventions."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
import threading
import types
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    InMemoryMetricReader,
    NumberDataPoint,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanContext, SpanKind, StatusCode

from typedpubsub import (
    LISTENER_ERROR,
    Hub,
    Key,
    ListenerFailure,
    Overflow,
    PayloadValidationError,
    QueueFullError,
    Subscriber,
    Topic,
)
from typedpubsub._hub import internal
from typedpubsub.telemetry import Instrumentation, instrument
from typedpubsub.testing import RecordingHub

from .conftest import ROOT


@dataclasses.dataclass
class Point:
    x: int


POINTS = Topic(("points", "*"), Point)


@dataclasses.dataclass
class Otel:
    """An SDK tracer provider and meter provider that keep everything in memory."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if name is None or s.name == name]

    def instrument(self, hub: Hub) -> Instrumentation:
        return instrument(
            hub, tracer_provider=self.tracer_provider, meter_provider=self.meter_provider
        )

    def points(self, metric: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        found: list[Any] = []
        if data is None:
            return found
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for m in scope.metrics:
                    if m.name == metric:
                        found.extend(m.data.data_points)
        return found


def make_otel() -> Otel:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider(shutdown_on_exit=False)
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    return Otel(tracer_provider, meter_provider, exporter, reader)


@pytest.fixture
def otel() -> Iterator[Otel]:
    """In-memory span exporter and metric reader, shut down after the test."""
    made = make_otel()
    yield made
    made.tracer_provider.shutdown()
    made.meter_provider.shutdown()


def attributes(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def ids(span: ReadableSpan) -> SpanContext:
    context: SpanContext | None = span.context
    assert context is not None
    return context


async def test_publish_is_a_producer_span(otel: Otel, hub: Hub) -> None:
    """Each publish is a PRODUCER span `send <key>` with the messaging attributes."""
    otel.instrument(hub)
    hub.publish(Key("a", "b"), 1)
    (span,) = otel.spans()
    assert span.name == "send a.b"
    assert span.kind is SpanKind.PRODUCER
    assert attributes(span) == {
        "messaging.system": "typedpubsub",
        "messaging.operation.name": "send",
        "messaging.operation.type": "send",
        "messaging.destination.name": "a.b",
    }
    assert span.status.status_code is StatusCode.UNSET


async def test_sync_delivery_is_a_consumer_span_child_of_the_publish(otel: Otel, hub: Hub) -> None:
    """A sync listener's delivery is a CONSUMER span, child of the publish and linked to it."""
    otel.instrument(hub)
    seen: list[trace.Span] = []
    hub.add_subscriber(Key("a", "b"), lambda k, m: seen.append(trace.get_current_span()))
    hub.publish(Key("a", "b"), 1)
    send, process = otel.spans("send a.b"), otel.spans("process a.b")
    assert len(send) == 1
    assert len(process) == 1
    assert process[0].kind is SpanKind.CONSUMER
    assert ids(process[0]).trace_id == ids(send[0]).trace_id
    assert parent_id(process[0]) == ids(send[0]).span_id
    assert [link.context.span_id for link in process[0].links] == [ids(send[0]).span_id]
    assert attributes(process[0])["messaging.operation.type"] == "process"
    assert attributes(process[0])["messaging.operation.name"] == "process"
    assert seen[0].get_span_context().span_id == ids(process[0]).span_id


async def test_async_listener_span_carries_the_publish_context_through_the_queue(
    otel: Otel, hub: Hub, subscriber: Subscriber
) -> None:
    """Each queued message is processed in a span parented to its own publish, not the last one."""
    otel.instrument(hub)
    current: list[int] = []

    async def on_message(key: Key, message: object) -> None:
        current.append(trace.get_current_span().get_span_context().span_id)

    subscriber.add_async_listener(Key("q", "*"), on_message)
    for i in range(3):  # all three wait in the queue before the listener's task runs
        hub.publish(Key("q", str(i)), i)
    await asyncio.wait_for(subscriber.remove_all_listeners(), 5)
    for i in range(3):
        (send,) = otel.spans(f"send q.{i}")
        (process,) = [
            s
            for s in otel.spans("process q.*")
            if attributes(s)["messaging.destination.name"] == f"q.{i}"
        ]
        assert parent_id(process) == ids(send).span_id
        assert ids(process).trace_id == ids(send).trace_id
        assert attributes(process)["messaging.destination.template"] == "q.*"
        assert ids(process).span_id in current


async def test_wildcard_subscription_names_the_span_after_its_pattern(otel: Otel, hub: Hub) -> None:
    """A pattern with wildcards is the span's destination and `messaging.destination.template`."""
    otel.instrument(hub)
    hub.add_subscriber(POINTS, lambda k, m: None)
    hub.add_subscriber(Key("points", "p1"), lambda k, m: None)
    hub.publish(POINTS.fill("p1"), Point(1))
    (wild,) = otel.spans("process points.*")
    assert attributes(wild)["messaging.destination.name"] == "points.p1"
    assert attributes(wild)["messaging.destination.template"] == "points.*"
    (exact,) = otel.spans("process points.p1")
    assert "messaging.destination.template" not in attributes(exact)


async def test_invalid_payload_is_recorded_on_the_producer_span(otel: Otel, hub: Hub) -> None:
    """A payload refused by validation ends the send span in error, and reaches no listener."""
    otel.instrument(hub)
    hub.add_subscriber(POINTS, lambda k, m: None)
    with pytest.raises(PayloadValidationError):
        hub.publish(POINTS.fill("p"), Point("many"))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    (span,) = otel.spans()
    assert span.name == "send points.p"
    assert span.status.status_code is StatusCode.ERROR
    assert attributes(span)["error.type"] == "typedpubsub.errors.PayloadValidationError"
    (event,) = span.events
    assert event.name == "exception"
    assert dict(event.attributes or {})["exception.type"] == attributes(span)["error.type"]


async def test_listener_errors_are_recorded_on_consumer_spans(
    otel: Otel, hub: Hub, subscriber: Subscriber
) -> None:
    """A raising listener, sync or async, ends its span in error; the hub still reports it."""
    otel.instrument(hub)
    failures: list[ListenerFailure] = []
    hub.add_subscriber(LISTENER_ERROR, lambda k, m: failures.append(m))

    def sync_fails(key: Key, message: object) -> None:
        raise KeyError("sync")

    async def async_fails(key: Key, message: object) -> None:
        raise RuntimeError("async")

    subscriber.add_sync_listener(Key("e"), sync_fails)
    subscriber.add_async_listener(Key("e"), async_fails)
    hub.publish(Key("e"), 1)
    await asyncio.wait_for(subscriber.remove_all_listeners(), 5)
    spans = otel.spans("process e")
    assert len(spans) == 2
    assert sorted(attributes(s)["error.type"] for s in spans) == ["KeyError", "RuntimeError"]
    for span in spans:
        assert span.status.status_code is StatusCode.ERROR
        assert [e.name for e in span.events] == ["exception"]
    assert sorted(f.error_type for f in failures) == ["KeyError", "RuntimeError"]
    assert hub.statistics().failed == 2


async def test_a_sync_listener_returning_a_coroutine_fails_its_span(otel: Otel, hub: Hub) -> None:
    """A sync listener that returns a coroutine is a failure of its span too."""
    otel.instrument(hub)

    async def handle(message: object) -> None:
        pass

    hub.add_subscriber(Key("c"), lambda k, m: handle(m))
    hub.publish(Key("c"), 1)
    (span,) = otel.spans("process c")
    assert attributes(span)["error.type"] == "TypeError"
    assert hub.statistics().failed == 1


async def test_metrics_follow_the_conventions(otel: Otel, hub: Hub, subscriber: Subscriber) -> None:
    """Sent and consumed counters and both durations carry the span's attributes and errors."""
    otel.instrument(hub)

    async def fails_on_two(key: Key, message: Point) -> None:
        if message.x == 2:
            raise ValueError("two")

    subscriber.add_async_listener(POINTS, fails_on_two)
    for x in (1, 2, 3):
        hub.publish(POINTS.fill("p"), Point(x))
    with pytest.raises(PayloadValidationError):
        hub.publish(POINTS.fill("p"), Point("bad"))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    await asyncio.wait_for(subscriber.remove_all_listeners(), 5)

    def by_error(points: list[Any]) -> dict[str | None, Any]:
        return {p.attributes.get("error.type"): p for p in points}

    sent = by_error(otel.points("messaging.client.sent.messages"))
    assert {k: p.value for k, p in sent.items()} == {
        None: 3,
        "typedpubsub.errors.PayloadValidationError": 1,
    }
    assert isinstance(sent[None], NumberDataPoint)
    assert dict(sent[None].attributes) == {
        "messaging.system": "typedpubsub",
        "messaging.operation.name": "send",
        "messaging.operation.type": "send",
        "messaging.destination.name": "points.p",
    }
    consumed = by_error(otel.points("messaging.client.consumed.messages"))
    assert {k: p.value for k, p in consumed.items()} == {None: 2, "ValueError": 1}
    assert consumed[None].attributes["messaging.destination.template"] == "points.*"
    durations = by_error(otel.points("messaging.process.duration"))
    assert {k: p.count for k, p in durations.items()} == {None: 2, "ValueError": 1}
    assert all(isinstance(p, HistogramDataPoint) for p in durations.values())
    operations = otel.points("messaging.client.operation.duration")
    assert sum(p.count for p in operations) == 4


async def test_apublish_and_publish_threadsafe_are_traced(
    otel: Otel, hub: Hub, subscriber: Subscriber
) -> None:
    """apublish and publish_threadsafe are send spans whose deliveries are their children."""
    otel.instrument(hub)
    got = asyncio.Event()
    count = 0

    async def on_message(key: Key, message: object) -> None:
        nonlocal count
        count += 1
        if count == 2:
            got.set()

    subscriber.add_async_listener(Key("t", "*"), on_message)
    await hub.apublish(Key("t", "a"), 1)
    thread = threading.Thread(target=hub.publish_threadsafe, args=(Key("t", "b"), 2))
    thread.start()
    await asyncio.wait_for(got.wait(), 5)
    await asyncio.to_thread(thread.join, 5)
    for name in ("a", "b"):
        (send,) = otel.spans(f"send t.{name}")
        (process,) = [
            s
            for s in otel.spans("process t.*")
            if attributes(s)["messaging.destination.name"] == f"t.{name}"
        ]
        assert parent_id(process) == ids(send).span_id


async def test_uninstrument_restores_the_hub(otel: Otel, hub: Hub, subscriber: Subscriber) -> None:
    """After uninstrument() the hub publishes through its class's own methods and traces nothing."""
    handle = otel.instrument(hub)
    got: list[object] = []

    async def on_message(key: Key, message: object) -> None:
        got.append(message)

    subscriber.add_async_listener(Key("u"), on_message)
    hub.publish(Key("u"), "queued while instrumented")
    states = [handle.active]
    handle.uninstrument()
    handle.uninstrument()  # idempotent
    states.append(handle.active)
    assert states == [True, False]
    assert not {"publish", "apublish", "publish_threadsafe"} & set(vars(hub))
    assert hub.publish == types.MethodType(Hub.publish, hub)
    hub.publish(Key("u"), "after")
    await asyncio.wait_for(subscriber.remove_all_listeners(), 5)
    assert got == ["queued while instrumented", "after"]
    assert [s.name for s in otel.spans()] == ["send u"]
    again = otel.instrument(hub)  # a hub can be instrumented again
    hub.publish(Key("u"), "again")
    assert [s.name for s in otel.spans()] == ["send u", "send u"]
    with again:
        pass
    assert not again.active


async def test_a_recording_hub_records_and_traces(otel: Otel) -> None:
    """A RecordingHub (which observes every dispatch) can be instrumented: it records and traces."""
    async with RecordingHub() as hub:
        with otel.instrument(hub):
            hub.add_subscriber(POINTS, lambda k, m: None)
            hub.publish(POINTS.fill("p"), Point(1))
        hub.assert_published(POINTS, Point(1), times=1)
    assert sorted(s.name for s in otel.spans()) == ["process points.*", "send points.p"]


async def test_a_request_is_a_producer_span_until_its_reply(otel: Otel, hub: Hub) -> None:
    """A hub's request is a send span, current while the request is delivered; failures marked."""

    async def request(key: Key[Any], message: object, *, timeout: float = 1.0) -> object:
        hub.publish(key, message)
        if message == "fail":
            raise TimeoutError(f"no reply within {timeout} s")
        return ("reply", message)

    # A stand-in for request/reply's Hub.request, in the instance's namespace: untyped here.
    vars(hub)["request"] = request
    handle = otel.instrument(hub)
    traced = vars(hub)["request"]
    assert traced is not request
    hub.add_subscriber(Key("q"), lambda k, m: None)
    assert await traced(Key("q"), "x", timeout=2.0) == ("reply", "x")
    with pytest.raises(TimeoutError):
        await traced(Key("q"), "fail")
    handle.uninstrument()
    assert "request" not in vars(hub)
    requests = [s for s in otel.spans("send q") if s.kind is SpanKind.PRODUCER and not s.parent]
    assert len(requests) == 2
    assert attributes(requests[1])["error.type"] == "TimeoutError"
    for sent in requests:
        (publish,) = [s for s in otel.spans("send q") if parent_id(s) == ids(sent).span_id]
        (process,) = [s for s in otel.spans("process q") if parent_id(s) == ids(publish).span_id]
        assert ids(process).trace_id == ids(sent).trace_id


async def test_an_uninstrumented_route_calls_the_callbacks_themselves(otel: Otel, hub: Hub) -> None:
    """Without instrumentation a route calls the subscribed callbacks, not wrappers: no telemetry check per message."""
    hub.add_subscriber(Key("r"), lambda k, m: None)
    routing = internal(hub).routing
    before = routing.route(Key("r"))
    with otel.instrument(hub):
        during = routing.route(Key("r"))
    after = routing.route(Key("r"))
    assert before.calls is before.callbacks
    assert during.calls != during.callbacks
    assert after.calls is after.callbacks
    assert internal(hub).telemetry is None


async def test_instrument_refuses_wrong_arguments(otel: Otel, hub: Hub) -> None:
    """Wrong types are TypeErrors, a hub instrumented twice a ValueError, with exact messages."""
    with pytest.raises(TypeError, match=r"^hub must be a Hub, got 'hub' \(str\)$"):
        instrument("hub")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    with pytest.raises(
        TypeError, match=r"^tracer_provider must be a TracerProvider or None, got 1 \(int\)$"
    ):
        instrument(hub, tracer_provider=1)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    with pytest.raises(
        TypeError, match=r"^meter_provider must be a MeterProvider or None, got 1 \(int\)$"
    ):
        instrument(hub, meter_provider=1)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    otel.instrument(hub)
    with pytest.raises(
        ValueError, match=r"^hub must not be instrumented already, got <Hub .*>; uninstrument"
    ):
        otel.instrument(hub)


@pytest.mark.parametrize("overflow", ["drop_oldest", "drop_newest", "raise"])
async def test_full_queues_keep_each_message_with_its_own_context(
    otel: Otel, hub: Hub, subscriber: Subscriber, overflow: Overflow
) -> None:
    """A bounded queue that drops or refuses messages still processes each under its own publish."""
    otel.instrument(hub)
    got: list[int] = []

    async def on_message(key: Key, message: int) -> None:
        got.append(message)

    subscriber.add_async_listener(Key("b"), on_message, max_queue_size=2, overflow=overflow)
    for i in range(5):  # the listener's task has not run yet: the queue overflows
        try:
            hub.publish(Key("b"), i)
        except QueueFullError:
            pass
    await asyncio.wait_for(subscriber.remove_all_listeners(), 5)
    assert got == {"drop_oldest": [3, 4], "drop_newest": [0, 1], "raise": [0, 1]}[overflow]
    sends = otel.spans("send b")
    assert len(sends) == 5
    processed = otel.spans("process b")
    assert [parent_id(s) for s in processed] == [ids(sends[i]).span_id for i in got]
    if overflow == "raise":
        assert [attributes(s).get("error.type") for s in sends[2:]] == [
            "typedpubsub.errors.QueueFullError"
        ] * 3


class Recorder:
    """Deliveries and failures seen by a hub's listeners during one run of operations."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, tuple[str, ...], object]] = []

    def sync(self, name: str, fail_on: int) -> Any:
        def listener(key: Key, message: int) -> None:
            self.seen.append((name, tuple(key), message))
            if message == fail_on:
                raise ValueError(name)

        return listener

    def asynchronous(self, name: str, fail_on: int) -> Any:
        async def listener(key: Key, message: int) -> None:
            self.seen.append((name, tuple(key), message))
            if message == fail_on:
                raise ValueError(name)

        return listener


operations = st.lists(
    st.one_of(
        st.tuples(st.just("sync"), st.sampled_from(["k.a", "k.*", "*"]), st.integers(0, 5)),
        st.tuples(st.just("async"), st.sampled_from(["k.a", "k.*", "*"]), st.integers(0, 5)),
        st.tuples(st.just("publish"), st.sampled_from(["k.a", "k.b", "j"]), st.integers(0, 5)),
        st.tuples(st.just("typed"), st.just("points.p"), st.integers(-1, 5)),
        st.tuples(st.just("remove"), st.just(""), st.integers(0, 10)),
        st.tuples(st.just("toggle"), st.just(""), st.just(0)),
    ),
    max_size=30,
)


async def run_operations(ops: list[tuple[str, str, int]], otel: Otel | None) -> tuple[Any, ...]:
    recorder = Recorder()
    errors: list[str] = []
    async with Hub() as hub, Subscriber(hub, "s") as subscriber:
        handle = otel.instrument(hub) if otel is not None else None
        listeners: list[tuple[Key[Any], Any]] = []
        for n, (op, key, value) in enumerate(ops):
            if op in ("sync", "async"):
                pattern = Key(*key.split("."))
                make = recorder.sync if op == "sync" else recorder.asynchronous
                callback = make(f"{op}{n}", value)
                if op == "sync":
                    subscriber.add_sync_listener(pattern, callback)
                else:
                    subscriber.add_async_listener(pattern, callback)
                listeners.append((pattern, callback))
            elif op == "publish":
                hub.publish(Key(*key.split(".")), value)
            elif op == "typed":
                try:
                    hub.publish(POINTS.fill("p"), Point(value if value >= 0 else "x"))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
                except PayloadValidationError:
                    errors.append("invalid")
            elif op == "remove" and listeners:
                pattern, callback = listeners.pop(value % len(listeners))
                await asyncio.wait_for(subscriber.remove_listener(pattern, callback), 5)
            elif op == "toggle" and otel is not None:
                if handle is not None and handle.active:
                    handle.uninstrument()
                else:
                    handle = otel.instrument(hub)
            await asyncio.sleep(0)
        await asyncio.wait_for(subscriber.remove_all_listeners(), 5)
        statistics = hub.statistics()
    return recorder.seen, errors, statistics.published, statistics.delivered, statistics.failed


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=operations)
def test_instrumenting_changes_no_delivery(ops: list[tuple[str, str, int]]) -> None:
    """Instrumented or not (even toggled midway), every delivery, error and count is the same."""
    otel = make_otel()
    try:
        plain = asyncio.run(run_operations(ops, None))
        traced = asyncio.run(run_operations(ops, otel))
    finally:
        otel.tracer_provider.shutdown()
        otel.meter_provider.shutdown()
    assert traced == plain
    if "toggle" not in {op for op, _, _ in ops}:
        assert len(otel.spans()) == len(plain[0]) + sum(
            op in ("publish", "typed") for op, _, _ in ops
        )


def test_nothing_of_opentelemetry_is_imported_without_instrument(server: Any) -> None:
    """A process that uses a hub and a NATS bridge without instrument() never imports OpenTelemetry."""
    script = f"""
import asyncio, sys
from typedpubsub import Hub, Key, Subscriber, Topic
from typedpubsub.nats import NatsBridge
import typedpubsub.testing

async def main():
    async with Hub() as hub, NatsBridge(hub, [Key("x", "*")], servers={server.url!r}):
        got = asyncio.Event()
        async def on(key, message):
            got.set()
        Subscriber(hub, "s").add_async_listener(Key("x", "*"), on)
        hub.publish(Key("x", "1"), {{"n": 1}})
        await asyncio.wait_for(got.wait(), 10)
    print(sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry"))

asyncio.run(main())
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().replace("'", '"')) == []


@settings(max_examples=200, deadline=None)
@given(
    headers=st.dictionaries(
        st.sampled_from(["traceparent", "tracestate", "baggage", "Traceparent", "x"]),
        st.text(max_size=80),
    )
)
def test_hostile_trace_headers_give_no_context_and_no_error(headers: Mapping[str, str]) -> None:
    """Whatever a peer puts in the trace headers, extracting them never raises."""
    from typedpubsub._telemetry import Telemetry

    otel = make_otel()
    telemetry = Telemetry(
        otel.tracer_provider.get_tracer("t"),
        otel.meter_provider.get_meter("t"),
        lambda callback: False,
    )
    context = telemetry.remote_context(headers)
    if context is not None:
        span = trace.get_current_span(context).get_span_context()
        assert span.is_valid or span.trace_id == 0


async def test_aprocess_in_the_current_context_returns_the_result(otel: Otel, hub: Hub) -> None:
    """aprocess without a parent is a child of the current span and returns what it ran (a responder's reply)."""
    otel.instrument(hub)
    telemetry = internal(hub).telemetry
    assert telemetry is not None

    async def answer() -> str:
        return "reply"

    tracer = otel.tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("incoming"):
        assert await telemetry.aprocess(Key("r", "1"), None, "r.*", answer) == "reply"
    (incoming,) = otel.spans("incoming")
    (process,) = otel.spans("process r.*")
    assert parent_id(process) == ids(incoming).span_id
    assert attributes(process)["messaging.destination.name"] == "r.1"
