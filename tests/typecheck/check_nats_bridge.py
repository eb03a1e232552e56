"""Static type checks of the NATS bridge's public surface: never executed.

Lines marked with an ignore must fail to type-check (see check_topics.py).
"""

from __future__ import annotations

from pathlib import Path

from typing_extensions import assert_type

from typedpubsub import Hub, Key
from typedpubsub.nats import BRIDGE_ERROR, BridgeFailure, BridgeStatistics, NatsBridge
from typedpubsub.testing.natsserver import NatsServer


def servers(workdir: Path) -> None:
    plain = NatsServer(workdir)
    secured = NatsServer(
        workdir, tls=(workdir / "cert.pem", workdir / "key.pem"), users={"alice": "p@ss/w"}
    )
    with_nkeys = NatsServer(workdir, nkeys=["UABC"])
    assert_type(plain.url, str)
    assert_type(secured.url, str)
    assert_type(with_nkeys.port, int)
    NatsServer(workdir, tls=workdir)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    NatsServer(workdir, users=["alice"])  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


async def bridge(hub: Hub) -> None:
    async with NatsBridge(hub, [Key("a", "*")], servers="nats://u:p%40ss@host:4222") as bridge:
        assert_type(bridge.statistics(), BridgeStatistics)
        assert_type(bridge.id, str)

    def on_failure(key: Key, failure: BridgeFailure) -> None:
        assert_type(failure.reason, str)

    hub.add_subscriber(BRIDGE_ERROR, on_failure)
    hub.publish(BRIDGE_ERROR, "oops")  # type: ignore[misc]  # pyright: ignore[reportArgumentType]
