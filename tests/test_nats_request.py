"""Request/reply across NATS, against a real nats-server: processes, errors, hostile replies."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, cast

import nats
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nats.aio.msg import Msg

from typedpubsub import (
    ClosedError,
    Hub,
    Key,
    NoResponderError,
    PayloadValidationError,
    RequestTimeoutError,
    RequestTopic,
    ResponderError,
    Subscriber,
)
from typedpubsub._bridge.requests import RequestBridge
from typedpubsub.nats import (
    BRIDGE_ERROR,
    BridgeFailure,
    NatsBridge,
    key_to_subject,
    pattern_to_subject,
)
from typedpubsub.testing.natsserver import NatsServer

from .conftest import ROOT
from .helpers import eventually
from .nats_request_peer import ADD, Add, Sum


@contextlib.asynccontextmanager
async def peer(server: NatsServer, name: str, tmp_path: Path) -> AsyncIterator[None]:
    """A responder process (tests/nats_request_peer.py), stopped by closing its stdin."""
    errors = tmp_path / f"{name}.err"
    with errors.open("w") as stderr:
        process = subprocess.Popen(  # noqa: ASYNC220 - started once; its pid is what we need
            [sys.executable, "-m", "tests.nats_request_peer", server.url, name],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    loop = asyncio.get_running_loop()
    try:
        assert process.stdout is not None
        assert process.stdin is not None
        ready = await asyncio.wait_for(loop.run_in_executor(None, process.stdout.readline), 60)
        assert ready.strip() == "ready", errors.read_text()
        yield
        process.stdin.close()
        assert await loop.run_in_executor(None, process.wait, 30) == 0, errors.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pipe in (process.stdin, process.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()


async def local_add(key: Key, request: Add) -> Sum:
    return Sum(request.a + request.b, "local")


async def test_requests_between_two_processes(server: NatsServer, tmp_path: Path) -> None:
    """A request with no local responder is answered, typed, by a hub in another process."""
    async with peer(server, "remote", tmp_path), Hub() as hub:
        async with NatsBridge(hub, [ADD], servers=server.url) as bridge:
            replies = await asyncio.gather(
                *(hub.request(ADD.fill(f"s{i}"), Add(i, 1), timeout=10) for i in range(20))
            )
            assert replies == [Sum(i + 1, "remote") for i in range(20)]
            assert bridge.statistics().requests_sent == 20
            # A local responder, once there, answers instead.
            async with Subscriber(hub, "local") as subscriber:
                subscriber.add_responder(ADD, local_add)
                assert await hub.request(ADD.fill("x"), Add(1, 1), timeout=10) == Sum(2, "local")


async def test_errors_cross_as_the_same_exceptions(server: NatsServer, tmp_path: Path) -> None:
    """A remote responder's exception, timeout and absence raise what they raise locally."""
    async with peer(server, "remote", tmp_path), Hub() as hub:
        async with NatsBridge(hub, [ADD], servers=server.url):
            with pytest.raises(
                ResponderError,
                match=r"^responder across NATS on key \('calc', 's', 'add'\) raised ValueError: "
                r"a must be >= 0, got -1$",
            ) as e:
                await hub.request(ADD.fill("s"), Add(-1, 1), timeout=10)
            assert (e.value.error_type, e.value.error_message) == (
                "ValueError",
                "a must be >= 0, got -1",
            )
            with pytest.raises(
                RequestTimeoutError, match=r"^no reply on key \('calc', 's', 'add'\) within 0.3 s$"
            ):
                await hub.request(ADD.fill("s"), Add(999, 1), timeout=0.3)
            other = RequestTopic(("calc", "*", "mul"), Add, Sum)
    async with Hub() as hub, NatsBridge(hub, [ADD, other], servers=server.url):
        with pytest.raises(
            NoResponderError,
            match=r"^no responder for key \('calc', 's', 'add'\), here or across NATS$",
        ):
            await hub.request(ADD.fill("s"), Add(1, 1), timeout=10)


async def test_queue_group_spreads_requests(server: NatsServer) -> None:
    """Two responders in one queue group each answer some of the requests, each request once."""
    async with Hub() as client, Hub() as one, Hub() as two:
        counts = {"one": 0, "two": 0}
        for name, hub in (("one", one), ("two", two)):

            def make(name: str) -> Any:
                async def respond(key: Key, request: Add) -> Sum:
                    counts[name] += 1
                    return Sum(request.a + request.b, name)

                return respond

            Subscriber(hub, name).add_responder(ADD, make(name))
        async with (
            NatsBridge(one, [ADD], servers=server.url, queue_group="adders"),
            NatsBridge(two, [ADD], servers=server.url, queue_group="adders"),
            NatsBridge(client, [ADD], servers=server.url),
        ):
            replies = [
                await client.request(ADD.fill("q"), Add(i, 0), timeout=10) for i in range(60)
            ]
        assert [r.total for r in replies] == list(range(60))
        assert counts["one"] > 0
        assert counts["two"] > 0
        assert counts["one"] + counts["two"] == 60


async def test_responders_added_later_are_served(server: NatsServer) -> None:
    """A bridge subscribes a request subject while a local responder covers it, and only then."""
    async with Hub() as client, Hub() as service:
        async with (
            NatsBridge(service, [ADD], servers=server.url),
            NatsBridge(client, [ADD], servers=server.url),
        ):
            with pytest.raises(NoResponderError):
                await client.request(ADD.fill("a"), Add(1, 1), timeout=10)
            subscriber = Subscriber(service, "late")
            subscriber.add_responder(RequestTopic(("calc", "a", "add"), Add, Sum), local_add)

            async def answered() -> Sum | None:
                try:
                    return await client.request(ADD.fill("a"), Add(1, 1), timeout=10)
                except NoResponderError:
                    return None

            async def poll() -> Sum:
                # Polling on purpose: only a request tells whether the subject is served.
                while (reply := await answered()) is None:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
                return reply

            assert await asyncio.wait_for(poll(), 10) == Sum(2, "local")
            with pytest.raises(NoResponderError):  # only the responder's own key is served
                await client.request(ADD.fill("b"), Add(1, 1), timeout=10)
            subscriber.remove_responder(RequestTopic(("calc", "a", "add"), Add, Sum), local_add)

            async def gone() -> None:
                while await answered() is not None:  # noqa: ASYNC110 - as above
                    await asyncio.sleep(0.01)

            await asyncio.wait_for(gone(), 10)
            await subscriber.aclose()


async def test_jetstream_bridge_sends_requests_over_core_nats(server: NatsServer) -> None:
    """In JetStream mode requests bypass the stream (which would store and acknowledge them)."""
    async with Hub() as client, Hub() as service:
        Subscriber(service, "s").add_responder(ADD, local_add)
        async with (
            NatsBridge(service, [ADD], servers=server.url, mode="jetstream"),
            NatsBridge(client, [ADD], servers=server.url, mode="jetstream"),
        ):
            assert await client.request(ADD.fill("j"), Add(2, 3), timeout=10) == Sum(5, "local")


# -- hostile peers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "headers", "error", "pattern"),
    [
        (
            b"x" * 2000,
            None,
            PayloadValidationError,
            r"^reply on key \('calc', 'h', 'add'\) is 2000 bytes, more than 1000$",
        ),
        (
            b"{not json",
            None,
            PayloadValidationError,
            r"^reply on key \('calc', 'h', 'add'\) does not validate as Sum",
        ),
        (
            b'{"total": "x"}',
            None,
            PayloadValidationError,
            r"^reply on key .* does not validate as Sum \(topic 'add'\), 2 errors: total: ",
        ),
        (
            b"",
            {"Typedpubsub-Error": "pwned"},
            PayloadValidationError,
            r"^reply on key .* carries an unknown Typedpubsub-Error 'pwned'$",
        ),
        (
            b"m",
            {"Typedpubsub-Error": "responder", "Typedpubsub-Error-Type": "os.system('rm -rf /')"},
            PayloadValidationError,
            r"^reply on key .* carries a malformed Typedpubsub-Error-Type ",
        ),
        (
            b"m",
            {"Typedpubsub-Error": "responder"},
            PayloadValidationError,
            r"^reply on key .* carries a malformed Typedpubsub-Error-Type ''$",
        ),
        (
            "é".encode() * 400,
            {"Typedpubsub-Error": "responder", "Typedpubsub-Error-Type": "KeyError"},
            ResponderError,
            r"^responder across NATS on key .* raised KeyError: é+$",
        ),
        (
            b"\xff\xfe",
            {"Typedpubsub-Error": "responder", "Typedpubsub-Error-Type": "X"},
            ResponderError,
            r"raised X: \ufffd\ufffd$",
        ),
        (
            b"",
            {"Typedpubsub-Error": "no_responder"},
            NoResponderError,
            r"^no responder for key .*: the process that took the request has none any more$",
        ),
        (
            b"late",
            {"Typedpubsub-Error": "timeout"},
            RequestTimeoutError,
            r"^no reply on key .*: the responder across NATS timed out \(late\)$",
        ),
    ],
)
async def test_hostile_replies_give_clear_errors(
    server: NatsServer,
    data: bytes,
    headers: dict[str, str] | None,
    error: type[Exception],
    pattern: str,
) -> None:
    """Oversized, malformed or forged replies raise a clear error, never a crash or a hang."""
    nc = await nats.connect(server.url)
    try:

        async def reply(msg: Msg) -> None:
            await nc.publish(msg.reply, data, headers=headers)

        await nc.subscribe("calc.h.add", cb=reply)
        await nc.flush()
        async with Hub() as hub, NatsBridge(hub, [ADD], servers=server.url, max_reply_bytes=1000):
            with pytest.raises(error, match=pattern):
                await hub.request(ADD.fill("h"), Add(1, 2), timeout=10)
    finally:
        await nc.close()


async def test_hostile_requests_are_answered_or_rejected(server: NatsServer) -> None:
    """Foreign clients get plain JSON replies; bad requests get an error reply and a report."""
    async with Hub() as hub:
        subscriber = Subscriber(hub, "s")
        subscriber.add_responder(ADD, local_add)
        failures: list[BridgeFailure] = []
        subscriber.add_sync_listener(BRIDGE_ERROR, lambda k, f: failures.append(f))
        async with NatsBridge(hub, [ADD], servers=server.url) as bridge:
            nc = await nats.connect(server.url)
            try:
                msg = await nc.request("calc.f.add", b'{"a": 1, "b": 2}', timeout=10)
                assert msg.data == b'{"total":3,"by":"local"}'
                assert not msg.headers
                msg = await nc.request("calc.f.add", b"[1, 2", timeout=10)
                assert msg.headers is not None
                assert msg.headers["Typedpubsub-Error"] == "responder"
                assert msg.headers["Typedpubsub-Error-Type"] == "PayloadValidationError"
                msg = await nc.request(
                    "calc.f.add",
                    b'{"a": 1, "b": 2}',
                    timeout=10,
                    headers={"Typedpubsub-Timeout": "nan"},
                )
                assert msg.data == b'{"total":3,"by":"local"}'
                await nc.publish("calc.f.add", b'{"a": 1, "b": 2}')  # no reply subject
                await nc.flush()
                await eventually(lambda: bridge.statistics().requests_served == 2)
                await eventually(lambda: [f.reason for f in failures] == ["invalid_request"] * 2)
            finally:
                await nc.close()
        await subscriber.aclose()


async def test_closing_fails_requests_waiting_across_nats(server: NatsServer) -> None:
    """A request waiting for a remote reply fails with ClosedError when its bridge or hub closes."""
    nc = await nats.connect(server.url)
    try:

        async def never_reply(msg: Msg) -> None:
            pass

        await nc.subscribe("calc.*.add", cb=never_reply)
        await nc.flush()
        for closing in ("bridge", "hub"):
            hub = Hub()
            bridge = NatsBridge(hub, [ADD], servers=server.url)
            await bridge.start()
            task = asyncio.ensure_future(hub.request(ADD.fill("c"), Add(1, 1), timeout=None))
            await eventually(functools.partial(_asking, bridge))
            await asyncio.wait_for(bridge.aclose() if closing == "bridge" else hub.aclose(), 10)
            with pytest.raises(ClosedError, match=r"closed while the request"):
                await asyncio.wait_for(task, 10)
            await bridge.aclose()
            await hub.aclose()
    finally:
        await nc.close()


def _asking(bridge: NatsBridge) -> bool:
    """Whether the bridge has a request on its way (white-box: no event announces it)."""
    return bool(bridge._requests._asking)


_HEADER_NAMES = st.sampled_from(
    ["Typedpubsub-Error", "Typedpubsub-Error-Type", "Typedpubsub-Timeout", "Status", "X"]
)
_HEADER_VALUES = st.one_of(
    st.sampled_from(["responder", "no_responder", "timeout", "ValueError", "503", ""]),
    st.text(max_size=300),
)


@settings(max_examples=300, deadline=None)
@given(
    data=st.one_of(st.binary(max_size=3000), st.sampled_from([b'{"total": 1, "by": "x"}'])),
    headers=st.one_of(st.none(), st.dictionaries(_HEADER_NAMES, _HEADER_VALUES, max_size=3)),
)
def test_any_reply_is_a_sum_or_a_documented_error(
    data: bytes, headers: dict[str, str] | None
) -> None:
    """Whatever bytes and headers a reply holds, it is a valid Sum or one documented error."""
    requests = RequestBridge(
        cast(Any, None), [ADD], key_to_subject, pattern_to_subject, (), None, "test", _ignore, 1000
    )
    reply = Msg(cast(Any, None), "calc.h.add", "", data, headers)
    key = Key("calc", "h", "add")
    message = ""
    try:
        result = requests._reply(ADD, key, reply)
    except (PayloadValidationError, ResponderError, NoResponderError, RequestTimeoutError) as exc:
        message = str(exc)
    else:
        assert isinstance(result, Sum)
        return
    assert message.startswith(("reply on key ", "responder across NATS", "no r"))
    assert len(message) < 6000


def _ignore(key: Sequence[str], subject: str, reason: str, error: str) -> None:
    """A bridge report sink for unit tests of the request half."""
