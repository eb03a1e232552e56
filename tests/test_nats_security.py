"""NATS bridge security, against a real nats-server: ids, origins, credentials, subjects, TLS."""

from __future__ import annotations

import asyncio
import json
import os
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import quote

import nats
import nkeys
import pytest
import trustme
from hypothesis import given, settings
from hypothesis import strategies as st
from nats.aio.msg import Msg

from typedpubsub import Hub, Key
from typedpubsub.errors import BridgeConnectionError, InvalidKeyError
from typedpubsub.nats import (
    BRIDGE_ERROR,
    MSG_ID_HEADER,
    ORIGIN_HEADER,
    BridgeFailure,
    NatsBridge,
    key_to_subject,
    pattern_to_subject,
)
from typedpubsub.testing.natsserver import NatsServer

from .helpers import eventually
from .nats_topics import TRADES, Trade, trade


def body(i: int) -> bytes:
    return json.dumps({"trade_id": i, "quantity": 1, "price": "1"}).encode()


async def test_a_third_party_cannot_suppress_genuine_messages(server: NatsServer) -> None:
    """A client that saw a bridge's headers cannot pre-empt its next ids: all 50 arrive."""
    async with Hub() as sender, Hub() as receiver:
        got: list[int] = []
        receiver.add_subscriber(TRADES, lambda k, m: got.append(m.trade_id))
        seen: list[Msg] = []
        spy = await nats.connect(server.url)
        try:

            async def on_msg(msg: Msg) -> None:
                seen.append(msg)

            await spy.subscribe("*.trade.>", cb=on_msg)
            await spy.flush()
            async with (
                NatsBridge(sender, [TRADES], servers=server.url) as out,
                NatsBridge(receiver, [TRADES], servers=server.url) as into,
            ):
                sender.publish(TRADES.fill("A", "B"), trade(0))
                await eventually(lambda: len(seen) == 1 and got == [0])
                assert seen[0].headers is not None
                origin = out.id  # the worst case: the attacker knows the bridge's id
                used = seen[0].headers[MSG_ID_HEADER]
                assert len(used) >= 24
                assert origin not in used
                # the attacker forges what it can: guesses derived from what it saw, and a replay
                guesses = [f"{origin}-{n}" for n in range(1, 60)] + [f"{used}x", used]
                for guess in guesses:
                    headers = {ORIGIN_HEADER: origin, MSG_ID_HEADER: guess}
                    await spy.publish("A.trade.B", body(999), headers=headers)
                await spy.publish("A.trade.B", seen[0].data, headers=dict(seen[0].headers))
                await spy.flush()
                await eventually(lambda: len(got) == 1 + len(guesses))  # the exact replay dropped
                for i in range(1, 51):
                    sender.publish(TRADES.fill("A", "B"), trade(i))
                await eventually(lambda: sum(1 for t in got if t != 999) == 51)
                assert into.statistics().duplicates == 1
        finally:
            await spy.close()
        assert [t for t in got if t != 999] == list(range(51))
        ids = [m.headers[MSG_ID_HEADER] for m in seen if m.headers and b"999" not in m.data]
        assert len(ids) == 52  # 51 sent, and the attacker's replay of the first one
        assert len(set(ids)) == 51


async def test_forged_own_origin_is_counted_and_reported(server: NatsServer) -> None:
    """A message claiming the receiver's own origin with an id it never sent is reported."""
    async with Hub() as hub:
        failures: list[BridgeFailure] = []
        got: list[Trade] = []
        hub.add_subscriber(BRIDGE_ERROR, lambda k, f: failures.append(f))
        hub.add_subscriber(TRADES, lambda k, m: got.append(m))
        for mode in ("core", "jetstream"):
            failures.clear()
            bridge = NatsBridge(hub, [TRADES], servers=server.url, mode=mode)
            async with bridge:
                raw = await nats.connect(server.url)
                try:
                    subject = "typedpubsub.A.trade.B" if mode == "jetstream" else "A.trade.B"
                    headers = {ORIGIN_HEADER: bridge.id, MSG_ID_HEADER: os.urandom(12).hex()}
                    await raw.publish(subject, body(1), headers=headers)
                    await raw.flush()
                finally:
                    await raw.close()
                hub.publish(TRADES.fill("A", "B"), trade(2))  # our own: back in JetStream, quiet
                await eventually(lambda: len(failures) == 1)
                await eventually(lambda: bridge.statistics().sent == 1)  # noqa: B023 - awaited here
                await asyncio.sleep(0.2)
                assert bridge.statistics().rejected == 1
            assert [f.reason for f in failures] == ["forged"]
            assert bridge.id in failures[0].error
        assert [t.trade_id for t in got] == [2, 2]  # local deliveries only


SPECIAL = "p@ss/w:rd 100%"


async def test_passwords_with_special_characters_work_and_never_leak(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A password holding "@", "/", ":" and "%" connects, raw or encoded, and never leaks."""
    secured = NatsServer(tmp_path, users={"alice": SPECIAL})
    secured.start()
    try:
        host = secured.url.removeprefix("nats://")
        async with Hub() as hub:
            failures: list[BridgeFailure] = []
            hub.add_subscriber(BRIDGE_ERROR, lambda k, f: failures.append(f))
            for url in (
                f"nats://alice:{SPECIAL}@{host}",
                f"nats://alice:{quote(SPECIAL, safe='')}@{host}",
            ):
                async with NatsBridge(hub, [TRADES], servers=url) as bridge:
                    hub.publish(TRADES.fill("A", "B"), trade(1))
                    await eventually(lambda: bridge.statistics().sent == 1)
            async with NatsBridge(
                hub, [TRADES], servers=secured.url, user="alice", password=SPECIAL
            ):
                pass
            wrong = "wr@ng/pa:ss"
            with pytest.raises(BridgeConnectionError) as info:
                await NatsBridge(hub, [TRADES], servers=f"nats://alice:{wrong}@{host}").start()
            message = str(info.value)
            assert message.startswith(f"cannot connect to NATS at nats://alice:***@{host}: ")
            assert "Authorization Violation" in message
            for fragment in (wrong, "wr@ng", "ng/pa", quote(wrong, safe="")):
                assert fragment not in message
            with pytest.raises(BridgeConnectionError) as info:
                await NatsBridge(
                    hub, [TRADES], servers=secured.url, user="alice", password=wrong
                ).start()
            assert wrong not in str(info.value)
            assert failures == []
        for fragment in (SPECIAL, "p@ss", "ss/w", wrong, "wr@ng"):
            assert fragment not in caplog.text
    finally:
        secured.stop()


async def test_system_subjects_are_refused(server: NatsServer) -> None:
    """First tokens '$...' and '_INBOX' are refused: no local key reaches JetStream's API."""
    for bad in (Key("$JS", "*"), Key("_INBOX", "x"), Key("$SYS", "*"), Key("$KV", "b", "*")):
        with pytest.raises(InvalidKeyError, match=r"^key \(.*\) would reach the NATS system"):
            NatsBridge(Hub(), [bad])
        with pytest.raises(InvalidKeyError):
            pattern_to_subject(bad)
    with pytest.raises(InvalidKeyError):
        key_to_subject(Key("$O", "x"))
    async with Hub() as hub:
        failures: list[BridgeFailure] = []
        hub.add_subscriber(BRIDGE_ERROR, lambda k, f: failures.append(f))
        wire: list[str] = []
        raw = await nats.connect(server.url)
        try:
            js = raw.jetstream()
            await js.add_stream(name="KEEP", subjects=["keep.>"])

            async def on_msg(msg: Msg) -> None:
                wire.append(msg.subject)

            await raw.subscribe("$JS.API.>", cb=on_msg)
            await raw.subscribe("_INBOX.>", cb=on_msg)
            await raw.flush()
            async with NatsBridge(hub, [Key("*")], servers=server.url) as bridge:
                hub.publish(Key("$JS", "API", "STREAM", "DELETE", "KEEP"), {})
                hub.publish(Key("_INBOX", "x"), {})
                hub.publish(Key("fine"), {})
                await eventually(lambda: bridge.statistics().sent == 1)
                await asyncio.wait_for(raw.flush(), 5)
            assert wire == []
            assert (await js.stream_info("KEEP")).config.name == "KEEP"
        finally:
            await raw.close()
        assert [f.reason for f in failures] == ["invalid_key", "invalid_key"]
        assert bridge.statistics().errors == 2


async def test_incoming_wildcard_and_system_subjects_are_rejected(server: NatsServer) -> None:
    """Subjects with '*' or '>' tokens are rejected and reported; '$' ones are never delivered."""
    async with Hub() as hub:
        failures: list[BridgeFailure] = []
        got: list[Any] = []
        hub.add_subscriber(BRIDGE_ERROR, lambda k, f: failures.append(f))
        hub.add_subscriber(Key("*"), lambda k, m: got.append(k))
        async with NatsBridge(hub, [Key("*")], servers=server.url) as bridge:
            raw = await nats.connect(server.url)
            try:
                for subject in ("a.*", "a.>", "$weird.x", "ok.x"):
                    await raw.publish(subject, b"{}")
                await raw.flush()
            finally:
                await raw.close()
            await eventually(lambda: ("ok", "x") in got)
            await asyncio.sleep(0.2)
            stats = bridge.statistics()
        subjects = sorted(f.subject for f in failures if f.reason == "invalid_subject")
        assert subjects == sorted(
            s for s in ("a.*", "a.>") if s in subjects
        )  # what the server passes on is rejected
        # '$' subjects are the server's and other clients' traffic: ignored, not reported
        assert [k for k in got if k[0] != "Hub"] == [("ok", "x")]
        assert stats.rejected == len(subjects)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """A throwaway certificate authority."""
    return trustme.CA()


async def test_tls_server_verified_by_a_trusting_client_refused_otherwise(
    tmp_path: Path, ca: trustme.CA
) -> None:
    """TLS for real: a client trusting the CA connects; one that does not is refused."""
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_path, key_path = tmp_path / "server.pem", tmp_path / "server.key"
    cert.cert_chain_pems[0].write_to_path(cert_path)
    cert.private_key_pem.write_to_path(key_path)
    secured = NatsServer(tmp_path, tls=(cert_path, key_path))
    secured.start()
    try:
        trusting = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        ca.configure_trust(trusting)
        async with Hub() as a, Hub() as b:
            got: list[int] = []
            b.add_subscriber(TRADES, lambda k, m: got.append(m.trade_id))
            async with (
                NatsBridge(a, [TRADES], servers=secured.url, tls=trusting),
                NatsBridge(b, [TRADES], servers=secured.url, tls=trusting),
            ):
                a.publish(TRADES.fill("T", "S"), trade(3))
                await eventually(lambda: got == [3])
            stranger = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
            with pytest.raises(BridgeConnectionError, match=r"^cannot connect to NATS at .*CERT"):
                await NatsBridge(
                    a, [TRADES], servers=secured.url, tls=stranger, start_timeout=5
                ).start()
    finally:
        secured.stop()


async def test_nkeys_authentication(tmp_path: Path) -> None:
    """An nkey user connects with its seed; a different seed is refused and not leaked."""
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    public = bytes(nkeys.from_seed(bytearray(seed)).public_key).decode()
    secured = NatsServer(tmp_path, nkeys=[public])
    secured.start()
    try:
        async with Hub() as hub:
            async with NatsBridge(
                hub, [TRADES], servers=secured.url, nkeys_seed_str=seed.decode()
            ) as bridge:
                hub.publish(TRADES.fill("N", "K"), trade(1))
                await eventually(lambda: bridge.statistics().sent == 1)
            other = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER).decode()
            with pytest.raises(BridgeConnectionError, match=r"Authorization Violation") as info:
                await NatsBridge(hub, [TRADES], servers=secured.url, nkeys_seed_str=other).start()
            assert other not in str(info.value)
    finally:
        secured.stop()


@settings(max_examples=50, deadline=None)
@given(
    user=st.text(
        st.characters(blacklist_characters=":@/%", blacklist_categories=["Cs"]), min_size=1
    ),
    password=st.text(st.characters(blacklist_categories=["Cs"]), min_size=3),
    encode=st.booleans(),
)
def test_url_credentials_are_parsed_whole_and_masked(
    user: str, password: str, encode: bool
) -> None:
    """Any password, raw or percent-encoded, is taken whole from the URL and never displayed."""
    raw = password if not encode else quote(password, safe="")
    if not encode and "%" in password:
        raw = quote(password, safe="")  # a raw '%' would read as an escape: encode it
    url = f"nats://{user}:{raw}@127.0.0.1:4222"
    options: dict[str, Any] = {}
    servers, secrets = NatsBridge._parse_servers([url], options)
    assert servers == ["nats://127.0.0.1:4222"]
    assert options == {"user": user, "password": password}
    bridge = NatsBridge(Hub(), [TRADES], servers=url)
    shown = bridge._safe(f"cannot reach {password} at {bridge._display}")
    assert password not in shown
    assert bridge._display == f"nats://{user}:***@127.0.0.1:4222"
    assert secrets == [password]
