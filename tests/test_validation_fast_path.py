"""The fast path for an exact dataclass or model instance gives the full strict pass's verdict."""

from __future__ import annotations

import dataclasses
import decimal
from typing import Annotated, Any

import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import AfterValidator, ConfigDict, Field, ValidationError

from typedpubsub import PayloadValidationError, Topic
from typedpubsub._topic import Validator

from .payload_types import CORRUPT, Family, Spec, corruptions, leaf_paths, replaced, specs, values

Outcome = tuple[Any, ...]


def _outcome(validator: Validator[Any], payload: object) -> Outcome:
    """What validation makes of ``payload``: the same object, a copy, or the errors."""
    try:
        result = validator.validate(payload)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        return ("refused", [(e["type"], e["loc"], e["msg"]) for e in errors])
    if result is payload:
        return ("same",)
    return ("copy", type(result), result)


def _full(payload_type: Any) -> Validator[Any]:
    """A validator of ``payload_type`` that always takes the full path."""
    validator: Validator[Any] = Validator(payload_type, False)
    validator._fast = None
    return validator


def _assert_agree(payload_type: Any, payload: object) -> Outcome:
    fast: Validator[Any] = Validator(payload_type, False)
    got = _outcome(fast, payload)
    assert got == _outcome(_full(payload_type), payload)
    return got


def _mutate(instance: Any, how: str, field: str) -> bool:
    """Change a built instance behind its class's back; False if it cannot be done."""
    fields: Any = instance.__dict__ if isinstance(instance, pydantic.BaseModel) else None
    try:
        if how == "delete":
            if fields is not None:
                del fields[field]
            else:
                object.__delattr__(instance, field)
        elif how == "extra":
            object.__setattr__(instance, "unexpected", 1)
        elif how == "wrong":
            if fields is not None:
                fields[field] = CORRUPT
            else:
                object.__setattr__(instance, field, CORRUPT)
    except (AttributeError, TypeError, ValueError):  # slots, frozen models, tuples
        return False
    return True


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fast_path_agrees_with_the_full_path(data: st.DataObject) -> None:
    """Over generated types, valid, corrupted and tampered-with instances: the same verdict."""
    spec: Spec = data.draw(specs(), label="spec")
    value = data.draw(values(spec), label="value")
    family = Family(oracle=False)
    payload_type = family.type_of(spec)
    payload = family.build(spec, value)
    if data.draw(st.booleans(), label="corrupt a leaf"):
        leaves = leaf_paths(spec, value)
        if leaves:
            _, tree_path, kind = data.draw(st.sampled_from(leaves), label="leaf")
            broken = data.draw(st.sampled_from(corruptions(kind)), label="corruption")
            payload = family.build(spec, replaced(value, tree_path, broken))
    if spec.kind == "record":
        how = data.draw(st.sampled_from(["none", "delete", "extra", "wrong"]), label="tamper")
        field = f"f{data.draw(st.integers(0, len(spec.children) - 1), label='field')}"
        _mutate(payload, how, field)
    _assert_agree(payload_type, payload)


@dataclasses.dataclass
class Trade:
    timestamp: float
    quantity: int
    price: decimal.Decimal


class TradeModel(pydantic.BaseModel):
    timestamp: float
    quantity: int
    price: decimal.Decimal


@dataclasses.dataclass
class Defaults:
    count: int = 0
    tags: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Short:
    __pydantic_config__ = ConfigDict(str_max_length=3)
    name: str


@dataclasses.dataclass
class Chain:
    value: int
    next: Chain | None = None


class Aliased(pydantic.BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str = Field(validation_alias="Name")


def _constructed(cls: Any, **fields: Any) -> Any:
    """A model instance built without validation from any field values."""
    return cls.model_construct(**fields)


def _made(cls: Any, **fields: Any) -> Any:
    instance = cls.__new__(cls)
    for name, value in fields.items():
        object.__setattr__(instance, name, value)
    return instance


def _looped() -> Chain:
    chain = Chain(1)
    chain.next = chain
    return chain


def _aliased_with_bad_extra() -> Aliased:
    instance = Aliased.model_validate({"Name": "x"})
    assert instance.__pydantic_extra__ is not None
    instance.__pydantic_extra__["more"] = object()  # extra='allow' takes any value
    return instance


@pytest.mark.parametrize(
    ("payload_type", "payload", "verdict"),
    [
        (Trade, Trade(1.5, 2, decimal.Decimal("3")), "same"),
        (Trade, _made(Trade, timestamp=1.5, quantity="2", price=decimal.Decimal(3)), "copy"),
        (Trade, _made(Trade, timestamp=1.5, quantity=[], price=decimal.Decimal(3)), "refused"),
        (Trade, _made(Trade, timestamp=1.5, quantity=2), "refused"),
        (TradeModel, TradeModel(timestamp=1.5, quantity=2, price=decimal.Decimal(3)), "same"),
        (
            TradeModel,
            _constructed(TradeModel, timestamp=1.5, quantity="2", price=decimal.Decimal(3)),
            "copy",
        ),
        (TradeModel, _constructed(TradeModel, timestamp=1.5, quantity=2), "refused"),
        (Defaults, _made(Defaults, count=1), "refused"),
        # The class attribute is what attribute access (and the listener) reads: valid.
        (Defaults, _made(Defaults, tags=[]), "same"),
        (Short, Short("abcd"), "refused"),
        (Short, Short("abc"), "same"),
        (Chain, Chain(1, Chain(2)), "same"),
        (Chain, _looped(), "refused"),
        (Aliased, Aliased.model_validate({"Name": "x"}), "same"),
        (Aliased, _aliased_with_bad_extra(), "same"),
    ],
)
def test_hostile_instances_get_the_full_paths_verdict(
    payload_type: Any, payload: object, verdict: str
) -> None:
    """Deleted, missing, coercible, invalid, constrained and looping fields: the same verdict."""
    assert _assert_agree(payload_type, payload)[0] == verdict


def test_a_field_shadowed_after_the_topic_was_made_is_read_as_attribute_access_reads_it() -> None:
    """A field the class later turns into a property is validated as the property's value."""

    @dataclasses.dataclass
    class Patched:
        count: int

    topic = Topic("patched", Patched)
    payload = Patched(1)
    assert topic.validate(payload) is payload
    tampered: Any = Patched
    tampered.count = property(lambda self: "not a number")
    with pytest.raises(PayloadValidationError, match=r"count: Input should be a valid integer"):
        topic.validate(payload)


def test_subclass_instances_with_bad_fields_are_refused() -> None:
    """A subclass instance takes the full path, which refuses bad fields of the base class."""

    @dataclasses.dataclass
    class Sub(Trade):
        extra: str = ""

    class SubModel(TradeModel):
        pass

    bad = _made(Sub, timestamp=1.5, quantity=[], price=decimal.Decimal(3), extra="")
    assert _assert_agree(Trade, bad)[0] == "refused"
    bad_model = _constructed(SubModel, timestamp=1.5, quantity=[], price=decimal.Decimal(3))
    assert _assert_agree(TradeModel, bad_model)[0] == "refused"
    good = Sub(1.5, 2, decimal.Decimal(3))
    assert _assert_agree(Trade, good)[0] == "same"


@dataclasses.dataclass
class Rewritten:
    name: Annotated[str, AfterValidator(str.upper)]


@dataclasses.dataclass
class PostInit:
    count: int

    def __post_init__(self) -> None:
        self.count += 1


class Wrapped(pydantic.RootModel[int]):
    pass


@pytest.mark.parametrize(
    ("payload_type", "fast"),
    [
        (Trade, True),
        (TradeModel, True),
        (Chain, True),
        (Aliased, True),
        (Rewritten, False),  # a validator may rewrite: the copy must be compared
        (PostInit, False),  # __post_init__ runs on the copy
        (Wrapped, False),  # a root model validates its root
        (list[Trade], False),  # only the payload type's own class
    ],
)
def test_fast_path_is_taken_where_it_gives_the_same_verdict(payload_type: Any, fast: bool) -> None:
    """Plain dataclasses and models take the fast path; a copy that may differ does not."""
    assert (Validator(payload_type, False)._fast is not None) is fast
    assert Validator(payload_type, True)._fast is None
