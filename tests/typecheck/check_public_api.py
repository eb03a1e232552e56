"""Static type checks of the public API beyond topics: never executed.

Covers typedpubsub.schema, typedpubsub.nats, typedpubsub.testing, typedpubsub.utils and
typedpubsub.errors, as a user imports them from the installed wheel.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from typing_extensions import assert_type

from typedpubsub import Hub, Key, ListenerStatistics, Publisher, Subscriber, Topic, schema
from typedpubsub.errors import BridgeConnectionError, PayloadValidationError, PubSubError
from typedpubsub.nats import (
    BRIDGE_ERROR,
    BridgeFailure,
    BridgeStatistics,
    NatsBridge,
    key_to_subject,
    pattern_to_subject,
    subject_to_key,
)
from typedpubsub.testing import MockHub, RecordingHub
from typedpubsub.testing.natsserver import NatsServer
from typedpubsub.utils import ThrottledPublisher


@dataclasses.dataclass
class Trade:
    quantity: int
    price: float


TRADES = Topic(("*", "trade", "*"), Trade)


def schemas() -> None:
    assert_type(schema.json_schema([TRADES]), dict[str, Any])
    assert_type(schema.asyncapi({"trades": TRADES}, title="t"), dict[str, Any])
    assert_type(schema.check_asyncapi({}), list[str])
    assert_type(schema.payload_schema(TRADES), dict[str, Any])
    assert_type(schema.collect_topics(object()), dict[str, Topic[Any]])
    assert_type(schema.address(TRADES), str)
    assert_type(schema.mermaid_topics([TRADES]), str)
    assert_type(schema.mermaid_hub(Hub()), str)
    schema.payload_schema(Key("a"))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


async def bridges(hub: Hub) -> None:
    async with NatsBridge(hub, [TRADES], servers="nats://127.0.0.1:4222") as bridge:
        assert_type(bridge.statistics(), BridgeStatistics)
        assert_type(bridge.statistics().sent, int)
    NatsBridge(hub, [TRADES], mode="carrier-pigeon")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    assert_type(BRIDGE_ERROR, Topic[BridgeFailure])
    assert_type(key_to_subject(("a", "b")), str)
    assert_type(pattern_to_subject(("a", "*")), str)
    assert_type(subject_to_key("a.b"), Key[Any])

    def on_failure(key: Key, failure: BridgeFailure) -> None:
        assert_type(failure.reason, str)

    Subscriber(hub, "errors").add_sync_listener(BRIDGE_ERROR, on_failure)
    server = NatsServer(Path("/tmp"))
    assert_type(server.url, str)


def testing() -> None:
    hub = RecordingHub()
    assert_type(hub, RecordingHub)
    assert_type(MockHub(), RecordingHub)
    hub.publish(TRADES.fill("X", "Y"), Trade(1, 2.0))
    hub.publish(TRADES.fill("X", "Y"), "not a trade")  # type: ignore[misc]  # pyright: ignore[reportArgumentType]
    assert_type(hub.messages(TRADES), list[Trade])
    assert_type(hub.published, list[tuple[Key[Any], Any]])


async def utilities(hub: Hub) -> None:
    throttled = ThrottledPublisher(hub, Publisher(hub, "p"), max_qsize=10)
    await throttled.publish(TRADES.fill("X", "Y"), Trade(1, 2.0))
    await throttled.publish(TRADES.fill("X", "Y"), 3)  # type: ignore[misc]  # pyright: ignore[reportArgumentType]
    stats = Subscriber(hub, "s").statistics()
    assert_type(stats, tuple[ListenerStatistics, ...])


def errors(error: PubSubError) -> None:
    if isinstance(error, PayloadValidationError):
        assert_type(error, PayloadValidationError)
        raise ValueError from error  # a PayloadValidationError is also a ValueError
    if isinstance(error, BridgeConnectionError):
        assert_type(error, BridgeConnectionError)


async def test_kit(hub: Hub, recorder: RecordingHub) -> None:
    key, trade = await hub.wait_for(TRADES, where=lambda t: t.quantity > 1, timeout=1.0)
    assert_type(await hub.wait_for(TRADES), tuple[Key, Trade])
    assert_type(trade, Trade)
    assert_type(key, Key)
    await hub.wait_for(TRADES, where=lambda t: t.volume > 1)  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue]
    recorder.assert_published(TRADES, Trade(1, 2.0))
    recorder.assert_published(TRADES, lambda t: t.price > 1, times=2)
    recorder.assert_published(TRADES)
    recorder.assert_not_published(TRADES, Trade(1, 2.0))
    assert_type(recorder.count(TRADES), int)
    recorder.assert_published(TRADES, "not a trade")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    recorder.assert_not_published(TRADES, lambda t: t.volume > 1)  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue]
