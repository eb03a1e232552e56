"""The compatibility gate: each rule on a fixture, the verdicts proved against pydantic, the CLI."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import itertools
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, cast, get_args

import pydantic
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from examples import market_topics
from typedpubsub import Topic, schema
from typedpubsub.__main__ import main
from typedpubsub._key import is_subset

from .conftest import ROOT
from .jsonschema_strategy import from_schema

# --- helpers ------------------------------------------------------------------------------------


def accepts(payload_type: Any, document: Any) -> bool:
    """Whether pydantic reads the JSON ``document`` as ``payload_type``."""
    try:
        TypeAdapter(payload_type).validate_json(json.dumps(document))
    except pydantic.ValidationError:
        return False
    return True


def topics(payload_type: Any, key: tuple[str, ...] = ("t", "*")) -> list[Topic[Any]]:
    return [Topic(key, payload_type, name="t")]


def check_counterexamples(report: schema.CompatibilityReport, old: Any, new: Any) -> None:
    """Every breaking payload change names a counterexample the writer's type accepts and the
    reader's type refuses."""
    for change in report.changes:
        for direction in ("backward", "forward"):
            if not change.breaks(direction) or "/key" in change.pointer:
                continue
            (example,) = [c for c in change.counterexamples if c.direction == direction]
            writer, reader = (old, new) if direction == "backward" else (new, old)
            assert accepts(writer, example.payload), (change, example)
            assert not accepts(reader, example.payload), (change, example)


# --- fixtures: one per rule ---------------------------------------------------------------------


class Base(BaseModel):
    quantity: int
    price: Annotated[float, Field(ge=0, le=100)] = 1.0
    side: Literal["buy", "sell"] = "buy"
    note: Annotated[str, Field(max_length=8)] = ""


class AddOptional(Base):
    venue: str | None = None


class AddRequired(Base):
    venue: str


class RemoveOptional(BaseModel):
    quantity: int
    price: Annotated[float, Field(ge=0, le=100)] = 1.0
    side: Literal["buy", "sell"] = "buy"


class RemoveRequired(BaseModel):
    price: Annotated[float, Field(ge=0, le=100)] = 1.0
    side: Literal["buy", "sell"] = "buy"
    note: Annotated[str, Field(max_length=8)] = ""


class Closed(Base):
    model_config = ConfigDict(extra="forbid")


class ClosedRemoveOptional(RemoveOptional):
    model_config = ConfigDict(extra="forbid")


class Allowing(Base):
    model_config = ConfigDict(extra="allow")


def variant(name: str, doc: str | None = None, **fields: Any) -> type[BaseModel]:
    """``Base`` with some fields redefined (created, so that checkers see no override)."""
    return pydantic.create_model(name, __base__=Base, __doc__=doc, **fields)


FloatQuantity = variant("FloatQuantity", quantity=(float, ...))
StrQuantity = variant("StrQuantity", quantity=(str, ...))
NullableQuantity = variant("NullableQuantity", quantity=(int | None, ...))
MoreSides = variant("MoreSides", side=(Literal["buy", "sell", "short"], "buy"))
FewerSides = variant("FewerSides", side=(Literal["buy"], "buy"))
TighterPrice = variant("TighterPrice", price=(Annotated[float, Field(ge=0, le=50)], 1.0))
LooserPrice = variant("LooserPrice", price=(Annotated[float, Field(ge=-100, le=100)], 1.0))
ShorterNote = variant("ShorterNote", note=(Annotated[str, Field(max_length=4)], ""))
DecimalQuantity = variant("DecimalQuantity", quantity=(decimal.Decimal, ...))
TimeQuantity = variant("TimeQuantity", quantity=(datetime.datetime, ...))
OptionalQuantity = variant("OptionalQuantity", quantity=(int, 0))
Documented = variant(
    "Documented",
    "Only the docstring and a description differ.",
    note=(Annotated[str, Field(max_length=8, description="free text")], ""),
)


class Levels(BaseModel):
    levels: list[float]


class IntLevels(BaseModel):
    levels: list[int]


class Outer(BaseModel):
    inner: Base


OuterTighter = pydantic.create_model("OuterTighter", inner=(TighterPrice, ...))


class FloatPrices(BaseModel):
    prices: dict[str, float]


class IntPrices(BaseModel):
    prices: dict[str, int]


class NamedPair(BaseModel):
    pair: tuple[int, str]


class NumberPair(BaseModel):
    pair: tuple[int, int]


class Fill(BaseModel):
    kind: Literal["fill"] = "fill"
    quantity: int


class Cancel(BaseModel):
    kind: Literal["cancel"] = "cancel"
    reason: str


class CancelWithCode(BaseModel):
    kind: Literal["cancel"] = "cancel"
    reason: str
    code: int


@dataclasses.dataclass
class DataclassTrade:
    quantity: int
    price: float = 1.0


@dataclasses.dataclass
class DataclassTradeRequiredVenue:
    quantity: int
    venue: str
    price: float = 1.0


RULES = [
    # (id, old, new, classification, pointer suffix, reason fragment)
    ("add-optional-field", Base, AddOptional, "compatible", "/venue", "'venue' added, optional"),
    ("add-required-field", Base, AddRequired, "narrowing", "/venue", "'venue' added, required"),
    ("remove-optional-field", Base, RemoveOptional, "compatible", "/note", "'note' removed"),
    ("remove-required-field", Base, RemoveRequired, "widening", "/quantity", "'quantity' removed"),
    ("remove-from-closed", Closed, ClosedRemoveOptional, "narrowing", "/note", "'note' removed"),
    ("forbid-extra", Base, Closed, "compatible", "/additionalProperties", "ignored to forbidden"),
    ("allow-to-forbid", Allowing, Closed, "narrowing", "/additionalProperties", "allowed to"),
    ("int-to-float", Base, FloatQuantity, "widening", "/quantity", "integer to number"),
    ("float-to-int", FloatQuantity, Base, "narrowing", "/quantity", "number to integer"),
    ("str-to-int", StrQuantity, Base, "incompatible", "/quantity", "string to integer"),
    ("decimal-to-float", DecimalQuantity, FloatQuantity, "compatible", "/quantity", "string to"),
    ("int-to-decimal", Base, DecimalQuantity, "widening", "/quantity", "number option added"),
    ("str-to-datetime", StrQuantity, TimeQuantity, "narrowing", "/quantity", "format changed"),
    ("make-nullable", Base, NullableQuantity, "widening", "/quantity", "null option added"),
    ("add-enum-value", Base, MoreSides, "widening", "/side", 'value "short" added'),
    ("remove-enum-value", Base, FewerSides, "narrowing", "/side", 'value "sell" removed'),
    ("tighten-maximum", Base, TighterPrice, "narrowing", "/price", "maximum changed from 100"),
    ("loosen-minimum", Base, LooserPrice, "widening", "/price", "minimum changed from 0 to -100"),
    ("tighten-max-length", Base, ShorterNote, "narrowing", "/note", "maxLength changed from 8"),
    ("required-to-optional", Base, OptionalQuantity, "widening", "/quantity", "now optional"),
    ("optional-to-required", OptionalQuantity, Base, "narrowing", "/quantity", "now required"),
    ("array-items-narrowed", Levels, IntLevels, "narrowing", "/levels/items", "number to integer"),
    ("nested-model", Outer, OuterTighter, "narrowing", "/price", "maximum changed from 100"),
    ("dict-values-narrowed", FloatPrices, IntPrices, "narrowing", "/additionalProperties", "to"),
    ("tuple-item-changed", NamedPair, NumberPair, "incompatible", "/prefixItems/1", "string to"),
    ("union-member", Fill | Cancel, Fill | CancelWithCode, "narrowing", "/code", "'code' added"),
    (
        "dataclass-required-field",
        DataclassTrade,
        DataclassTradeRequiredVenue,
        "narrowing",
        "/venue",
        "'venue' added, required",
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "classification", "pointer", "reason"),
    [rule[1:] for rule in RULES],
    ids=[rule[0] for rule in RULES],
)
@pytest.mark.parametrize("export", [schema.json_schema, schema.asyncapi])
def test_rule(
    old: Any,
    new: Any,
    classification: str,
    pointer: str,
    reason: str,
    export: Callable[..., dict[str, Any]],
) -> None:
    """Each rule reports its change where it is, classified as pydantic reads it."""
    report = schema.compatibility(export(topics(old)), export(topics(new)), mode="full")
    matching = [c for c in report.changes if c.pointer.endswith(pointer) and reason in c.reason]
    assert matching, report.text()
    assert matching[0].classification == classification, report.text()
    assert matching[0].pointer.startswith("#/")
    check_counterexamples(report, old, new)
    backward = schema.compatibility(export(topics(old)), export(topics(new)))
    assert backward.compatible == (classification in ("compatible", "widening"))
    forward = schema.compatibility(export(topics(old)), export(topics(new)), mode="forward")
    assert forward.compatible == (classification in ("compatible", "narrowing"))


def test_annotations_are_not_changes() -> None:
    """Docstrings, titles and descriptions change nothing pydantic reads."""
    report = schema.compatibility(topics(Base), topics(Documented), mode="full")
    assert [c.reason for c in report.changes] == [
        "payload type renamed from 'Base' to 'Documented'"
    ]
    assert report.compatible
    assert schema.compatibility(topics(Base), topics(Base)).changes == ()


def test_topics_added_and_removed() -> None:
    """A removed topic narrows what NEW consumers read; an added one is compatible."""
    old = [Topic("a", int, name="a"), Topic("b", int, name="b")]
    new = [Topic("b", int, name="b"), Topic("c", int, name="c")]
    report = schema.compatibility(old, new, mode="full")
    by_topic = {c.topic: c for c in report.changes}
    assert by_topic["a"].classification == "narrowing"
    assert by_topic["a"].reason.startswith("topic removed")
    assert by_topic["c"].classification == "compatible"
    assert by_topic["c"].reason.startswith("topic added")
    assert "b" not in by_topic


@pytest.mark.parametrize(
    ("old", "new", "classification", "backward", "forward"),
    [
        (("t", "*"), ("t", "x"), "narrowing", ("t", "_"), None),
        (("t", "x"), ("t", "*"), "widening", None, ("t", "_")),
        (("t", "*"), ("t", "*", "*"), "narrowing", ("t", "_"), None),
        (("t", "a", "*"), ("*", "a", "*"), "widening", None, ("_", "a", "_")),
        (("t", "*", "x"), ("t", "*", "y"), "incompatible", ("t", "_", "x"), ("t", "_", "y")),
    ],
)
def test_key_changes(
    old: tuple[str, ...],
    new: tuple[str, ...],
    classification: str,
    backward: tuple[str, ...] | None,
    forward: tuple[str, ...] | None,
) -> None:
    """A changed key pattern names a concrete key one side publishes and the other misses."""
    report = schema.compatibility(topics(int, old), topics(int, new), mode="full")
    (change,) = [c for c in report.changes if c.reason.startswith("key changed")]
    assert change.classification == classification
    examples = {c.direction: c.key for c in change.counterexamples}
    assert examples.get("backward") == backward
    assert examples.get("forward") == forward


patterns = st.lists(st.sampled_from(["a", "b", "*"]), min_size=1, max_size=4).map(tuple)


@settings(max_examples=200, deadline=None)
@given(old=patterns, new=patterns)
def test_key_verdicts_match_the_router(old: tuple[str, ...], new: tuple[str, ...]) -> None:
    """The key verdict agrees with the hub's matching on every concrete key up to 6 parts, and
    each counterexample key is matched by the writer's pattern and not by the reader's."""
    report = schema.compatibility(topics(int, old), topics(int, new), mode="full")
    changes = [c for c in report.changes if c.reason.startswith("key changed")]
    keys = [k for n in range(1, 7) for k in itertools.product("abc", repeat=n)]
    for direction in ("backward", "forward"):
        writer, reader = (old, new) if direction == "backward" else (new, old)
        missed = [k for k in keys if is_subset(k, writer) and not is_subset(k, reader)]
        breaks = any(c.breaks(direction) for c in changes)
        assert breaks == bool(missed), (direction, missed[:3])
        for change in changes:
            for example in change.counterexamples:
                if example.direction == direction:
                    assert example.key is not None
                    assert is_subset(example.key, writer)
                    assert not is_subset(example.key, reader)


def test_parameters_renamed_is_compatible() -> None:
    """Renaming a wildcard's parameter changes the address, not which keys match."""
    old = [Topic(("t", "*"), int, name="t", parameters=["symbol"])]
    new = [Topic(("t", "*"), int, name="t", parameters=["ticker"])]
    report = schema.compatibility(schema.asyncapi(old), schema.asyncapi(new), mode="full")
    (change,) = report.changes
    assert change.classification == "compatible"
    assert change.pointer == "#/channels/t/parameters"
    assert "['symbol'] to ['ticker']" in change.reason


def test_payload_type_of_a_channel_changed() -> None:
    """A channel whose payload becomes another type reports the type and every field change."""
    report = schema.compatibility(topics(Base), topics(int), mode="full")
    assert not report.compatible
    (change,) = [c for c in report.changes if c.reason.startswith("type changed")]
    assert change.classification == "incompatible"
    check_counterexamples(report, Base, int)


def test_recursive_types_terminate() -> None:
    """A self-referencing model compares without endless recursion."""

    class Node(BaseModel):
        value: int
        children: list[Node] = []

    class FloatNode(BaseModel):
        value: float
        children: list[FloatNode] = []

    report = schema.compatibility(topics(Node), topics(FloatNode), mode="full")
    assert {c.classification for c in report.changes} >= {"widening"}
    check_counterexamples(report, Node, FloatNode)


# --- transitive modes, the Python API's checks ----------------------------------------------


def test_transitive_checks_every_old_version() -> None:
    """A change compatible with the latest version may break an older one."""
    v1 = schema.json_schema(topics(Base))
    v2 = schema.json_schema(topics(FloatQuantity))
    v3 = schema.json_schema(topics(FloatQuantity))
    assert schema.compatibility(v2, v3, mode="forward").compatible
    report = schema.compatibility([v1, v2], v3, mode="forward-transitive")
    assert not report.compatible
    assert {c.against for c in report.breaking} == {"old[0]"}
    assert "(against old[0])" in report.text()


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda: schema.compatibility([Base, Base], topics(int), mode="full-transitive"),
            TypeError,
            r"^old must be an AsyncAPI document, a JSON Schema bundle or a collection of topics",
        ),
        (
            lambda: schema.compatibility(topics(int), topics(int), mode=cast(Any, "sideways")),
            ValueError,
            r"^mode must be one of backward, forward, full, backward-transitive, "
            r"forward-transitive, full-transitive, got 'sideways'$",
        ),
        (
            lambda: schema.compatibility(topics(int), topics(int), mode=cast(Any, 3)),
            TypeError,
            r"^mode must be a str, got 3 \(int\)$",
        ),
        (
            lambda: schema.compatibility(
                [schema.json_schema(topics(int))] * 2, topics(int), mode="full"
            ),
            ValueError,
            r"^old must be one version for mode 'full', got 2; use 'full-transitive'",
        ),
        (
            lambda: schema.compatibility([], topics(int), mode="full-transitive"),
            ValueError,
            r"^old must hold at least one version, got none$",
        ),
        (
            lambda: schema.compatibility({"openapi": "3.1.0"}, topics(int)),
            ValueError,
            r"^old must be an AsyncAPI document or a JSON Schema bundle written by typedpubsub, "
            r"got a mapping with keys \['openapi'\]$",
        ),
        (
            lambda: schema.compatibility(topics(int), [1, 2]),
            ValueError,
            r"^new holds no Topic, got \[1, 2\]$",
        ),
    ],
)
def test_wrong_arguments(call: Callable[[], object], error: type[Exception], message: str) -> None:
    """Wrong types and values are refused with the parameter, the rule and the bad value."""
    with pytest.raises(error, match=message):
        call()


def test_report_as_json_and_text() -> None:
    """The report serialises with each change's pointer, classification, reason and example."""
    report = schema.compatibility(topics(Base), topics(AddRequired))
    data = json.loads(json.dumps(report.to_json()))
    assert data["mode"] == "backward"
    assert data["compatible"] is False
    (change,) = [c for c in data["changes"] if c["classification"] != "compatible"]
    assert change["pointer"] == "#/$defs/AddRequired/properties/venue"
    assert change["counterexamples"] == [{"direction": "backward", "payload": {"quantity": 0}}]
    text = report.text()
    assert text.startswith("backward: NOT compatible (1 breaking of 2 changes)\n")
    assert 'counterexample payload (OLD writes, NEW refuses): {"quantity": 0}' in text
    assert str(report) == text
    assert not report


# --- properties: the verdicts hold for what pydantic actually does -------------------------------


Kind = Literal[
    "int", "float", "str", "bool", "enum", "ints", "floats", "decimal", "datetime", "model", "dict"
]
KINDS: tuple[Kind, ...] = get_args(Kind)
Extra = Literal["ignore", "forbid", "allow"]
EXTRAS: tuple[Extra, ...] = ("ignore", "forbid", "allow")


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    kind: Kind
    required: bool = True
    nullable: bool = False
    low: int | None = None
    high: int | None = None
    values: tuple[str, ...] = ("a", "b")


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    fields: dict[str, FieldSpec]
    extra: Extra = "ignore"
    dataclass: bool = False


def annotation(spec: FieldSpec, name: str) -> Any:
    base = base_annotation(spec, name)
    return base | None if spec.nullable else base


def base_annotation(spec: FieldSpec, name: str) -> Any:
    generic: Any = list  # subscripted with run-time types below
    if spec.kind == "model":
        value = Annotated[int, Field(ge=spec.low, le=spec.high)]
        return pydantic.create_model(f"Sub_{name}", v=(value, ...), w=(str | None, None))
    if spec.kind == "enum":
        return Literal[spec.values]
    if spec.kind == "bool":
        return bool
    if spec.kind == "decimal":
        return decimal.Decimal
    if spec.kind == "datetime":
        return datetime.datetime
    if spec.kind == "str":
        return Annotated[str, Field(min_length=spec.low, max_length=spec.high)]
    number: Any = int if spec.kind in ("int", "ints") else float
    bounded = Annotated[number, Field(ge=spec.low, le=spec.high)]
    if spec.kind in ("ints", "floats"):
        return Annotated[generic[bounded], Field(max_length=3)]
    if spec.kind == "dict":
        mapping: Any = dict
        return mapping[str, bounded]
    return bounded


def build(spec: ModelSpec, name: str) -> Any:
    """A pydantic model, or a stdlib dataclass, from the spec."""
    if spec.dataclass:
        ordered = sorted(spec.fields.items(), key=lambda item: not item[1].required)
        made = dataclasses.make_dataclass(
            name,
            [
                (field, annotation(f, field))
                if f.required
                else (field, annotation(f, field), dataclasses.field(default=None))
                for field, f in ordered
            ],
        )
        return made
    definitions: dict[str, Any] = {
        field: (annotation(f, field), ... if f.required else None)
        for field, f in spec.fields.items()
    }
    return pydantic.create_model(name, __config__=ConfigDict(extra=spec.extra), **definitions)


def bounds(draw: st.DrawFn) -> tuple[int | None, int | None]:
    low = draw(st.none() | st.integers(-5, 5))
    high = draw(st.none() | st.integers(6, 12))
    return low, high


@st.composite
def field_specs(draw: st.DrawFn) -> FieldSpec:
    kind = draw(st.sampled_from(KINDS))
    numeric = ("int", "float", "ints", "floats", "model", "dict")
    low, high = bounds(draw) if kind in numeric else (None, None)
    if kind == "str":
        low, high = draw(st.none() | st.integers(0, 2)), draw(st.none() | st.integers(3, 6))
    values = tuple(draw(st.lists(st.sampled_from("abcd"), min_size=1, max_size=4, unique=True)))
    return FieldSpec(kind, draw(st.booleans()), draw(st.booleans()), low, high, values)


@st.composite
def model_specs(draw: st.DrawFn) -> ModelSpec:
    names = draw(st.lists(st.sampled_from("pqrs"), min_size=1, max_size=3, unique=True))
    fields = {name: draw(field_specs()) for name in names}
    dataclass = draw(st.booleans())
    extra = "ignore" if dataclass else draw(st.sampled_from(EXTRAS))
    return ModelSpec(fields, extra, dataclass)


MUTATIONS = [
    "add-optional",
    "add-required",
    "remove",
    "int-float",
    "retype",
    "enum-add",
    "enum-remove",
    "tighten",
    "loosen",
    "required",
    "nullable",
    "extra",
]


@st.composite
def mutated(draw: st.DrawFn, spec: ModelSpec) -> ModelSpec:
    """The spec after one or two mutations a team might make to a payload type."""
    fields = dict(spec.fields)
    extra = spec.extra
    for mutation in draw(st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=2)):
        name = draw(st.sampled_from(sorted(fields)))
        f = fields[name]
        if mutation in ("add-optional", "add-required"):
            new = draw(st.sampled_from([n for n in "pqrstu" if n not in fields]))
            fields[new] = dataclasses.replace(
                draw(field_specs()), required=mutation == "add-required"
            )
        elif mutation == "remove" and len(fields) > 1:
            del fields[name]
        elif mutation == "int-float" and f.kind in ("int", "float", "ints", "floats"):
            swapped: dict[Kind, Kind] = {
                "int": "float",
                "float": "int",
                "ints": "floats",
                "floats": "ints",
            }
            fields[name] = dataclasses.replace(f, kind=swapped[f.kind])
        elif mutation == "retype":
            fields[name] = draw(field_specs())
        elif mutation == "enum-add" and f.kind == "enum":
            fields[name] = dataclasses.replace(f, values=tuple(sorted({*f.values, "e"})))
        elif mutation == "enum-remove" and f.kind == "enum" and len(f.values) > 1:
            fields[name] = dataclasses.replace(f, values=f.values[1:])
        elif mutation in ("tighten", "loosen") and f.kind not in ("bool", "enum"):
            step = 1 if mutation == "tighten" else -1
            low = None if f.low is None else f.low + step
            high = None if f.high is None else f.high - step
            if f.kind == "str":
                low = None if low is None else max(low, 0)
            if low is not None and high is not None and low >= high:
                continue  # keep some valid value, or no document could be written
            fields[name] = dataclasses.replace(
                f,
                low=low if f.low is not None or mutation == "loosen" else 0,
                high=high if f.high is not None or mutation == "loosen" else 9,
            )
        elif mutation == "required":
            fields[name] = dataclasses.replace(f, required=not f.required)
        elif mutation == "nullable":
            fields[name] = dataclasses.replace(f, nullable=not f.nullable)
        elif mutation == "extra" and not spec.dataclass:
            extra = draw(st.sampled_from(EXTRAS))
    return ModelSpec(fields, extra, spec.dataclass)


def payload_schema_of(document: dict[str, Any]) -> dict[str, Any]:
    """The payload schema of topic 't' of a bundle, with the bundle's definitions."""
    return {**document["topics"]["t"]["payload"], "$defs": document["$defs"]}


@settings(
    # COMPAT_EXAMPLES=2000 for a longer search than the suite's default
    max_examples=int(os.environ.get("COMPAT_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_verdicts_hold_for_pydantic(data: st.DataObject) -> None:
    """Compatible: every document OLD's producers may write, NEW's type reads (and the reverse
    for forward); breaking: the counterexample is accepted by the writer's type and refused by
    the reader's."""
    old_spec = data.draw(model_specs(), label="old")
    new_spec = data.draw(mutated(old_spec), label="new")
    old, new = build(old_spec, "Old"), build(new_spec, "New")
    old_doc, new_doc = schema.json_schema(topics(old)), schema.json_schema(topics(new))
    old_export = data.draw(st.sampled_from([schema.json_schema, schema.asyncapi]))
    new_export = data.draw(st.sampled_from([schema.json_schema, schema.asyncapi]))
    report = schema.compatibility(old_export(topics(old)), new_export(topics(new)), mode="full")
    check_counterexamples(report, old, new)
    for direction in ("backward", "forward"):
        breaks = any(c.breaks(direction) for c in report.changes)
        event(f"{direction} {'breaks' if breaks else 'holds'}")
        if breaks:
            continue
        writer_doc, reader = (old_doc, new) if direction == "backward" else (new_doc, old)
        writer = old if direction == "backward" else new
        for _ in range(5):
            document = data.draw(from_schema(payload_schema_of(writer_doc), undeclared=False))
            assert accepts(writer, document), document
            assert accepts(reader, document), (direction, document, report.text())


HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=4),
    st.just({}),
    st.just([]),
    st.sampled_from([{"$ref": "#/nope"}, {"$ref": "#"}, {"$ref": 3}, {"type": "object"}]),
    st.sampled_from([{"anyOf": []}, {"enum": []}, {"type": ["integer", "mystery"]}]),
    st.sampled_from([{"pattern": "("}, {"minimum": "x", "type": "integer"}]),
)


def replaced(document: Any, path: list[str], value: Any) -> Any:
    """A deep copy of ``document`` with the node at ``path`` replaced by ``value``."""
    if not path:
        return value
    copy = json.loads(json.dumps(document))
    node = copy
    for token in path[:-1]:
        node = node[int(token)] if isinstance(node, list) else node[token]
    if isinstance(node, list):
        node[int(path[-1])] = value
    else:
        node[path[-1]] = value
    return copy


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_hostile_documents_are_refused_with_value_error(data: st.DataObject) -> None:
    """A corrupted document gives a report or a ValueError: no other exception, no hang."""
    export = data.draw(st.sampled_from([schema.json_schema, schema.asyncapi]))
    document = export([*topics(Outer), Topic("u", Levels, name="u")])
    corrupted = document
    for _ in range(data.draw(st.integers(1, 3))):
        paths = [p for p, _ in schema._walk(corrupted) if p != "#"]
        if not paths:
            break
        path = data.draw(st.sampled_from(paths)).split("/")[1:]
        corrupted = replaced(corrupted, path, data.draw(HOSTILE))
    if not isinstance(corrupted, dict):
        return
    for old, new in ((corrupted, document), (document, corrupted)):
        try:
            report = schema.compatibility(old, new, mode="full")
        except ValueError:
            continue
        assert isinstance(report.text(), str)
        json.dumps(report.to_json())


# --- the command line ---------------------------------------------------------------------------


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "typedpubsub", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def write(path: Path, payload_type: Any) -> Path:
    path.write_text(json.dumps(schema.asyncapi(topics(payload_type)), indent=2))
    return path


def test_cli_exit_codes(tmp_path: Path) -> None:
    """0 when compatible, 1 when not, with the report on stdout; --json prints it as JSON."""
    base = write(tmp_path / "base.json", Base)
    added = write(tmp_path / "added.json", AddRequired)
    result = run_cli("compat", str(base), str(base))
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "backward: compatible (0 breaking of 0 changes)\n"
    result = run_cli("compat", str(base), str(added))
    assert result.returncode == 1
    assert "narrowing    #/components/schemas/AddRequired/properties/venue" in result.stdout
    assert "counterexample payload (OLD writes, NEW refuses)" in result.stdout
    result = run_cli("compat", str(base), str(added), "--mode", "forward", "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout)["compatible"] is True


def test_cli_module_targets_and_folders(tmp_path: Path) -> None:
    """OLD may be a folder of documents for the transitive modes; NEW may be MODULE[:ATTR]."""
    folder = tmp_path / "versions"
    folder.mkdir()
    bundle = schema.json_schema(schema.collect_topics(market_topics))
    (folder / "v1.json").write_text(json.dumps(bundle))
    result = run_cli("compat", str(folder), "examples.market_topics", "--mode", "full-transitive")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("full-transitive: compatible")
    result = run_cli("compat", str(folder), "examples.market_topics:TRADES", "--mode", "full")
    assert result.returncode == 1
    assert "topic removed" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("compat", "missing.json", "examples.market_topics"), "cannot read 'missing.json'"),
        (("compat", "no_such_module", "examples.market_topics"), "cannot import module"),
        (
            ("compat", "pyproject.toml", "examples.market_topics"),
            "'pyproject.toml' is not JSON: Expecting value",
        ),
        (("compat", "examples.market_topics", "tests"), "NEW must be one document, got the folder"),
        (
            ("compat", "examples.market_topics", "examples.market_topics", "json"),
            "old must be one version for mode 'backward', got 2",
        ),
        (("compat", "json", "examples.market_topics"), "old holds no Topic"),
    ],
)
def test_cli_usage_errors(args: tuple[str, ...], message: str) -> None:
    """Usage errors are one line on stderr and exit code 2."""
    result = run_cli(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"typedpubsub: error: {message}")
    assert result.stderr.count("\n") == 1


def test_cli_not_json(tmp_path: Path) -> None:
    """A file that is not JSON is a usage error naming it."""
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert main(["compat", str(broken), "examples.market_topics"]) == 2
