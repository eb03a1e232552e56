"""Validation soundness: a typed listener only ever sees a valid payload, whatever its shape."""

from __future__ import annotations

import dataclasses
import gc
import logging
import weakref
from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar

import pydantic
import pytest
from pydantic import AfterValidator, ConfigDict, Field, field_validator
from typing_extensions import TypedDict

from typedpubsub import Hub, Key, PayloadValidationError, Subscriber, Topic
from typedpubsub._topic import convert_for_listener, validator_for
from typedpubsub.errors import InvalidKeyError, UnsupportedPayloadTypeError

from .helpers import Recorder

V = TypeVar("V")
W = TypeVar("W")


@dataclasses.dataclass
class Inner:
    x: int


class SubInner(Inner):
    pass


@dataclasses.dataclass
class Box(Generic[V]):
    item: V


@dataclasses.dataclass
class Forbidding:
    __pydantic_config__ = ConfigDict(extra="forbid", strict=True)
    x: int


@dataclasses.dataclass(frozen=True)
class Frozen:
    x: int


@dataclasses.dataclass
class Other:
    name: str


class Holder(pydantic.BaseModel):
    inner: Inner
    note: str = ""


@pydantic.dataclasses.dataclass
class PydanticHolder:
    inner: Inner


class HolderDict(pydantic.BaseModel):
    inners: dict[str, Inner]


def made(cls: Callable[..., W], *fields: Any) -> W:
    """An instance built without any check, as a dataclass constructor does."""
    return cls(*fields)


BAD = made(Inner, "zz")

# (payload type, invalid payload, failing path in the message)
INVALID_SHAPES: list[tuple[Any, object, str]] = [
    (Inner, BAD, "x"),
    (Inner, made(SubInner, "zz"), "x"),
    (list[Inner], [Inner(1), BAD], "1.x"),
    (tuple[Inner, ...], (BAD,), "0.x"),
    (dict[str, Inner], {"a": BAD}, "a.x"),
    (frozenset[Frozen], frozenset({made(Frozen, "zz")}), "0.x"),
    (list[Holder], [Holder.model_construct(inner=BAD)], "0.inner.x"),
    (Inner | None, BAD, "x"),
    (Inner | Other, BAD, "Inner.x"),
    (Box[Inner], Box(BAD), "item.x"),
    (Forbidding, made(Forbidding, "zz"), "x"),
    (Holder, Holder.model_construct(inner=BAD), "inner.x"),
    (Holder, {"inner": BAD}, "inner.x"),
    (PydanticHolder, {"inner": BAD}, "inner.x"),
    (HolderDict, HolderDict.model_construct(inners={"k": BAD}), "inners.k.x"),
]


def _mutated_pydantic_holder() -> PydanticHolder:
    holder = PydanticHolder(Inner(1))
    holder.inner = BAD
    return holder


INVALID_SHAPES.append((PydanticHolder, _mutated_pydantic_holder(), "inner.x"))


@pytest.mark.parametrize(("payload_type", "payload", "path"), INVALID_SHAPES)
async def test_nested_invalid_instances_are_refused_everywhere(
    payload_type: Any, payload: object, path: str
) -> None:
    """An invalid dataclass instance anywhere in a payload is refused and reaches nobody."""
    topic: Topic[Any] = Topic[Any]("shape", payload_type)
    got = Recorder()
    async with Hub() as hub, Subscriber(hub, "s") as subscriber:
        subscriber.add_sync_listener(topic, got.sync)
        with pytest.raises(PayloadValidationError, match=rf": {path}: " if path else ": "):
            hub.publish(topic, payload)
        with pytest.raises(PayloadValidationError, match=r"^payload on key \('shape',\)"):
            hub.publish(Key("shape"), payload)  # untyped: the typed listener still refuses it
    assert got.received == []


@pytest.mark.parametrize(
    ("payload_type", "payload"),
    [
        (list[Inner], [Inner(1), Inner(2)]),
        (tuple[Inner, ...], (Inner(1),)),
        (dict[str, Inner], {"a": Inner(1)}),
        (Inner | None, Inner(1)),
        (Box[Inner], Box(Inner(1))),
        (Forbidding, Forbidding(1)),
        (Holder, Holder(inner=Inner(1))),
        (PydanticHolder, PydanticHolder(Inner(1))),
        (list[Holder], [Holder(inner=Inner(1))]),
    ],
)
def test_valid_instances_are_delivered_as_the_same_object(
    payload_type: Any, payload: object
) -> None:
    """A valid payload that needs no coercion passes validation as the same object."""
    assert Topic[Any]("ok", payload_type).validate(payload) is payload


def test_valid_subclass_instance_is_delivered_as_is() -> None:
    """A subclass instance whose fields are valid is delivered as the same object."""
    sub = SubInner(3)
    assert Topic("inner", Inner).validate(sub) is sub
    listed = [sub]
    assert Topic[list[Inner]]("inners", list[Inner]).validate(listed) is listed


@dataclasses.dataclass
class Normalised:
    name: Annotated[str, AfterValidator(str.upper)]
    tags: list[str] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        self.tags = sorted(self.tags)


class Stripped(pydantic.BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)
    text: str


class Level(TypedDict):
    price: int


@pytest.mark.parametrize(
    ("payload_type", "payload", "expected"),
    [
        (Normalised, made(Normalised, "abc", ["b", "a"]), Normalised("ABC", ["a", "b"])),
        (list[Normalised], [made(Normalised, "x", [])], [Normalised("X", [])]),
        (Stripped, Stripped.model_construct(text=" x "), Stripped(text="x")),
        (list[Stripped], [Stripped.model_construct(text=" x ")], [Stripped(text="x")]),
        (Level, {"price": 1, "junk": 2}, {"price": 1}),
    ],
)
def test_rewritten_payloads_are_delivered_as_validated(
    payload_type: Any, payload: object, expected: object
) -> None:
    """Validators, __post_init__, str options and TypedDict keys that change a payload win."""
    got = Topic[Any]("rewritten", payload_type).validate(payload)
    assert got == expected
    assert got is not payload


def test_coerced_nested_instance_is_delivered_as_a_copy() -> None:
    """A nested instance pydantic must coerce is replaced by the coerced copy, the input kept."""
    loose = [made(Inner, "5")]
    got = Topic[list[Inner]]("l", list[Inner]).validate(loose)
    assert got == [Inner(5)]
    assert loose == [made(Inner, "5")]


def test_field_validator_result_is_what_is_delivered() -> None:
    """A payload a field validator changes is delivered as validated, not as published."""

    class Upper(pydantic.BaseModel):
        name: str

        @field_validator("name")
        @classmethod
        def upper(cls, value: str) -> str:
            return value.upper()

    raw = Upper.model_construct(name="abc")
    assert Topic("u", Upper).validate(raw).name == "ABC"
    valid = Upper(name="x")
    assert Topic("u", Upper).validate(valid) is valid


def test_pydantic_config_is_honoured_not_weakened() -> None:
    """A stdlib dataclass with extra='forbid', strict=True is validated at least as strictly."""
    topic = Topic("f", Forbidding)
    with pytest.raises(PayloadValidationError, match=r"x: Input should be a valid integer \(got"):
        topic.validate(made(Forbidding, "1"))
    with pytest.raises(PayloadValidationError, match=r"Input should be an instance of Forbidding"):
        topic.validate({"x": 1})  # strict: instances only
    valid = Forbidding(1)
    assert topic.validate(valid) is valid
    loose = Topic("l", Inner)
    assert loose.validate(made(Inner, "1")) == Inner(1)


def test_unresolvable_forward_references_are_refused_at_topic_time() -> None:
    """A type pydantic cannot resolve is an UnsupportedPayloadTypeError when the topic is made."""

    @dataclasses.dataclass
    class Dangling:
        other: NotDefinedAnywhere  # type: ignore[name-defined]  # noqa: F821  # pyright: ignore[reportUndefinedVariable]

    not_a_type: Any = "NotAType"  # a string annotation that never resolves
    with pytest.raises(
        UnsupportedPayloadTypeError,
        match=r"^payload_type must be a type pydantic can validate, got 'NotAType': "
        r"name 'NotAType' is not defined$",
    ):
        Topic("x", not_a_type)
    with pytest.raises(UnsupportedPayloadTypeError, match=r"NotDefinedAnywhere"):
        Topic("x", Dangling)


@dataclasses.dataclass
class Touchy:
    value: int

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        def check(value: Any) -> Any:
            if value.value < 0:
                raise TypeError("negative touchy")
            if value.value == 0:
                raise KeyError("zero")
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))


async def test_validator_raising_other_exceptions_is_a_validation_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A validator raising TypeError or KeyError refuses the payload; delivery goes on."""
    topic = Topic("t", Touchy)
    with pytest.raises(
        PayloadValidationError,
        match=r"^payload on key \('t',\) does not validate as Touchy, 1 error: "
        r"\(payload\): validation raised TypeError: negative touchy$",
    ):
        topic.validate(Touchy(-1))
    first, last = Recorder(), Recorder()
    async with Hub() as hub:
        hub.add_subscriber(topic, first.sync)
        hub.add_subscriber(Key("t"), last.sync)
        with (
            caplog.at_level(logging.ERROR, logger="typedpubsub"),
            pytest.raises(PayloadValidationError, match=r"validation raised KeyError: 'zero'"),
        ):
            hub.publish(Key("t"), {"value": 0})
        assert hub.statistics().failed == 1
    assert first.received == []
    assert last.messages == [{"value": 0}]  # the untyped listener after it still got it


@pytest.mark.slow
def test_huge_invalid_payload_gives_a_short_message() -> None:
    """A 1M-item invalid list lists 10 errors and short inputs; errors keeps every one."""
    topic = Topic[list[int]]("nums", list[int])
    with pytest.raises(PayloadValidationError) as caught:
        topic.validate(["x" * 1000] * 1_000_000)
    message = str(caught.value)
    assert len(message) < 3_000
    assert message.endswith("; ... and 999990 more")
    assert "xxx...'" in message or "xxx..." in message
    assert len(caught.value.errors) == 1_000_000


def _deep(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


@dataclasses.dataclass
class Tree:
    kids: list[Tree]


@dataclasses.dataclass
class Chain:
    after: Chain | None = None


def _deep_chain(depth: int) -> Chain:
    chain = Chain()
    for _ in range(depth):
        chain = Chain(chain)
    return chain


def _deep_tree(depth: int) -> Any:
    tree: Any = {"kids": []}
    for _ in range(depth):
        tree = {"kids": [tree]}
    return tree


@pytest.mark.parametrize(
    ("payload_type", "deep"),
    [
        (list[Any], _deep(100_000)),
        (int, _deep(100_000)),
        (pydantic.JsonValue, _deep(100_000)),
        (Box[Any], _deep(100_000)),
        (Tree, _deep_tree(100_000)),
        (Chain, _deep_chain(100_000)),
    ],
    ids=["list", "int", "json", "box", "tree", "chain"],
)
async def test_deeply_nested_payload_is_refused_cleanly(payload_type: Any, deep: Any) -> None:
    """A 100k-deep value is a short PayloadValidationError (or valid), never a RecursionError."""
    topic = Topic[Any]("deep", payload_type)
    got = Recorder()
    async with Hub() as hub:
        hub.add_subscriber(topic, got.sync)
        for key in (topic, Key("deep")):
            outcome = _publish_outcome(hub, key, deep)
            assert outcome == "ok" or len(outcome) < 1_000
    assert all(message is not None for message in got.messages)


def _publish_outcome(hub: Hub, key: Key[Any], message: object) -> str:
    try:
        hub.publish(key, message)
    except PayloadValidationError as error:
        return str(error)
    return "ok"


@pytest.mark.parametrize("key", ["", (), ("a", ""), ("", "*")])
def test_empty_keys_and_parts_are_refused(key: Any) -> None:
    """An empty key, or an empty part, is an InvalidKeyError when the topic is made."""
    with pytest.raises(
        InvalidKeyError, match=r"^key (must have at least one part|parts must not be empty), got "
    ):
        Topic(key, int)


def test_fill_accepts_the_part_names_of_the_schema_export() -> None:
    """Unnamed wildcards are filled by the part<N> names the schema export gives them."""
    topic = Topic(("*", "trade", "*"), Inner)
    assert tuple(topic.fill(part0="X", part2="Y")) == ("X", "trade", "Y")
    assert tuple(topic.fill(part2="Y")) == ("*", "trade", "Y")
    with pytest.raises(
        TypeError,
        match=r"^fill got unknown parameter names \['part1'\], topic has \('part0', 'part2'\)$",
    ):
        topic.fill(part1="X")


def test_validator_cache_releases_short_lived_types() -> None:
    """3,000 short-lived payload types and their topics are freed: the cache holds them weakly."""
    refs = []
    for index in range(3_000):
        short = dataclasses.make_dataclass(f"Short{index}", [("x", int)])
        topic = Topic[Any]("short", short)
        assert topic.validate({"x": index}) == short(index)
        refs.append(weakref.ref(short))
        del short, topic
    gc.collect()
    alive = sum(ref() is not None for ref in refs)
    assert alive <= 1, f"{alive} payload types are still alive"


def test_validators_are_shared_while_a_topic_lives() -> None:
    """Topics of one type share one validator as long as one of them is alive."""
    first = Topic("a", Inner)
    assert validator_for(Inner, False) is first._validator
    assert Topic("b", Inner)._validator is first._validator
    assert Topic("c", Inner, trust_instances=True)._validator is not first._validator


def test_constrained_fields_are_revalidated() -> None:
    """Field and Annotated constraints are checked on instances, nested ones too."""

    @dataclasses.dataclass
    class Bounded:
        a: Annotated[int, Field(gt=0)]
        b: list[Annotated[str, Field(max_length=2)]]

    topic = Topic[list[Bounded]]("b", list[Bounded])
    with pytest.raises(PayloadValidationError, match=r"0\.a: Input should be greater than 0"):
        topic.validate([Bounded(0, [])])
    with pytest.raises(PayloadValidationError, match=r"0\.b\.0: String should have at most 2"):
        topic.validate([Bounded(1, ["abc"])])


class InnerDict(TypedDict):
    x: int


def test_convert_for_listener_raises_only_payload_validation_errors() -> None:
    """The hub's listener-side conversion returns a valid payload or raises PayloadValidationError."""
    as_dict = Topic("inner", InnerDict)
    source = Topic("inner", Inner)._validator
    assert convert_for_listener(as_dict, ("inner",), Inner(1), source) == {"x": 1}
    with pytest.raises(
        PayloadValidationError, match=r"^payload on key \('inner',\) does not validate as InnerDict"
    ):
        convert_for_listener(as_dict, ("inner",), BAD, source)
    with pytest.raises(PayloadValidationError, match=r"validation raised TypeError: negative"):
        convert_for_listener(Topic("t", Touchy), ("t",), Touchy(-1), None)
