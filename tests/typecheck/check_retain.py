"""Static type checks of retained topics: never executed; mypy --strict and basedpyright check it.

Lines marked with an ignore must fail to type-check (see check_topics.py).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from typing_extensions import assert_type

from typedpubsub import Hub, HubStatistics, Key, Topic
from typedpubsub.testing import RecordingHub


@dataclasses.dataclass
class Price:
    value: float


PRICES = Topic(("px", "*"), Price, retain=True)
COUNTS = Topic(("count", "*"), int, retain=True)

assert_type(PRICES, Topic[Price])
assert_type(PRICES.retain, bool)
assert_type(PRICES.fill("a"), Topic[Price])
Topic("k", int, retain="yes")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


def check(hub: Hub, recorder: RecordingHub) -> None:
    assert_type(hub.last(PRICES.fill("a")), Price | None)
    assert_type(hub.last(COUNTS.fill("a")), int | None)
    assert_type(hub.clear(PRICES.fill("a")), bool)
    price = hub.last(PRICES.fill("a"))
    if price is not None:
        assert_type(price.value, float)
    print(price.value)  # type: ignore[union-attr]  # pyright: ignore[reportOptionalMemberAccess]
    hub.last(Key("px", "a"))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    hub.last(("px", "a"))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    hub.clear(Key("px", "a"))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    number: int | None = hub.last(PRICES.fill("a"))  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
    Hub(max_retained=100)
    Hub(max_retained="many")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    stats: HubStatistics = hub.statistics()
    assert_type(stats.retained, int)
    assert_type(stats.max_retained, int)
    assert_type(recorder.clear(), bool)
    assert_type(recorder.clear(PRICES.fill("a")), bool)
    assert_type(recorder.last(PRICES.fill("a")), Price | None)
    del number


def untyped(topic: Topic[Any]) -> Any:
    return Hub().last(topic)
