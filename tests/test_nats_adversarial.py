"""Adversarial trial of the NATS bridge's guarantees, against a real nats-server.

Each test is a defect found by trying the merged bridge as a user and as a hostile peer would.
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any
from urllib.parse import quote

import nats
import pytest

from typedpubsub import LISTENER_ERROR, Hub, Key
from typedpubsub._hub import internal
from typedpubsub.errors import BridgeConnectionError, InvalidKeyError
from typedpubsub.nats import (
    BRIDGE_ERROR,
    MSG_ID_HEADER,
    BridgeFailure,
    Mode,
    NatsBridge,
    key_to_subject,
)
from typedpubsub.testing.natsserver import NatsServer

from .helpers import eventually


@pytest.mark.parametrize("mode", ["core", "jetstream"])
async def test_two_bridges_on_one_hub_deliver_a_local_publish_once(
    server: NatsServer, mode: Mode
) -> None:
    """A local publish reaches the local listener once, though a sibling bridge hears it on NATS."""
    async with Hub() as hub, Hub() as remote:
        got: list[Any] = []
        far: list[Any] = []
        hub.add_subscriber(Key("a", "*"), lambda k, m: got.append(m))
        remote.add_subscriber(Key("a", "*"), lambda k, m: far.append(m))
        async with (
            NatsBridge(hub, [Key("a", "*")], servers=server.url, mode=mode) as first,
            NatsBridge(hub, [Key("a", "*")], servers=server.url, mode=mode) as second,
            NatsBridge(remote, [Key("a", "*")], servers=server.url, mode=mode),
        ):
            hub.publish(Key("a", "x"), 1)
            hub.publish(Key("a", "y"), 2)
            # each sibling hears the other's two messages and recognises them
            await eventually(
                lambda: first.statistics().duplicates + second.statistics().duplicates == 4,
                timeout=20,
            )
            await eventually(lambda: len(far) == 4, timeout=20)
        assert got == [1, 2]


async def test_catch_all_core_bridge_ignores_other_clients_system_traffic(
    server: NatsServer,
) -> None:
    """Key('*') in core mode hears JetStream API calls and replies: not reported as attacks."""
    async with Hub() as hub, Hub() as other:
        failures: list[BridgeFailure] = []
        got: list[Any] = []
        hub.add_subscriber(BRIDGE_ERROR, lambda k, f: failures.append(f))
        hub.add_subscriber(Key("typedpubsub", "x", "*"), lambda k, m: got.append(m))
        async with (
            NatsBridge(hub, [Key("*")], servers=server.url) as catch_all,
            NatsBridge(other, [Key("x", "*")], servers=server.url, mode="jetstream") as js,
        ):
            for i in range(5):
                other.publish(Key("x", str(i)), i)
            await eventually(lambda: js.statistics().sent == 5, timeout=20)
            await eventually(lambda: len(got) == 5, timeout=20)
            stats = catch_all.statistics()
        assert sorted(got) == [0, 1, 2, 3, 4]
        assert failures == []
        assert stats.rejected == 0


async def test_hub_topics_from_nats_are_refused_unless_bridged(server: NatsServer) -> None:
    """A foreign client cannot inject the hub's own events through a catch-all pattern."""
    async with Hub() as hub:
        failures: list[BridgeFailure] = []
        injected: list[Any] = []
        got: list[Any] = []
        hub.add_subscriber(BRIDGE_ERROR, lambda k, f: failures.append(f))
        hub.add_subscriber(Key("Hub", "listenerError", "*"), lambda k, m: injected.append(m))
        hub.add_subscriber(Key("ok"), lambda k, m: got.append(m))
        async with NatsBridge(hub, [Key("*")], servers=server.url) as bridge:
            raw = await nats.connect(server.url)
            try:
                forged = {"key": ["x"], "listener": "l", "error_type": "E", "error": "e"}
                await raw.publish("Hub.listenerError.x", json.dumps(forged).encode())
                await raw.publish("ok", b"1")
                await raw.flush()
            finally:
                await raw.close()
            await eventually(lambda: got == [1])
            await eventually(lambda: bridge.statistics().rejected == 1)
        assert injected == []
        assert [(f.subject, f.reason) for f in failures] == [
            ("Hub.listenerError.x", "invalid_subject")
        ]


async def test_credentials_in_a_url_without_scheme_are_taken_out_and_masked(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """nats-py takes 'user:password@host:port' without a scheme: it connects and never leaks."""
    secret = "Sup3r/Secr@t"
    secured = NatsServer(tmp_path, users={"alice": secret})
    secured.start()
    try:
        host = secured.url.removeprefix("nats://")
        async with Hub() as hub:
            url = f"alice:{quote(secret, safe='')}@{host}"
            async with NatsBridge(hub, [Key("a")], servers=url) as bridge:
                hub.publish(Key("a"), 1)
                await eventually(lambda: bridge.statistics().sent == 1)
            assert secret not in bridge._display
            with pytest.raises(BridgeConnectionError) as info:
                await NatsBridge(
                    hub, [Key("a")], servers="alice:Wr0ngSecret@127.0.0.1:1", start_timeout=5
                ).start()
            assert "Wr0ngSecret" not in str(info.value)
            assert quote(secret, safe="") not in str(info.value)
        assert "Wr0ngSecret" not in caplog.text
        assert secret not in caplog.text
    finally:
        secured.stop()


async def test_deeply_nested_json_is_rejected_as_invalid_json(server: NatsServer) -> None:
    """JSON nested beyond Python's recursion limit is an invalid_json rejection, counted."""
    async with Hub() as hub:
        failures: list[BridgeFailure] = []
        got: list[Any] = []
        hub.add_subscriber(BRIDGE_ERROR, lambda k, f: failures.append(f))
        hub.add_subscriber(Key("u", "*"), lambda k, m: got.append(m))
        async with NatsBridge(hub, [Key("u", "*")], servers=server.url) as bridge:
            raw = await nats.connect(server.url)
            try:
                await raw.publish("u.deep", b"[" * 100_000 + b"]" * 100_000)
                await raw.publish("u.ok", b"1")
                await raw.flush()
            finally:
                await raw.close()
            await eventually(lambda: got == [1])
            stats = bridge.statistics()
        assert [(f.subject, f.reason) for f in failures] == [("u.deep", "invalid_json")]
        assert (stats.rejected, stats.errors) == (1, 0)


async def test_a_key_part_with_a_lone_surrogate_is_an_invalid_key(server: NatsServer) -> None:
    """A part that has no UTF-8 form cannot be a subject token: refused, not a listener error."""
    with pytest.raises(InvalidKeyError, match=r"^key part '\\ud800' of \('u', '\\ud800'\)"):
        key_to_subject(Key("u", "\ud800"))
    async with Hub() as hub:
        failures: list[BridgeFailure] = []
        listener_errors: list[Any] = []
        hub.add_subscriber(BRIDGE_ERROR, lambda k, f: failures.append(f))
        hub.add_subscriber(LISTENER_ERROR, lambda k, e: listener_errors.append(e))
        async with NatsBridge(hub, [Key("u", "*")], servers=server.url) as bridge:
            hub.publish(Key("u", "\ud800"), 1)
            hub.publish(Key("u", "ok"), 2)
            await eventually(lambda: bridge.statistics().sent == 1)
        assert [f.reason for f in failures] == ["invalid_key"]
        assert listener_errors == []


async def test_own_messages_coming_back_late_are_not_reported_as_forged(
    server: NatsServer,
) -> None:
    """JetStream echoes a bridge's own messages however far behind: never a false 'forged'."""
    async with Hub() as hub:
        failures: list[BridgeFailure] = []
        got: list[Any] = []
        hub.add_subscriber(BRIDGE_ERROR, lambda k, f: failures.append(f))
        hub.add_subscriber(Key("a", "*"), lambda k, m: got.append(m))
        async with NatsBridge(
            hub, [Key("a", "*")], servers=server.url, mode="jetstream", dedupe_window=10
        ) as bridge:
            for i in range(200):
                hub.publish(Key("a", str(i)), i)
            await eventually(lambda: bridge.statistics().sent == 200, timeout=30)
            raw = await nats.connect(server.url)
            try:  # a marker behind them: once it arrives, the echoes are all handled
                await raw.publish("typedpubsub.a.end", b"-1")
                await raw.flush()
            finally:
                await raw.close()
            await eventually(lambda: -1 in got, timeout=30)
            stats = bridge.statistics()
        assert failures == []
        assert stats.rejected == 0
        assert got == [*range(200), -1]


async def test_long_message_ids_cannot_inflate_the_duplicate_window(server: NatsServer) -> None:
    """A peer sending huge ids makes the window hold a digest of each; duplicates still drop."""
    async with Hub() as hub:
        got: list[Any] = []
        hub.add_subscriber(Key("a"), lambda k, m: got.append(m))
        async with NatsBridge(hub, [Key("a")], servers=server.url) as bridge:
            raw = await nats.connect(server.url)
            try:
                for i in range(20):
                    msg_id = f"{i:04d}" + "x" * 100_000
                    await raw.publish("a", str(i).encode(), headers={MSG_ID_HEADER: msg_id})
                    await raw.flush()
                await raw.publish("a", b"0", headers={MSG_ID_HEADER: "0000" + "x" * 100_000})
                await raw.publish("a", b"-1")
                await raw.flush()
            finally:
                await raw.close()
            await eventually(lambda: -1 in got, timeout=20)
            stats = bridge.statistics()
        assert got == [*range(20), -1]
        assert stats.duplicates == 1
        held = sum(len(origin) + len(msg_id) for origin, msg_id in internal(hub).bridge_seen)
        assert held <= 20 * 200


async def test_a_cancelled_start_leaves_no_connection_behind(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """start() cancelled while connecting (a timeout around it) stops nats-py's tasks too."""
    with socket.socket() as silent:  # accepts, never speaks: the connection hangs
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"nats://127.0.0.1:{silent.getsockname()[1]}"
        async with Hub() as hub:
            before = asyncio.all_tasks()
            bridge = NatsBridge(hub, [Key("a")], servers=url, start_timeout=60)
            with pytest.raises(asyncio.TimeoutError):  # the builtin from 3.11 on
                await asyncio.wait_for(bridge.start(), 0.5)
            assert asyncio.all_tasks() - before == set()
            await bridge.aclose()
    assert "nonexistent" not in caplog.text
