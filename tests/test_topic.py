"""Typed topics: construction, derivation and validation."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import pickle
from typing import Any, Literal

import pydantic
import pytest

from typedpubsub import Key, PayloadValidationError, Topic
from typedpubsub.errors import InvalidKeyError, UnsupportedPayloadTypeError

from .helpers import LEVELS, QUOTES, TRADES, Inner, Level, Outer, Quote, Trade, make_trade


def test_topic_is_a_key() -> None:
    """A topic equals and hashes like its key, and remembers its payload type and metadata."""
    assert Key("*", "trade", "*") == TRADES
    assert tuple(TRADES) == ("*", "trade", "*")
    assert TRADES == ("*", "trade", "*")
    assert hash(TRADES) == hash(("*", "trade", "*"))
    assert isinstance(TRADES, Key)
    assert TRADES.is_wildcard
    assert TRADES.payload_type is Trade
    assert TRADES.name == "trades"
    assert TRADES.parameters == ("exchange", "symbol")
    assert repr(TRADES) == "Topic(('*', 'trade', '*'), Trade, name='trades')"
    assert str(TRADES) == "('*', 'trade', '*')"


def test_topic_accepts_str_and_iterables() -> None:
    """The key of a topic is built like Key.create_from: a str is one part."""
    assert Topic("trades", Trade) == ("trades",)
    assert Topic(["a", "b"], Trade) == ("a", "b")
    assert Topic(Key("a"), Trade) == ("a",)


def test_topic_rejects_bad_arguments() -> None:
    """Bad keys, metadata and payload types are refused when the topic is made."""
    with pytest.raises(InvalidKeyError, match=r"^key must have at least one part, got \(\)$"):
        Topic((), Trade)
    with pytest.raises(TypeError, match=r"^key part must be str"):
        Topic(("a", 1), Trade)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    with pytest.raises(TypeError, match=r"^name must be str or None, got 3 \(int\)$"):
        Topic("a", Trade, name=3)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    with pytest.raises(ValueError, match=r"^parameters must name each of the 1 wildcards"):
        Topic(("a", "*"), Trade, parameters=["x", "y"])
    with pytest.raises(ValueError, match=r"^parameters must be distinct"):
        Topic(("*", "*"), Trade, parameters=["x", "x"])


def test_payload_type_pydantic_cannot_handle_is_refused_at_topic_time() -> None:
    """A type pydantic has no schema for is a TypeError when the topic is made."""

    class Opaque:
        pass

    with pytest.raises(
        UnsupportedPayloadTypeError,
        match=r"^payload_type must be a type pydantic can validate, got <class '.*Opaque'>",
    ):
        Topic("a", Opaque)
    assert issubclass(UnsupportedPayloadTypeError, TypeError)


def test_fill_and_prefix_keep_the_type() -> None:
    """Filling wildcards and adding prefixes or suffixes give topics of the same type."""
    concrete = TRADES.fill("NASDAQ", "GOOGL")
    assert tuple(concrete) == ("NASDAQ", "trade", "GOOGL")
    assert isinstance(concrete, Topic)
    assert concrete.payload_type is Trade
    assert concrete.name == "trades"
    assert not concrete.is_wildcard
    by_name = TRADES.fill(symbol="AAPL")
    assert tuple(by_name) == ("*", "trade", "AAPL")
    assert by_name.parameters == ("exchange",)
    prefixed = Key("venue") + TRADES
    assert tuple(prefixed) == ("venue", "*", "trade", "*")
    assert isinstance(prefixed, Topic)
    assert prefixed.payload_type is Trade
    assert prefixed.parameters == ("exchange", "symbol")
    assert isinstance(("venue",) + TRADES, Topic)
    suffixed = TRADES + Key("extra")
    assert tuple(suffixed) == ("*", "trade", "*", "extra")
    assert isinstance(suffixed, Topic)
    assert suffixed.payload_type is Trade
    wild_prefix = Key("*") + TRADES
    assert wild_prefix.parameters == (None, "exchange", "symbol")


def test_fill_rejects_bad_values() -> None:
    """fill needs one str per wildcard, or known parameter names."""
    with pytest.raises(
        TypeError,
        match=r"^fill takes one value per wildcard of \('\*', 'trade', '\*'\) \(2\), got 1$",
    ):
        TRADES.fill("NASDAQ")
    with pytest.raises(TypeError, match=r"^fill got unknown parameter names \['venue'\]"):
        TRADES.fill(venue="x")
    with pytest.raises(ValueError, match=r"^fill value must not be empty"):
        TRADES.fill("", "x")
    with pytest.raises(TypeError, match=r"^cannot join two topics"):
        _ = TRADES + QUOTES


def test_valid_dataclass_instance_is_returned_as_is() -> None:
    """A valid stdlib dataclass instance passes validation unchanged (same object)."""
    trade = make_trade()
    assert TRADES.validate(trade) is trade


def test_dict_is_validated_into_the_dataclass() -> None:
    """A dict (as from JSON) becomes a validated instance of the payload type."""
    got = TRADES.validate({"timestamp": 1, "quantity": "5", "price": "1.5"})
    assert got == Trade(timestamp=1.0, quantity=5, price=decimal.Decimal("1.5"))


def test_invalid_dataclass_instance_is_refused_like_a_dict() -> None:
    """A dataclass constructor checks nothing, so instances are revalidated field by field."""
    bad = make_trade(quantity="many")
    with pytest.raises(PayloadValidationError) as caught:
        TRADES.validate(bad)
    message = str(caught.value)
    assert message.startswith(
        "payload on key ('*', 'trade', '*') does not validate as Trade (topic 'trades'), "
        "1 error: quantity: Input should be a valid integer"
    )
    assert caught.value.errors[0]["loc"] == ("quantity",)
    assert isinstance(caught.value.__cause__, pydantic.ValidationError)
    with pytest.raises(PayloadValidationError, match=r"quantity"):
        TRADES.validate({"timestamp": 1.0, "quantity": "many", "price": 1})


def test_nested_dataclasses_are_revalidated() -> None:
    """Revalidation reaches nested dataclass instances too."""
    topic = Topic("outer", Outer)
    with pytest.raises(PayloadValidationError, match=r"inner\.x: Input should be a valid integer"):
        topic.validate(Outer(Inner("x")))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    ok = Outer(Inner(1))
    assert topic.validate(ok) is ok


def test_coercible_instance_is_replaced_by_the_validated_copy() -> None:
    """An instance pydantic can only coerce is delivered as the coerced copy."""
    loose = make_trade(quantity="56")
    got = TRADES.validate(loose)
    assert got is not loose
    assert got.quantity == 56


def test_trust_instances_skips_revalidation() -> None:
    """trust_instances=True accepts dataclass instances on an isinstance check (faster)."""
    trusting = Topic("t", Trade, trust_instances=True)
    bad = make_trade(quantity="many")
    assert trusting.validate(bad) is bad
    assert trusting.trust_instances
    with pytest.raises(PayloadValidationError):
        trusting.validate({"timestamp": 1.0, "quantity": "many", "price": 1})


def test_pydantic_models_are_trusted_and_dicts_validated() -> None:
    """Model instances (validated by their constructor) pass as is; dicts are validated."""
    quote = Quote(symbol="A", bid=1.0, ask=2.0)
    assert QUOTES.validate(quote) is quote
    assert QUOTES.validate({"symbol": "A", "bid": "1", "ask": 2}) == quote
    with pytest.raises(PayloadValidationError, match=r"bid: Input should be a valid number"):
        QUOTES.validate({"symbol": "A", "bid": "x", "ask": 2})


def test_typeddicts_and_other_types() -> None:
    """TypedDicts, unions, literals, datetimes and containers validate through TypeAdapter."""
    level: Level = {"price": 1.0, "size": 2}
    assert LEVELS.validate({"price": "1", "size": 2}) == level
    with pytest.raises(PayloadValidationError, match=r"size: Field required"):
        LEVELS.validate({"price": 1.0})
    numbers = Topic[int | None]("n", int | None)
    assert numbers.validate("3") == 3
    assert numbers.validate(None) is None
    sides = Topic[Literal["buy", "sell"]]("side", Literal["buy", "sell"])
    with pytest.raises(PayloadValidationError):
        sides.validate("hold")
    stamps = Topic("ts", datetime.datetime)
    assert stamps.validate("2026-01-02T03:04:05") == datetime.datetime(2026, 1, 2, 3, 4, 5)
    lists = Topic[list[int]]("l", list[int])
    assert lists.validate(["1", 2]) == [1, 2]


def test_pydantic_dataclass_payloads() -> None:
    """pydantic dataclasses validate in their constructor and are trusted like models."""

    @pydantic.dataclasses.dataclass
    class Point:
        x: int

    topic = Topic("p", Point)
    point = Point(x=1)
    assert topic.validate(point) is point
    assert topic.validate({"x": "2"}) == Point(x=2)


def test_topics_of_one_type_share_a_validator() -> None:
    """Validators are built once per payload type, not once per topic."""
    a = Topic("a", Trade)
    b = Topic("b", Trade)
    assert a._validator is b._validator
    assert Topic("c", Trade, trust_instances=True)._validator is not a._validator


def test_topic_pickles_with_its_metadata() -> None:
    """A topic survives pickling with its type and metadata."""
    again = pickle.loads(pickle.dumps(TRADES))
    assert again == TRADES
    assert isinstance(again, Topic)
    assert again.payload_type is Trade
    assert again.name == "trades"
    assert again.parameters == ("exchange", "symbol")


def test_key_validates_in_pydantic() -> None:
    """Key works as a field type in pydantic: from lists or tuples, to JSON lists."""

    class Holder(pydantic.BaseModel):
        key: Key[Any]

    held = Holder.model_validate({"key": ["a", "b"]})
    assert held.key == ("a", "b")
    assert type(held.key) is Key
    assert Holder.model_validate_json('{"key": ["a"]}').key == ("a",)
    assert held.model_dump_json() == '{"key":["a","b"]}'
    with pytest.raises(pydantic.ValidationError):
        Holder.model_validate({"key": [1]})


def test_dataclass_with_non_init_field() -> None:
    """Dataclasses with init=False fields revalidate and are delivered as is."""

    @dataclasses.dataclass
    class Counted:
        n: int
        total: int = dataclasses.field(init=False, default=0)

    topic = Topic("counted", Counted)
    item = Counted(3)
    assert topic.validate(item) is item
