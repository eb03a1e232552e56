"""Topics shared by the NATS tests and their peer process."""

from __future__ import annotations

import dataclasses
import decimal

from typedpubsub import Topic


@dataclasses.dataclass
class Trade:
    trade_id: int
    quantity: int
    price: decimal.Decimal


@dataclasses.dataclass
class Confirmation:
    trade_id: int
    venue: str


TRADES = Topic(("*", "trade", "*"), Trade, name="trades")
CONFIRMATIONS = Topic(("*", "confirmed"), Confirmation, name="confirmations")


def trade(i: int) -> Trade:
    """A valid trade numbered ``i``."""
    return Trade(trade_id=i, quantity=10 + i, price=decimal.Decimal("1.5"))
