"""Shared test helpers: payload types, recorders and bounded waits."""

from __future__ import annotations

import asyncio
import dataclasses
import decimal
import enum
from collections.abc import Callable
from typing import Any

import pydantic
from typing_extensions import TypedDict

from typedpubsub import Key, Topic


@dataclasses.dataclass
class Trade:
    """A trade, as in aiopubsub's README."""

    timestamp: float
    quantity: int
    price: decimal.Decimal


@dataclasses.dataclass
class Inner:
    x: int


@dataclasses.dataclass
class Outer:
    inner: Inner
    note: str = ""


class Side(enum.Enum):
    BUY = "buy"
    SELL = "sell"


class Quote(pydantic.BaseModel):
    """A quote."""

    symbol: str
    bid: float
    ask: float


class Level(TypedDict):
    price: float
    size: int


TRADES = Topic(("*", "trade", "*"), Trade, name="trades", parameters=["exchange", "symbol"])
QUOTES = Topic(("*", "quote", "*"), Quote, name="quotes")
LEVELS = Topic(("*", "level"), Level)


class Recorder:
    """Collects (key, message) pairs from sync or async listeners."""

    def __init__(self) -> None:
        self.received: list[tuple[Key, Any]] = []

    def sync(self, key: Key, message: Any) -> None:
        self.received.append((key, message))

    async def async_(self, key: Key, message: Any) -> None:
        self.received.append((key, message))

    @property
    def messages(self) -> list[Any]:
        return [m for _, m in self.received]

    async def wait_for(self, count: int, timeout: float = 5.0) -> None:
        await eventually(lambda: len(self.received) >= count, timeout)


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait (bounded) until ``predicate()`` holds."""

    async def poll() -> None:
        # Polling on purpose: the predicates read state that no event announces.
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.001)

    await asyncio.wait_for(poll(), timeout)


def make_trade(quantity: Any = 56) -> Trade:
    return Trade(timestamp=123.5, quantity=quantity, price=decimal.Decimal("1639.43"))
