"""Static type checks of the NATS bridge's JetStream options: never executed.

Lines marked with an ignore must fail to type-check (see check_topics.py).
"""

from __future__ import annotations

from typing_extensions import assert_type

from typedpubsub import Hub, Key
from typedpubsub.nats import BridgeStatistics, NatsBridge

hub = Hub()
bridge = NatsBridge(
    hub,
    [Key("a", "*")],
    mode="jetstream",
    stream="ORDERS",
    max_pending=1_000,
    max_age=3_600.0,
    max_msgs=-1,
    max_bytes=2**20,
    duplicate_window=60.0,
)
NatsBridge(hub, [Key("a", "*")], max_age=None)
stats = bridge.statistics()
assert_type(stats, BridgeStatistics)
assert_type(stats.failed, int)
assert_type(stats.dropped, int)
assert_type(stats.pending, int)

NatsBridge(hub, [Key("a", "*")], max_pending=None)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
NatsBridge(hub, [Key("a", "*")], max_msgs=1.5)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
