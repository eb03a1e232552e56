"""Round 3 of adversarial tests: request/reply, retained topics, wait_for and telemetry as a user."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from typedpubsub import (
    ClosedError,
    Hub,
    Key,
    RequestTimeoutError,
    RequestTopic,
    ResponderError,
    Subscriber,
    Topic,
)
from typedpubsub.nats import NatsBridge
from typedpubsub.telemetry import instrument
from typedpubsub.testing.natsserver import NatsServer

NUMBERS = Topic(("number", "*"), int)
DOUBLE = RequestTopic(("double", "*"), int, int)


async def test_wait_for_fails_with_closed_error_when_the_hub_closes() -> None:
    """A wait_for pending when its hub closes raises ClosedError instead of waiting for ever."""
    hub = Hub()
    waiting = asyncio.ensure_future(hub.wait_for(NUMBERS))
    await asyncio.sleep(0)
    await asyncio.wait_for(hub.aclose(), timeout=10)
    with pytest.raises(
        ClosedError, match=r"^hub closed while waiting for a message on \('number', '\*'\)$"
    ):
        await asyncio.wait_for(waiting, timeout=10)


async def test_wait_for_raises_what_its_where_predicate_raised() -> None:
    """A where that raises ends wait_for with that exception, not with a timeout or a hang."""
    async with Hub() as hub:

        def broken(value: int) -> bool:
            raise ZeroDivisionError(f"broken on {value}")

        waiting = asyncio.ensure_future(hub.wait_for(NUMBERS, where=broken))
        await asyncio.sleep(0)
        hub.publish(NUMBERS.fill("a"), 1)
        with pytest.raises(ZeroDivisionError, match=r"^broken on 1$"):
            await asyncio.wait_for(waiting, timeout=10)
        assert hub.statistics().subscriptions == 0


@given(st.lists(st.sampled_from(["publish", "close", "where_fails"]), min_size=1, max_size=6))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_wait_for_always_ends_whatever_happens_next(steps: list[str]) -> None:
    """Whatever follows a wait_for (publishes, a failing where, close), it ends without timing out."""

    async def scenario() -> None:
        hub = Hub()
        fail = "where_fails" in steps

        def where(value: int) -> bool:
            if fail:
                raise RuntimeError("where failed")
            return True

        waiting = asyncio.ensure_future(hub.wait_for(NUMBERS, where=where))
        await asyncio.sleep(0)
        for step in steps:
            if step == "close":
                await hub.aclose()
            elif not hub.closed:
                hub.publish(NUMBERS.fill("a"), 1)
        await hub.aclose()
        done, _ = await asyncio.wait([waiting], timeout=10)
        assert done, "wait_for still pending after the hub closed"
        before_close = steps.index("close") if "close" in steps else len(steps)
        error = waiting.exception()
        if before_close == 0:  # every step but close publishes
            assert isinstance(error, ClosedError)
        elif fail:
            assert isinstance(error, RuntimeError)
        else:
            assert error is None
            assert waiting.result() == (Key("number", "a"), 1)

    asyncio.run(scenario())


@pytest.mark.skipif(
    sys.version_info < (3, 11), reason="Task.cancelling() (3.11) tells who cancelled"
)
async def test_responder_raising_cancelled_error_is_a_responder_error() -> None:
    """A handler that raises CancelledError itself fails the request; the requester is not cancelled."""
    async with Hub() as hub, Subscriber(hub, "s") as subscriber:

        async def handler(key: Key, number: int) -> int:
            raise asyncio.CancelledError

        subscriber.add_responder(DOUBLE, handler)
        with pytest.raises(ResponderError, match=r"raised CancelledError"):
            await hub.request(DOUBLE.fill("a"), 1, timeout=10)
        assert hub.statistics().failed == 1


async def test_sync_handler_returning_an_awaitable_is_awaited() -> None:
    """A plain function returning an awaitable reply (which both checkers accept) is awaited."""

    async def compute(number: int) -> int:
        return 2 * number

    def handler(key: Key, number: int) -> Awaitable[int]:
        return compute(number)

    async with Hub() as hub, Subscriber(hub, "s") as subscriber:
        subscriber.add_responder(DOUBLE, handler)
        assert await hub.request(DOUBLE.fill("a"), 21, timeout=10) == 42
        assert hub.statistics().failed == 0


def test_an_instrumented_request_is_a_producer_span_the_handler_runs_in() -> None:
    """hub.request on an instrumented hub records a send span, parent of the handler's spans."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")

    async def handler(key: Key, number: int) -> int:
        with tracer.start_as_current_span("inside the handler"):
            return 2 * number

    async def scenario() -> None:
        async with Hub() as hub, Subscriber(hub, "s") as subscriber:
            subscriber.add_responder(DOUBLE, handler)
            with instrument(hub, tracer_provider=provider):
                assert await hub.request(DOUBLE.fill("a"), 2, timeout=10) == 4
            assert "request" not in vars(hub)

    asyncio.run(scenario())
    spans = {span.name: span for span in exporter.get_finished_spans()}
    send = spans["send double.a"]
    assert send.kind is SpanKind.PRODUCER
    assert (send.attributes or {})["messaging.operation.type"] == "send"
    inside, process = spans["inside the handler"], spans["process double.*"]
    assert process.kind is SpanKind.CONSUMER
    assert inside.parent is not None
    assert process.parent is not None
    assert send.context is not None
    assert process.context is not None
    assert inside.parent.span_id == process.context.span_id
    assert process.parent.span_id == send.context.span_id


async def test_a_request_across_nats_and_its_remote_handler_share_one_trace(
    nats_server: NatsServer,
) -> None:
    """The trace context of a request crosses NATS: the remote handler's span is in its trace."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")

    async def handler(key: Key, number: int) -> int:
        with tracer.start_as_current_span("remote handler"):
            return 2 * number

    async with Hub() as client, Hub() as server, Subscriber(server, "s") as subscriber:
        subscriber.add_responder(DOUBLE, handler)
        with (
            instrument(client, tracer_provider=provider),
            instrument(server, tracer_provider=provider),
        ):
            async with (
                NatsBridge(server, [DOUBLE], servers=nats_server.url),
                NatsBridge(client, [DOUBLE], servers=nats_server.url),
            ):
                assert await client.request(DOUBLE.fill("n"), 4, timeout=10) == 8
    spans = {span.name: span for span in exporter.get_finished_spans()}
    send, remote = spans["send double.n"], spans["remote handler"]
    assert send.context is not None
    assert remote.context is not None
    assert remote.context.trace_id == send.context.trace_id


async def test_request_timeout_bounds_the_wait_for_a_blocked_observer() -> None:
    """A request whose observer's 'block' queue stays full times out instead of hanging."""
    async with Hub() as hub, Subscriber(hub, "s") as subscriber, Subscriber(hub, "o") as observer:
        gate = asyncio.Event()

        async def double(key: Key, number: int) -> int:
            return 2 * number

        async def stuck(key: Key, number: int) -> None:
            await gate.wait()

        subscriber.add_responder(DOUBLE, double)
        observer.add_async_listener(DOUBLE, stuck, max_queue_size=1, overflow="block")
        try:
            assert await hub.request(DOUBLE.fill("a"), 1, timeout=10) == 2  # being processed
            assert await hub.request(DOUBLE.fill("a"), 2, timeout=10) == 4  # queued
            with pytest.raises(
                RequestTimeoutError, match=r"^no reply on key \('double', 'a'\) within 0.1 s$"
            ):
                await asyncio.wait_for(hub.request(DOUBLE.fill("a"), 3, timeout=0.1), timeout=10)
        finally:
            gate.set()
