"""Adversarial trial of validation soundness: payload shapes and inputs the other tests miss."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, NamedTuple, cast

import nats
import pydantic
import pytest
from pydantic import AfterValidator

from typedpubsub import LISTENER_ERROR, Hub, Key, PayloadValidationError, Subscriber, Topic
from typedpubsub.nats import BRIDGE_ERROR, NatsBridge
from typedpubsub.testing.natsserver import NatsServer

from .helpers import Recorder

NOT_AN_INT: Any = "x"
"""The corruption under test, typed Any so that the checkers let it through."""


@dataclasses.dataclass
class Point:
    x: int


class Numbers(pydantic.RootModel[list[int]]):
    pass


class Points(pydantic.RootModel[list[Point]]):
    pass


class Wrapper(pydantic.BaseModel):
    numbers: Numbers


def _typed_hub(topic: Topic[Any]) -> tuple[Hub, Recorder]:
    hub = Hub()
    recorder = Recorder()
    hub.add_subscriber(topic, recorder.sync)
    return hub, recorder


def test_root_model_instances_are_revalidated() -> None:
    """A RootModel instance whose root is invalid (built unchecked or mutated) reaches nobody."""
    topic = Topic("numbers", Numbers)
    hub, typed = _typed_hub(topic)
    valid = Numbers([1, 2])
    hub.publish(topic, valid)
    assert typed.messages == [valid]
    assert typed.messages[0] is valid
    mutated = Numbers([1])
    mutated.root.append(NOT_AN_INT)
    invalid = [Numbers.model_construct([NOT_AN_INT]), mutated]
    for payload in invalid:
        with pytest.raises(PayloadValidationError, match=r"^payload on key \('numbers',\)"):
            hub.publish(topic, payload)
    assert len(typed.received) == 1


def test_root_models_nested_and_holding_instances_are_revalidated() -> None:
    """Invalid instances inside a RootModel, or a RootModel inside a model, are refused."""
    wrapped = Topic("wrapped", Wrapper)
    points = Topic("points", Points)
    hub = Hub()
    typed = Recorder()
    hub.add_subscriber(wrapped, typed.sync)
    hub.add_subscriber(points, typed.sync)
    good = Wrapper(numbers=Numbers([1]))
    hub.publish(wrapped, good)
    assert typed.messages[-1] is good
    bad = Wrapper.model_construct(numbers=Numbers.model_construct([NOT_AN_INT]))
    with pytest.raises(PayloadValidationError, match=r"numbers\.0: "):
        hub.publish(wrapped, bad)
    with pytest.raises(PayloadValidationError, match=r"^payload on key \('points',\)"):
        hub.publish(points, Points([Point(NOT_AN_INT)]))
    with pytest.raises(PayloadValidationError, match=r"0\.x: "):
        hub.publish(Key("points"), [Point(NOT_AN_INT)])
    hub.publish(Key("points"), [{"x": "3"}])
    assert typed.messages[-1] == Points([Point(3)])
    assert len(typed.received) == 2


class _Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text for this exception")


def _refuse(value: int) -> int:
    raise _Unprintable


def test_validator_raising_an_unprintable_exception_is_a_validation_error() -> None:
    """A validator's exception whose str() fails refuses the payload; nothing else escapes."""
    topic = Topic("k", Annotated[int, AfterValidator(_refuse)])
    hub, typed = _typed_hub(topic)
    with pytest.raises(PayloadValidationError, match=r"validation raised _Unprintable"):
        hub.publish(topic, 1)
    with pytest.raises(PayloadValidationError, match=r"validation raised _Unprintable"):
        hub.publish(Key("k"), 1)
    assert typed.received == []


async def test_topic_of_an_unhashable_payload_type_subscribes_and_unsubscribes() -> None:
    """A payload type with unhashable metadata subscribes, delivers and unsubscribes cleanly."""
    topic = Topic("k", Annotated[int, {"unit": "ms"}])
    other = Topic("k", Annotated[int, {"unit": "ms"}])
    async with Hub() as hub, Subscriber(hub, "s") as subscriber:
        typed, second = Recorder(), Recorder()
        subscriber.add_sync_listener(topic, typed.sync)
        subscriber.add_sync_listener(other, second.sync)  # a distinct but equal payload type
        subscriber.add_async_listener(topic, typed.async_)
        subscriber.add_sync_listener(Topic("*", str), Recorder().sync)  # overlaps: warns
        hub.publish(topic, 1)
        await asyncio.wait_for(subscriber.remove_all_listeners(), 5)
        assert not hub.has_subscribers(Key("k"))
        assert typed.messages == [1, 1]
        assert second.messages == [1]


class AnyRoot(pydantic.RootModel[Any]):
    pass


def test_root_model_instances_in_a_union_keep_their_class() -> None:
    """In a union of root models, an instance of one is delivered as is, not as another's root."""
    topic = Topic("k", AnyRoot | Numbers)
    hub, typed = _typed_hub(topic)
    numbers = Numbers([1])
    hub.publish(topic, numbers)
    assert typed.messages[-1] is numbers
    hub.publish(topic, cast(Any, 3))  # raw input: pydantic picks the first member
    assert typed.messages[-1] == AnyRoot(3)


class OwnInit(pydantic.BaseModel):
    x: int
    doubled: int = 0

    def __init__(self, x: int) -> None:
        super().__init__(x=x, doubled=2 * x)


def test_models_with_their_own_init_are_revalidated() -> None:
    """A model with its own __init__ is revalidated; a dict still goes through that __init__."""
    topic = Topic("k", list[OwnInit])
    hub, typed = _typed_hub(topic)
    valid = [OwnInit(2)]
    hub.publish(topic, valid)
    assert typed.messages[-1] is valid
    with pytest.raises(PayloadValidationError, match=r"^payload on key .*, 1 error: 0\.x: "):
        hub.publish(topic, [OwnInit.model_construct(x=NOT_AN_INT)])
    hub.publish(Key("k"), [{"x": 3}])
    assert typed.messages[-1] == [OwnInit(3)]
    assert typed.messages[-1][0].doubled == 6
    assert len(typed.received) == 2


def test_raw_root_input_is_delivered_as_the_root_model() -> None:
    """A root value published for a RootModel topic arrives as the model, not as the raw value."""
    topic = Topic("numbers", Numbers)
    hub, typed = _typed_hub(topic)
    hub.publish(Key("numbers"), [1, 2])
    hub.publish(topic, cast(Any, [3]))  # raw input pydantic validates into T
    assert typed.messages == [Numbers([1, 2]), Numbers([3])]
    assert all(type(message) is Numbers for message in typed.messages)


class Pair(NamedTuple):
    number: int
    name: str


def test_named_tuples_are_delivered_as_named_tuples() -> None:
    """Plain tuples or JSON arrays for a NamedTuple arrive as that NamedTuple, wherever nested."""
    pairs = Topic("pairs", list[Pair])
    pair = Topic("pair", Pair)
    hub = Hub()
    typed = Recorder()
    hub.add_subscriber(pairs, typed.sync)
    hub.add_subscriber(pair, typed.sync)
    valid = [Pair(1, "a")]
    hub.publish(pairs, valid)
    assert typed.messages[-1] is valid
    hub.publish(Key("pairs"), json.loads('[[2, "b"]]'))
    hub.publish(pairs, cast(Any, [(3, "c")]))  # raw input pydantic validates into T
    hub.publish(Key("pair"), (4, "d"))
    assert typed.messages[1:] == [[Pair(2, "b")], [Pair(3, "c")], Pair(4, "d")]
    assert [type(m[0]) for m in typed.messages[1:3]] == [Pair, Pair]
    assert type(typed.messages[3]) is Pair
    with pytest.raises(PayloadValidationError, match=r"0\.number: "):
        hub.publish(pairs, [Pair(NOT_AN_INT, "e")])
    assert len(typed.received) == 4


async def test_listener_raising_an_unprintable_exception_is_isolated_and_reported() -> None:
    """A listener's exception whose str() fails is reported; others and the publisher go on."""
    async with Hub() as hub, Subscriber(hub, "s") as subscriber:
        failures, others = Recorder(), Recorder()

        def sync_failing(key: Key, message: object) -> None:
            raise _Unprintable

        async def async_failing(key: Key, message: object) -> None:
            raise _Unprintable

        subscriber.add_sync_listener(LISTENER_ERROR, failures.sync)
        subscriber.add_sync_listener(Key("k"), sync_failing)
        subscriber.add_async_listener(Key("k"), async_failing)
        subscriber.add_sync_listener(Key("k"), others.sync)
        hub.publish(Key("k"), 1)
        hub.publish(Key("k"), 2)
        assert others.messages == [1, 2]
        await failures.wait_for(4)
        assert {failure.error_type for failure in failures.messages} == {"_Unprintable"}
        assert hub.statistics().failed == 4
        assert [s.failed for s in subscriber.statistics()] == [0, 2, 2, 0]


class Base(pydantic.BaseModel):
    x: int


class Derived(Base):
    y: str = ""


def test_valid_subclass_instances_of_a_model_are_delivered_as_is() -> None:
    """A subclass instance whose base fields are valid arrives as is, not as a base-class copy."""
    topic = Topic("k", list[Base])
    hub, typed = _typed_hub(topic)
    valid: list[Base] = [Derived(x=1, y="kept")]
    hub.publish(topic, valid)
    assert typed.messages[-1] is valid
    invalid: list[Base] = [Derived.model_construct(x=NOT_AN_INT)]
    with pytest.raises(PayloadValidationError, match=r"0\.x: "):
        hub.publish(topic, invalid)
    assert len(typed.received) == 1


def test_listener_for_a_container_of_another_type_is_refused() -> None:
    """A listener taking list[B] for a Topic[list[A]] is refused; supertypes and bare ones are not."""
    topic = Topic("k", list[Point])
    hub = Hub()

    def takes_strings(key: Key, message: list[str]) -> None: ...

    def takes_mapping(key: Key, message: dict[str, list[str]]) -> None: ...

    callback: Any
    for callback in (takes_strings,):
        with pytest.raises(
            TypeError, match=r"^callback .*takes_strings takes message: list\[str\]"
        ):
            hub.add_subscriber(topic, callback)
    with pytest.raises(TypeError, match=r"^callback .*takes_mapping takes message: "):
        hub.add_subscriber(Topic("m", dict[str, list[int]]), takes_mapping)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]

    def takes_objects(key: Key, message: list[object]) -> None: ...

    def takes_sequence(key: Key, message: Sequence[Point]) -> None: ...

    def takes_bare(key: Key, message: list) -> None: ...  # type: ignore[type-arg]  # a bare list on purpose

    def takes_tuple(key: Key, message: tuple[int, ...]) -> None: ...

    hub.add_subscriber(topic, takes_objects)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    hub.add_subscriber(topic, takes_sequence)
    hub.add_subscriber(topic, takes_bare)
    hub.add_subscriber(Topic("t", tuple[int, int]), takes_tuple)
    assert hub.statistics().subscriptions == 4


async def test_sync_subscribe_checks_the_callback_that_will_receive() -> None:
    """A subscription id's existing callback, which receives the messages, must fit the topic."""
    async with Hub() as hub, Subscriber(hub, "s") as subscriber:
        received = Recorder()

        def on_number(key: Key, message: int) -> None:
            received.sync(key, message)

        def on_point(key: Key, message: Point) -> None: ...

        subscriber.sync_subscribe(Topic("n", int), on_number, "x")
        with pytest.raises(TypeError, match=r"^callback .*on_number takes message: int"):
            subscriber.sync_subscribe(Topic("p", Point), on_point, "x")
        hub.publish(Topic("p", Point), Point(1))
        hub.publish(Topic("n", int), 2)
        assert received.messages == [2]


def _no_sevens(value: int) -> int:
    if value == 7:
        raise TypeError("seven is not a number here")
    return value


async def test_bridge_refuses_a_payload_whose_validator_raises_type_error(tmp_path: Path) -> None:
    """A message from NATS whose validation raises TypeError is rejected and reported, not raised."""
    topic = Topic("numbers", Annotated[int, AfterValidator(_no_sevens)])
    server = NatsServer(tmp_path)
    server.start()
    try:
        async with Hub() as hub:
            failures, numbers = Recorder(), Recorder()
            hub.add_subscriber(BRIDGE_ERROR, failures.sync)
            hub.add_subscriber(topic, numbers.sync)
            async with NatsBridge(hub, [topic], servers=server.url) as bridge:
                raw = await nats.connect(server.url)
                for data in (b"7", b"8"):
                    await raw.publish("numbers", data)
                await raw.flush()
                await raw.close()
                await numbers.wait_for(1)
                await failures.wait_for(1)
                stats = bridge.statistics()
            assert numbers.messages == [8]
            assert [failure.reason for failure in failures.messages] == ["invalid_payload"]
            assert "TypeError" in failures.messages[0].error
            assert stats.rejected == 1
    finally:
        server.stop()
