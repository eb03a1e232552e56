"""Schema export: JSON Schema bundles, AsyncAPI 3.0 documents, Mermaid diagrams and the CLI."""

from __future__ import annotations

import datetime
import decimal
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from examples import market_topics
from examples.market_topics import BOOK, ORDERS, TRADES, BookLevel, Order, Side, Trade, Venue
from typedpubsub import Hub, Key, Publisher, Subscriber, Topic, schema
from typedpubsub.__main__ import main
from typedpubsub.testing import RecordingHub

from .conftest import ROOT, shared_file
from .jsonschema_strategy import from_schema

TOPICS: list[Topic[Any]] = [TRADES, ORDERS, BOOK]


def official_validator() -> jsonschema.Draft7Validator:
    with shared_file("schemas", "asyncapi-3.0.0.json").open() as f:
        return jsonschema.Draft7Validator(json.load(f))


def test_official_schema_rejects_the_broken_example() -> None:
    """The validator is live: the deliberately broken sample fails with its 4 top-level errors."""
    with shared_file("schemas", "examples", "invalid.json").open() as f:
        broken = json.load(f)
    with shared_file("schemas", "examples", "valid.json").open() as f:
        valid = json.load(f)
    validator = official_validator()
    assert len(list(validator.iter_errors(broken))) == 4
    assert list(validator.iter_errors(valid)) == []


@pytest.mark.parametrize("include_meta", [False, True])
def test_asyncapi_document_validates(include_meta: bool) -> None:
    """The exported document is valid AsyncAPI 3.0.0 and passes the library's own checks."""
    document = schema.asyncapi(
        schema.collect_topics(market_topics),
        title="Market data",
        description="Example topics",
        servers={"local": "nats://127.0.0.1:4222"},
        operations={"trades": "receive", "ORDERS": "send"},
        include_meta=include_meta,
    )
    errors = [e.message for e in official_validator().iter_errors(document)]
    assert errors == []
    assert schema.check_asyncapi(document) == []
    assert document["asyncapi"] == "3.0.0"
    assert document["servers"]["local"] == {
        "host": "127.0.0.1:4222",
        "protocol": "nats",
        "description": "NATS server the hubs join through (typedpubsub.nats).",
    }
    if include_meta:
        assert document["operations"]["sendAddedSubscriber"]["action"] == "send"


def test_asyncapi_channels_messages_and_operations() -> None:
    """One channel per topic with a parameterised address; payloads under components/schemas."""
    document = schema.asyncapi(TOPICS, operations={"trades": "receive"})
    trades = document["channels"]["trades"]
    assert trades["address"] == "{exchange}.trade.{symbol}"
    assert set(trades["parameters"]) == {"exchange", "symbol"}
    assert "also any number of deeper parts" in trades["parameters"]["symbol"]["description"]
    assert "deeper" not in trades["parameters"]["exchange"]["description"]
    assert trades["description"].startswith("Executed trades, per exchange and symbol.")
    message = document["components"]["messages"]["trades"]
    assert message["payload"] == {"$ref": "#/components/schemas/Trade"}
    assert message["summary"] == "A trade executed on an exchange."
    assert document["operations"] == {
        "receiveTrades": {
            "action": "receive",
            "channel": {"$ref": "#/channels/trades"},
            "messages": [{"$ref": "#/channels/trades/messages/trades"}],
        }
    }
    schemas = document["components"]["schemas"]
    # pydantic's $defs are rewritten to resolve inside the document, shared ones once.
    assert schemas["Order"]["properties"]["venue"] == {"$ref": "#/components/schemas/Venue"}
    assert (
        schemas["Venue"]["properties"]["mic"]["description"] == "ISO 10383 market identifier code"
    )
    assert schemas["Side"]["enum"] == ["buy", "sell"]
    assert schemas["Trade"]["description"] == "A trade executed on an exchange."
    assert schemas["Order"]["properties"]["kind"]["enum"] == ["limit", "market"]
    assert schemas["Trade"]["properties"]["executed_at"]["format"] == "date-time"
    refs = [v for _, v in schema._walk(document) if isinstance(v, dict) and "$ref" in v]
    assert all(r["$ref"].startswith(("#/components/", "#/channels/")) for r in refs)


def test_generated_parameter_names_and_inline_payloads() -> None:
    """Unnamed wildcards get positional names; non-class payloads get a schema entry."""
    numbers = Topic[int | None](("n", "*"), int | None)
    document = schema.asyncapi([numbers])
    (ident,) = document["channels"]
    assert ident == "n.any"
    assert document["channels"][ident]["address"] == "n.{part1}"
    payload_ref = document["components"]["messages"][ident]["payload"]["$ref"]
    assert schema._pointer(document, payload_ref) == {
        "anyOf": [{"type": "integer"}, {"type": "null"}]
    }
    assert schema.check_asyncapi(document) == []


def test_output_is_deterministic() -> None:
    """The same topics, in any order, give byte-identical JSON."""
    first = json.dumps(schema.asyncapi(TOPICS), indent=2)
    second = json.dumps(schema.asyncapi(list(reversed(TOPICS))), indent=2)
    assert first == second
    assert json.dumps(schema.json_schema(TOPICS)) == json.dumps(schema.json_schema(TOPICS[::-1]))


def test_check_asyncapi_finds_what_the_official_schema_cannot() -> None:
    """Dangling $refs and undefined or unused address parameters are reported."""
    document = schema.asyncapi([TRADES])
    document["channels"]["trades"]["address"] = "{exchange}.trade.{ticker}"
    document["components"]["messages"]["trades"]["payload"] = {"$ref": "#/components/schemas/Nope"}
    problems = schema.check_asyncapi(document)
    assert "#/channels/trades: address parameter {ticker} is not defined" in problems
    assert "#/channels/trades: parameter 'symbol' is not in the address" in problems
    assert any("'#/components/schemas/Nope' does not resolve" in p for p in problems)


def test_names_must_be_unique() -> None:
    """Two different topics under one name are refused."""
    with pytest.raises(ValueError, match=r"are both named 'x'"):
        schema.json_schema([Topic("a", int, name="x"), Topic("b", int, name="x")])
    with pytest.raises(ValueError, match=r"^topics must hold at least one Topic$"):
        schema.json_schema([])
    with pytest.raises(ValueError, match=r"^operations name unknown topics \['nope'\]"):
        schema.asyncapi(TOPICS, operations={"nope": "send"})


def test_json_schema_bundle() -> None:
    """The bundle lists every topic's key, address and payload; definitions appear once."""
    bundle = schema.json_schema(TOPICS, title="Market")
    assert bundle["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert list(bundle["topics"]) == ["any.order.any", "book.any", "trades"]
    trades = bundle["topics"]["trades"]
    assert trades["key"] == ["*", "trade", "*"]
    assert trades["address"] == "{exchange}.trade.{symbol}"
    assert trades["payloadType"] == "Trade"
    assert trades["payload"] == {"$ref": "#/$defs/Trade"}
    assert set(bundle["$defs"]) >= {"Trade", "Order", "Venue", "Side", "BookLevel"}
    jsonschema.Draft202012Validator.check_schema(bundle)


def test_payload_schema_is_standalone() -> None:
    """payload_schema gives one topic's schema with its own definitions."""
    standalone = schema.payload_schema(ORDERS)
    jsonschema.Draft202012Validator.check_schema(standalone)
    assert "Venue" in standalone["$defs"]


def bundle_validator(topic: Topic[Any]) -> jsonschema.Draft202012Validator:
    bundle = schema.json_schema(TOPICS)
    (entry,) = [e for e in bundle["topics"].values() if e["key"] == list(topic)]
    return jsonschema.Draft202012Validator({**entry["payload"], "$defs": bundle["$defs"]})


finite_decimals = st.decimals(
    allow_nan=False, allow_infinity=False, places=4, min_value=-(10**9), max_value=10**9
)
datetimes = st.datetimes(
    min_value=datetime.datetime(1970, 1, 2), max_value=datetime.datetime(2200, 1, 1)
)
trades = st.builds(
    Trade,
    executed_at=datetimes,
    quantity=st.integers(-(2**62), 2**62),
    price=finite_decimals,
    side=st.sampled_from(Side),
)
venues = st.builds(Venue, mic=st.text(max_size=8), country=st.none() | st.text(max_size=3))
orders = st.builds(
    Order,
    order_id=st.text(max_size=10),
    venue=venues,
    kind=st.sampled_from(["limit", "market"]),
    limit=st.none() | finite_decimals,
)
levels = st.fixed_dictionaries(
    {
        "price": st.floats(allow_nan=False, allow_infinity=False),
        "size": st.integers(-(2**62), 2**62),
    }
)


def round_trip(topic: Topic[Any], payload: Any) -> None:
    hub = RecordingHub()
    concrete = topic.fill(*(["x"] * topic.count("*")))
    hub.publish(concrete, payload)
    ((_, published),) = hub.published
    document = json.loads(topic.adapter.dump_json(published))
    errors = [e.message for e in bundle_validator(topic).iter_errors(document)]
    assert errors == []
    again = topic.adapter.validate_json(json.dumps(document))
    assert again == published


@settings(max_examples=60, deadline=None)
@given(trade=trades)
def test_trade_round_trip(trade: Trade) -> None:
    """A published dataclass payload dumps to JSON valid against the schema, and back."""
    round_trip(TRADES, trade)


@settings(max_examples=60, deadline=None)
@given(order=orders)
def test_order_round_trip(order: Order) -> None:
    """A nested pydantic model payload round-trips through the exported schema."""
    round_trip(ORDERS, order)


@settings(max_examples=60, deadline=None)
@given(level=levels)
def test_typeddict_round_trip(level: BookLevel) -> None:
    """A TypedDict payload round-trips through the exported schema."""
    round_trip(BOOK, level)


@pytest.mark.parametrize("topic", TOPICS, ids=lambda t: t.name or "/".join(t))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_documents_valid_against_the_schema_validate_into_the_type(
    topic: Topic[Any], data: st.DataObject
) -> None:
    """Any JSON document the exported schema accepts validates into the topic's type."""
    bundle = schema.json_schema(TOPICS)
    (entry,) = [e for e in bundle["topics"].values() if e["key"] == list(topic)]
    document = data.draw(from_schema({**entry["payload"], "$defs": bundle["$defs"]}))
    topic.validate(json.loads(json.dumps(document)))


def test_mermaid_topics() -> None:
    """The key tree shows each part once and each topic with its payload type."""
    text = schema.mermaid_topics(TOPICS)
    assert text.startswith("flowchart LR\n")
    assert '[/"trades: Trade"/]' in text
    assert '[/"any.order.any: Order"/]' in text
    assert text.count('["trade"]') == 1


async def test_mermaid_hub() -> None:
    """A live hub's diagram shows publishers' prefixes, patterns and listeners."""
    async with Hub() as hub, Subscriber(hub, "desk") as subscriber:

        async def on_trade(key: Key, trade: Trade) -> None: ...

        subscriber.add_async_listener(TRADES, on_trade)
        publisher = Publisher(hub, "NASDAQ")
        text = schema.mermaid_hub(hub)
        assert 'pub0["publisher NASDAQ.*"]' in text
        assert "pub0 --> p0" in text
        assert '"*.trade.*"' in text
        assert "on_trade of subscriber 'desk'" in text
        del publisher


async def test_mermaid_hub_draws_what_the_hub_reports() -> None:
    """The hub diagram is drawn from plain (pattern, listener) pairs and prefixes, no hub needed."""
    from typedpubsub._hub import topology
    from typedpubsub.schema._mermaid import draw_hub

    text = draw_hub([(("a", "*"), "f"), (("*",), "g"), (("a", "*"), "g")], [("a",), ()])
    assert text == (
        "flowchart LR\n"
        '    p0{{"*"}}\n'
        '    p1{{"a.*"}}\n'
        '    pub0["publisher .*"]\n'
        "    pub0 --> p0\n"
        "    pub0 --> p1\n"
        '    pub1["publisher a.*"]\n'
        "    pub1 --> p0\n"
        "    pub1 --> p1\n"
        '    l0(["f"])\n'
        '    l1(["g"])\n'
        "    p1 --> l0\n"
        "    p0 --> l1\n"
        "    p1 --> l1\n"
    )
    async with Hub() as hub, Subscriber(hub, "desk") as subscriber:
        subscriber.add_sync_listener(BOOK, lambda key, level: None)
        publisher = Publisher(hub, "book")
        assert schema.mermaid_hub(hub) == draw_hub(*topology(hub))
        del publisher


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "typedpubsub", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def test_cli_asyncapi_and_schema(tmp_path: Path) -> None:
    """The commands print the documents, or write them with -o."""
    result = run_cli(
        "asyncapi",
        "examples.market_topics",
        "--server",
        "local=nats://localhost:4222",
        "--receive",
        "trades",
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert list(official_validator().iter_errors(document)) == []
    assert document["operations"]["receiveTrades"]["action"] == "receive"
    out = tmp_path / "bundle.json"
    result = run_cli("schema", "examples.market_topics:TRADES", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert list(json.loads(out.read_text())["topics"]) == ["trades"]
    meta = run_cli("schema", "examples.market_topics", "--include-meta")
    assert "addedSubscriber" in json.loads(meta.stdout)["topics"]
    plain = run_cli("schema", "examples.market_topics")
    assert "addedSubscriber" not in json.loads(plain.stdout)["topics"]


def test_cli_graph() -> None:
    """graph prints a Mermaid flowchart."""
    result = run_cli("graph", "examples.market_topics")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("flowchart LR")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("schema", "no_such_module"), "typedpubsub: error: cannot import module 'no_such_module'"),
        (
            ("asyncapi", "examples.market_topics:NOPE"),
            "typedpubsub: error: module 'examples.market_topics' has no attribute 'NOPE'",
        ),
        (("schema", "json"), "typedpubsub: error: 'json' defines no Topic"),
        (
            ("asyncapi", "examples.market_topics", "--server", "oops"),
            "typedpubsub: error: --server takes ID=URL, got 'oops'",
        ),
    ],
)
def test_cli_errors_are_one_line_and_exit_2(args: tuple[str, ...], message: str) -> None:
    """A missing module, attribute or topic is a one-line error and exit code 2."""
    result = run_cli(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(message)
    assert result.stderr.count("\n") == 1


def test_cli_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    """main() returns the exit code rather than exiting."""
    assert main(["graph", "examples.market_topics:BOOK"]) == 0
    assert '"book.any: BookLevel"' in capsys.readouterr().out
    assert main(["schema", "examples.market_topics:Trade"]) == 2
    assert "cannot collect topics" in capsys.readouterr().err


def test_collect_topics_from_collections() -> None:
    """Topics come from modules, topics, mappings, iterables and objects with .topics."""

    class Registry:
        topics = (TRADES, BOOK)

    assert list(schema.collect_topics(Registry())) == ["book.any", "trades"]
    assert list(schema.collect_topics({"mine": BOOK})) == ["mine"]
    assert list(schema.collect_topics(market_topics)) == ["BOOK", "ORDERS", "trades"]
    with pytest.raises(TypeError, match=r"^cannot collect topics from 3$"):
        schema.collect_topics(3)


def test_decimal_strings_are_constrained() -> None:
    """Decimal strings in the schema carry the pattern pydantic enforces."""
    validator = bundle_validator(TRADES)
    base = {"executed_at": "2026-01-01T00:00:00Z", "quantity": 1}
    assert validator.is_valid({**base, "price": "12.50"})
    assert not validator.is_valid({**base, "price": "twelve"})
    assert TRADES.validate({**base, "price": "12.50"}).price == decimal.Decimal("12.50")
