"""Request/reply in one process: RequestTopic, responders, hub.request and its errors."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import pickle
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from typedpubsub import (
    LISTENER_ERROR,
    ClosedError,
    Hub,
    Key,
    ListenerFailure,
    ListenerNotFoundError,
    NoResponderError,
    PayloadValidationError,
    Publisher,
    RequestTimeoutError,
    RequestTopic,
    ResponderError,
    Subscriber,
    Topic,
)

from .helpers import Recorder, eventually


@dataclasses.dataclass
class Add:
    a: int
    b: int


@dataclasses.dataclass
class Sum:
    total: int


ADD = RequestTopic(("rpc", "*", "add"), Add, Sum, name="add", parameters=["shard"])
CONCRETE = ADD.fill("s1")


async def add(key: Key, request: Add) -> Sum:
    return Sum(request.a + request.b)


async def test_round_trip_is_typed_and_validated(hub: Hub, subscriber: Subscriber) -> None:
    """A request reaches the responder as its request type and returns the reply type."""
    subscriber.add_responder(ADD, add)
    assert await hub.request(CONCRETE, Add(1, 2), timeout=5) == Sum(3)
    # A dict is validated (and coerced) into the request type before it leaves.
    coercible: Any = {"a": 1, "b": "4"}
    assert await hub.request(CONCRETE, coercible, timeout=5) == Sum(5)


async def test_invalid_request_never_leaves(hub: Hub, subscriber: Subscriber) -> None:
    """An invalid request raises PayloadValidationError and no responder runs."""
    calls: list[Add] = []

    async def responder(key: Key, request: Add) -> Sum:
        calls.append(request)
        return Sum(0)

    subscriber.add_responder(ADD, responder)
    with pytest.raises(PayloadValidationError, match=r"^payload on key \('rpc', 's1', 'add'\)"):
        await hub.request(CONCRETE, {"a": "x"}, timeout=5)  # type: ignore[misc]  # pyright: ignore[reportArgumentType]  # invalid on purpose
    assert calls == []


async def test_reply_is_validated(hub: Hub, subscriber: Subscriber) -> None:
    """A reply that is not a Resp is the responder's failure: reported, and a ResponderError."""
    failures: list[ListenerFailure] = []
    subscriber.add_sync_listener(LISTENER_ERROR, lambda k, f: failures.append(f))

    async def wrong(key: Key, request: Add) -> Any:
        return "not a sum"

    subscriber.add_responder(ADD, wrong)
    with pytest.raises(
        ResponderError, match=r"^responder .*wrong.* raised PayloadValidationError: "
    ):
        await hub.request(CONCRETE, Add(1, 2), timeout=5)
    assert [f.error_type for f in failures] == ["PayloadValidationError"]
    assert hub.statistics().failed == 1


async def test_requester_converts_reply_to_its_own_type(hub: Hub, subscriber: Subscriber) -> None:
    """A requester whose topic has another reply type gets the reply validated as that type."""

    @dataclasses.dataclass
    class Total:
        total: float

    subscriber.add_responder(ADD, add)
    other = RequestTopic(("rpc", "s1", "add"), Add, Total)
    assert await hub.request(other, Add(1, 2), timeout=5) == Total(3.0)
    strict = RequestTopic(("rpc", "s1", "add"), Add, int)
    with pytest.raises(PayloadValidationError, match=r"^reply on key \('rpc', 's1', 'add'\) "):
        await hub.request(strict, Add(1, 2), timeout=5)


async def test_responder_error_carries_type_name_and_message(
    hub: Hub, subscriber: Subscriber, caplog: pytest.LogCaptureFixture
) -> None:
    """A raising responder: the requester gets ResponderError (strings only), the hub reports it."""
    failures: list[ListenerFailure] = []
    subscriber.add_sync_listener(LISTENER_ERROR, lambda k, f: failures.append(f))

    class Secret(Exception):
        pass

    async def boom(key: Key, request: Add) -> Sum:
        raise Secret("no luck")

    subscriber.add_responder(ADD, boom)
    with caplog.at_level(logging.ERROR, "typedpubsub"):
        with pytest.raises(
            ResponderError, match=r"^responder .*boom.* raised Secret: no luck$"
        ) as e:
            await hub.request(CONCRETE, Add(1, 2), timeout=5)
    assert (e.value.error_type, e.value.error_message) == ("Secret", "no luck")
    assert e.value.key == ("rpc", "s1", "add")
    assert e.value.__cause__ is None
    assert e.value.__suppress_context__
    assert [(f.error_type, f.error) for f in failures] == [("Secret", "no luck")]
    assert hub.statistics().failed == 1
    assert "failed on key ('rpc', 's1', 'add')" in caplog.text


async def test_sync_responder(hub: Hub, subscriber: Subscriber) -> None:
    """A plain function answers inside request; what it raises is a ResponderError too."""

    def double(key: Key, request: Add) -> Sum:
        if request.a < 0:
            raise ValueError(f"a must be >= 0, got {request.a}")
        return Sum(2 * (request.a + request.b))

    subscriber.add_responder(ADD, double)
    assert await hub.request(CONCRETE, Add(1, 2), timeout=5) == Sum(6)
    with pytest.raises(ResponderError, match=r"raised ValueError: a must be >= 0, got -1$"):
        await hub.request(CONCRETE, Add(-1, 2), timeout=5)


async def test_sync_responder_returning_a_coroutine_is_awaited(
    hub: Hub, subscriber: Subscriber
) -> None:
    """A plain function that returns a coroutine (as both checkers allow) is awaited, in a task."""

    def sneaky(key: Key, request: Add) -> Any:
        return add(key, request)

    subscriber.add_responder(ADD, sneaky)
    assert await hub.request(CONCRETE, Add(1, 2), timeout=5) == await add(CONCRETE, Add(1, 2))


async def test_first_registered_responder_answers(hub: Hub, subscriber: Subscriber) -> None:
    """Of several matching responders the first registered answers; removing it hands over."""

    async def first(key: Key, request: Add) -> Sum:
        return Sum(1)

    async def second(key: Key, request: Add) -> Sum:
        return Sum(2)

    subscriber.add_responder(RequestTopic(("rpc", "*"), Add, Sum), first)
    subscriber.add_responder(ADD, second)
    assert await hub.request(CONCRETE, Add(0, 0), timeout=5) == Sum(1)
    subscriber.remove_responder(RequestTopic(("rpc", "*"), Add, Sum), first)
    assert await hub.request(CONCRETE, Add(0, 0), timeout=5) == Sum(2)
    with pytest.raises(
        ListenerNotFoundError, match=r"^no responder .*first.* on key \('rpc', '\*'\)"
    ):
        subscriber.remove_responder(RequestTopic(("rpc", "*"), Add, Sum), first)


async def test_same_responder_twice_is_ignored(
    hub: Hub, subscriber: Subscriber, caplog: pytest.LogCaptureFixture
) -> None:
    """Adding a responder twice on one pattern is logged and ignored."""
    subscriber.add_responder(ADD, add)
    with caplog.at_level(logging.WARNING, "typedpubsub"):
        subscriber.add_responder(ADD, add)
    assert "is already on key" in caplog.text
    subscriber.remove_responder(ADD, add)
    with pytest.raises(NoResponderError):
        await hub.request(CONCRETE, Add(1, 2), timeout=5)


async def test_listeners_observe_requests(hub: Hub, subscriber: Subscriber) -> None:
    """Listeners subscribed to the key receive each request as a message, without answering."""
    sync, async_ = Recorder(), Recorder()
    subscriber.add_sync_listener(Key("rpc", "*", "add"), sync.sync)
    subscriber.add_async_listener(ADD, async_.async_)
    subscriber.add_responder(ADD, add)
    as_dict: Any = {"a": 1, "b": 2}
    await hub.request(CONCRETE, as_dict, timeout=5)
    assert sync.received == [(CONCRETE, Add(1, 2))]
    await async_.wait_for(1)
    assert async_.received == [(CONCRETE, Add(1, 2))]


async def test_no_responder(hub: Hub, subscriber: Subscriber) -> None:
    """No matching responder: NoResponderError (a LookupError) naming the key."""
    subscriber.add_responder(RequestTopic(("other",), Add, Sum), add)
    with pytest.raises(NoResponderError, match=r"^no responder for key \('rpc', 's1', 'add'\)$"):
        await hub.request(CONCRETE, Add(1, 2), timeout=5)
    assert issubclass(NoResponderError, LookupError)


async def test_timeout_cancels_the_handler(hub: Hub, subscriber: Subscriber) -> None:
    """After timeout the request raises RequestTimeoutError (a TimeoutError) and the handler is cancelled."""
    cancelled = asyncio.Event()

    async def slow(key: Key, request: Add) -> Sum:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return Sum(0)  # pragma: no cover

    subscriber.add_responder(ADD, slow)
    with pytest.raises(
        RequestTimeoutError, match=r"^no reply on key \('rpc', 's1', 'add'\) within 0.01 s$"
    ) as e:
        await hub.request(CONCRETE, Add(1, 2), timeout=0.01)
    caught: BaseException = e.value
    assert isinstance(caught, TimeoutError)
    assert isinstance(caught, asyncio.TimeoutError)
    assert e.value.timeout == 0.01
    await asyncio.wait_for(cancelled.wait(), 5)


def test_request_timeout_error_is_builtin_and_asyncio_timeout() -> None:
    """RequestTimeoutError is caught as the builtin TimeoutError and as asyncio's (3.10 too)."""
    assert issubclass(RequestTimeoutError, TimeoutError)
    assert issubclass(RequestTimeoutError, asyncio.TimeoutError)
    assert sys.version_info >= (3, 10)


async def test_cancelled_requester_cancels_handler(hub: Hub, subscriber: Subscriber) -> None:
    """Cancelling the requesting task cancels the handler's task."""
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def slow(key: Key, request: Add) -> Sum:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return Sum(0)  # pragma: no cover

    subscriber.add_responder(ADD, slow)
    task = asyncio.ensure_future(hub.request(CONCRETE, Add(1, 2), timeout=None))
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    await asyncio.wait_for(cancelled.wait(), 5)


async def test_hub_close_fails_pending_requests() -> None:
    """Closing the hub fails requests in flight with ClosedError; later ones are refused."""
    hub = Hub()
    subscriber = Subscriber(hub, "s")
    started = asyncio.Event()

    async def slow(key: Key, request: Add) -> Sum:
        started.set()
        await asyncio.sleep(60)
        return Sum(0)  # pragma: no cover

    subscriber.add_responder(ADD, slow)
    task = asyncio.ensure_future(hub.request(CONCRETE, Add(1, 2), timeout=30))
    await asyncio.wait_for(started.wait(), 5)
    await asyncio.wait_for(hub.aclose(), 5)
    with pytest.raises(ClosedError, match=r"^hub closed while the request on"):
        await asyncio.wait_for(task, 5)
    with pytest.raises(ClosedError, match=r"^hub is closed"):
        await hub.request(CONCRETE, Add(1, 2))
    with pytest.raises(ClosedError):
        subscriber.add_responder(ADD, add)


async def test_subscriber_close_removes_its_responders(hub: Hub) -> None:
    """A closed subscriber's responders answer no more."""
    subscriber = Subscriber(hub, "s")
    subscriber.add_responder(ADD, add)
    await subscriber.aclose()
    with pytest.raises(NoResponderError):
        await hub.request(CONCRETE, Add(1, 2), timeout=5)


async def test_publisher_request_prefixes_the_key(hub: Hub, subscriber: Subscriber) -> None:
    """Publisher.request sends on prefix + topic, keeping both types."""
    subscriber.add_responder(ADD, add)
    publisher = Publisher(hub, Key("rpc"))
    assert await publisher.request(
        RequestTopic(("s1", "add"), Add, Sum), Add(2, 2), timeout=5
    ) == Sum(4)


async def test_registration_checks_types(hub: Hub, subscriber: Subscriber) -> None:
    """A handler annotated with the wrong request or reply type is a TypeError at registration."""

    async def wrong_request(key: Key, request: str) -> Sum:  # pragma: no cover
        return Sum(0)

    async def wrong_reply(key: Key, request: Add) -> str:  # pragma: no cover
        return ""

    def wrong_sync_reply(key: Key, request: Add) -> int:  # pragma: no cover
        return 0

    with pytest.raises(
        TypeError, match=r"^callback .*wrong_request takes request: str, but topic "
    ):
        subscriber.add_responder(ADD, wrong_request)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]  # wrong on purpose
    with pytest.raises(
        TypeError, match=r"^callback .*wrong_reply returns str, but topic .* replies with Sum"
    ):
        subscriber.add_responder(ADD, wrong_reply)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]  # wrong on purpose
    with pytest.raises(TypeError, match=r"^callback .*wrong_sync_reply returns int, but topic "):
        subscriber.add_responder(ADD, wrong_sync_reply)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]  # wrong on purpose
    with pytest.raises(TypeError, match=r"^topic must be a RequestTopic, got "):
        subscriber.add_responder(Topic(("rpc",), Add), add)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]  # wrong on purpose
    with pytest.raises(TypeError, match=r"^handler must be callable, got 3 \(int\)$"):
        subscriber.add_responder(ADD, 3)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]  # wrong on purpose


async def test_request_argument_errors(hub: Hub) -> None:
    """request refuses a plain topic, a wildcard key and a bad timeout, naming the parameter."""
    with pytest.raises(TypeError, match=r"^topic must be a RequestTopic, got "):
        await hub.request(Topic(("a",), int), 1)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]  # wrong on purpose
    with pytest.raises(ValueError, match=r"^topic must not contain the wildcard"):
        await hub.request(ADD, Add(1, 2))
    with pytest.raises(TypeError, match=r"^timeout must be a number or None, got '1' \(str\)"):
        await hub.request(CONCRETE, Add(1, 2), timeout="1")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]  # wrong on purpose
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"^timeout must be > 0 and finite, got "):
            await hub.request(CONCRETE, Add(1, 2), timeout=bad)


def test_request_topic_keys_keep_both_types() -> None:
    """fill, prefixes, suffixes and pickling keep the request and reply types."""
    for topic in (CONCRETE, Key("p") + ADD, ADD + Key("x"), pickle.loads(pickle.dumps(ADD))):
        assert isinstance(topic, RequestTopic)
        assert (topic.payload_type, topic.response_type) == (Add, Sum)
    assert ADD.fill(shard="s2") == ("rpc", "s2", "add")
    assert pickle.loads(pickle.dumps(ADD)).parameters == ("shard",)
    assert repr(ADD) == "RequestTopic(('rpc', '*', 'add'), Add, Sum, name='add')"
    assert tuple(ADD) == ("rpc", "*", "add")
    assert ADD.validate_response({"total": "3"}) == Sum(3)
    with pytest.raises(
        PayloadValidationError,
        match=r"^reply on key \('rpc', '\*', 'add'\) does not validate as Sum",
    ):
        ADD.validate_response("x")


# -- property: interleavings of requests and responder changes ----------------------------

_PATTERNS = [("k", "*"), ("k", "a"), ("*", "a"), ("k", "*", "*")]
_KEYS = [("k", "a"), ("k", "b"), ("x", "a"), ("k", "a", "c")]

_op = st.one_of(
    st.tuples(st.just("add"), st.sampled_from(range(len(_PATTERNS))), st.integers(0, 2)),
    st.tuples(st.just("remove"), st.sampled_from(range(len(_PATTERNS))), st.integers(0, 2)),
    st.tuples(st.just("request"), st.sampled_from(range(len(_KEYS))), st.integers(0, 3)),
    st.tuples(st.just("step"), st.just(0), st.just(0)),
)


def _matches(key: tuple[str, ...], pattern: tuple[str, ...]) -> bool:
    return Key(*key).is_subset_of(pattern)


@settings(max_examples=80, deadline=None)
@given(st.lists(_op, max_size=30))
def test_interleavings_give_the_right_reply_or_no_responder(
    ops: list[tuple[str, int, int]],
) -> None:
    """Any interleaving: each request gets the reply of the first registered matching responder
    at the time it was sent (even if that responder is removed meanwhile), else NoResponderError."""

    async def run() -> None:
        async with Hub() as hub:
            subscriber = Subscriber(hub, "p")
            handlers: dict[tuple[int, int], Any] = {}

            def handler_for(pattern: int, ident: int, delay: int = 0) -> Any:
                async def respond(key: Key, request: int) -> str:
                    for _ in range(request):  # stay in flight across later operations
                        await asyncio.sleep(0)
                    return f"{pattern}/{ident}:{request}"

                return handlers.setdefault((pattern, ident), respond)

            model: list[tuple[int, int]] = []  # registered responders, in order
            pending: list[tuple[asyncio.Task[str], str | None]] = []
            for op, index, value in ops:
                if op == "add":
                    topic = RequestTopic(_PATTERNS[index], int, str)
                    subscriber.add_responder(topic, handler_for(index, value))
                    if (index, value) not in model:
                        model.append((index, value))
                elif op == "remove":
                    topic = RequestTopic(_PATTERNS[index], int, str)
                    if (index, value) in model:
                        subscriber.remove_responder(topic, handler_for(index, value))
                        model.remove((index, value))
                    else:
                        with pytest.raises(ListenerNotFoundError):
                            subscriber.remove_responder(topic, handler_for(index, value))
                elif op == "request":
                    key = _KEYS[index]
                    matching = [r for r in model if _matches(key, _PATTERNS[r[0]])]
                    # Handlers are keyed by (pattern, ident): one function per pair.
                    expected = f"{matching[0][0]}/{matching[0][1]}:{value}" if matching else None
                    task = asyncio.ensure_future(
                        hub.request(RequestTopic(key, int, str), value, timeout=30)
                    )
                    await asyncio.sleep(0)  # the request picks its responder now
                    pending.append((task, expected))
                else:
                    await asyncio.sleep(0)
            for task, expected in pending:
                if expected is None:
                    with pytest.raises(NoResponderError):
                        await asyncio.wait_for(task, 30)
                else:
                    assert await asyncio.wait_for(task, 30) == expected

    asyncio.run(run())


async def test_statistics_count_responder_failures_per_hub(
    hub: Hub, subscriber: Subscriber
) -> None:
    """A responder's failures count in the hub's failed counter, one per failed request."""

    async def boom(key: Key, request: Add) -> Sum:
        raise RuntimeError("x")

    subscriber.add_responder(ADD, boom)
    for _ in range(3):
        with pytest.raises(ResponderError):
            await hub.request(CONCRETE, Add(1, 2), timeout=5)
    await eventually(lambda: hub.statistics().failed == 3)
