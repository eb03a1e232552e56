"""A topic module for the schema commands: ``python -m typedpubsub asyncapi examples.market_topics``."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
from typing import Annotated, Literal

import pydantic
from typing_extensions import TypedDict

from typedpubsub import Topic


class Side(enum.Enum):
    """Which side of the book an order is on."""

    BUY = "buy"
    SELL = "sell"


@dataclasses.dataclass
class Trade:
    """A trade executed on an exchange."""

    executed_at: datetime.datetime
    quantity: int
    price: decimal.Decimal
    side: Side = Side.BUY


class Venue(pydantic.BaseModel):
    """Where an order was placed."""

    mic: Annotated[str, pydantic.Field(description="ISO 10383 market identifier code")]
    country: str | None = None


class Order(pydantic.BaseModel):
    """An order placed on a venue."""

    order_id: str
    venue: Venue
    kind: Literal["limit", "market"]
    limit: decimal.Decimal | None = pydantic.Field(None, description="limit price, if any")


class BookLevel(TypedDict):
    """One price level of an order book."""

    price: float
    size: int


TRADES = Topic(
    ("*", "trade", "*"),
    Trade,
    name="trades",
    description="Executed trades, per exchange and symbol.",
    parameters=["exchange", "symbol"],
)
ORDERS = Topic(("*", "order", "*"), Order, description="Orders, per exchange and side.")
BOOK = Topic(("book", "*"), BookLevel, parameters=["symbol"])
