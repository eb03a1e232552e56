"""Generated payload types for the validation property tests.

A :class:`Spec` describes a payload type as a tree (records, containers, unions, generic
classes, constrained leaves). Each spec is realised twice, with the same shape: the *plain* family
is what users write; in the *oracle* family every class carries
``revalidate_instances='always'``, so pydantic's own validation of an oracle instance is the
verdict ours must agree with. Values are JSON-like trees (a dict per record, a list per list or
tuple) from which instances of either family, or the JSON form, are built.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from typing import Annotated, Any, Generic, Literal, NamedTuple, Optional, TypeVar, Union

import pydantic
from hypothesis import strategies as st
from pydantic import AfterValidator, ConfigDict, Field
from typing_extensions import TypedDict

V = TypeVar("V")

CORRUPT = ["corrupt"]
"""A leaf value that no leaf type accepts (and that JSON can carry)."""


@dataclasses.dataclass
class Box(Generic[V]):
    # A config of its own, as OracleBox has: a dataclass without one takes its parent's.
    __pydantic_config__ = ConfigDict()
    item: V


@dataclasses.dataclass
class OracleBox(Generic[V]):
    __pydantic_config__ = ConfigDict(revalidate_instances="always")
    item: V


def _not_13(value: int) -> int:
    if value == 13:
        raise ValueError("13 is unlucky")
    return value


# leaf name -> (annotation, strategy of valid values, constraint-breaking value or None)
LEAVES: dict[str, tuple[Any, st.SearchStrategy[Any], Any]] = {
    "int": (int, st.integers(-1000, 1000), None),
    "str": (str, st.text(max_size=5), None),
    "bool": (bool, st.booleans(), None),
    "nonneg": (Annotated[int, Field(ge=0)], st.integers(0, 1000), -1),
    "short": (Annotated[str, Field(max_length=3)], st.text(max_size=3), "toolong"),
    "not13": (Annotated[int, AfterValidator(_not_13)], st.integers(14, 99), 13),
    "literal": (Literal["a", "b"], st.sampled_from(["a", "b"]), "c"),
}

RECORD_KINDS = (
    "dataclass",
    "model",
    "pydantic_dataclass",
    "typeddict",
    "frozen_dataclass",
    "slots_dataclass",
    "namedtuple",
)
CONFIGS: dict[str, dict[str, Any]] = {
    "none": {},
    "forbid": {"extra": "forbid"},
    "strict": {"strict": True},
}


@dataclasses.dataclass(frozen=True)
class Spec:
    """One node of a payload type: ``kind`` with its ``children`` (and record details)."""

    kind: str  # a LEAVES name, "record", "list", "tuple", "dict", "optional", "union", "box",
    # "root" (a RootModel)
    children: tuple[Spec, ...] = ()
    record: str = ""  # a RECORD_KINDS name, for records
    config: str = "none"  # a CONFIGS name, for records


def specs(max_leaves: int = 6) -> st.SearchStrategy[Spec]:
    """Payload type specs, nested, with records at the top more often than not."""
    leaves = st.sampled_from(sorted(LEAVES)).map(Spec)

    def extend(inner: st.SearchStrategy[Spec]) -> st.SearchStrategy[Spec]:
        records = st.builds(
            # A NamedTuple takes no pydantic config.
            lambda fields, kind, config: Spec(
                "record", tuple(fields), kind, "none" if kind == "namedtuple" else config
            ),
            st.lists(inner, min_size=1, max_size=3),
            st.sampled_from(RECORD_KINDS),
            st.sampled_from(sorted(CONFIGS)),
        )
        unary = st.builds(
            lambda kind, child: Spec(kind, (child,)),
            st.sampled_from(["list", "tuple", "dict", "optional", "box", "root"]),
            inner,
        )
        # Union members are records of distinct classes, so an instance picks one member (a
        # NamedTuple is a tuple that another NamedTuple member would take too).
        members = records.filter(lambda s: s.record not in ("typeddict", "namedtuple"))
        record_union = st.builds(lambda a, b: Spec("union", (a, b)), members, members)
        return records | unary | record_union

    return st.recursive(leaves, extend, max_leaves=max_leaves)


_names = itertools.count()


class Family:
    """Realises specs as Python types, plain or oracle (revalidating everywhere)."""

    def __init__(self, oracle: bool) -> None:
        self.oracle = oracle
        self._types: dict[Spec, Any] = {}

    def type_of(self, spec: Spec) -> Any:
        found = self._types.get(spec)
        if found is None:
            found = self._types[spec] = self._make(spec)
        return found

    def _make(self, spec: Spec) -> Any:
        if spec.kind in LEAVES:
            return LEAVES[spec.kind][0]
        children = [self.type_of(child) for child in spec.children]
        if spec.kind == "list":
            return list[children[0]]  # type: ignore[valid-type]  # a generated type
        if spec.kind == "tuple":
            return tuple[children[0], ...]  # type: ignore[valid-type]  # a generated type
        if spec.kind == "dict":
            return dict[str, children[0]]  # type: ignore[valid-type]  # a generated type
        if spec.kind == "optional":
            return Optional[children[0]]  # noqa: UP045  # a generated type
        if spec.kind == "union":
            return Union[children[0], children[1]]  # noqa: UP007  # a generated type
        if spec.kind == "box":
            box: Any = OracleBox if self.oracle else Box
            return box[children[0]]
        if spec.kind == "root":
            config = ConfigDict(revalidate_instances="always") if self.oracle else ConfigDict()
            root: Any = pydantic.RootModel[children[0]]  # type: ignore[valid-type]  # a generated type
            return type(f"Root{next(_names)}", (root,), {"model_config": config})
        return self._record(spec, children)

    def _record(self, spec: Spec, children: list[Any]) -> Any:
        config = ConfigDict(**CONFIGS[spec.config])  # type: ignore[typeddict-item]  # from CONFIGS
        if self.oracle:
            config["revalidate_instances"] = "always"
        name = f"{spec.record.title().replace('_', '')}{next(_names)}"
        fields = {f"f{index}": child for index, child in enumerate(children)}
        if spec.record == "model":
            definitions: Any = {field: (tp, ...) for field, tp in fields.items()}
            return pydantic.create_model(name, __config__=config, **definitions)
        if spec.record == "typeddict":
            make_typeddict: Any = TypedDict  # called with a name and fields built at run time
            made: Any = make_typeddict(name, fields)
            made.__pydantic_config__ = config
            return made
        if spec.record == "namedtuple":
            make_namedtuple: Any = NamedTuple  # called with a name and fields built at run time
            return make_namedtuple(name, list(fields.items()))
        stdlib = dataclasses.make_dataclass(
            name,
            list(fields.items()),
            frozen=spec.record == "frozen_dataclass",
            slots=spec.record == "slots_dataclass",
        )
        if spec.record in ("dataclass", "frozen_dataclass", "slots_dataclass"):
            stdlib.__pydantic_config__ = config  # type: ignore[attr-defined]  # pydantic reads it
            return stdlib
        return pydantic.dataclasses.dataclass(config=config)(stdlib)

    def build(self, spec: Spec, value: Any) -> Any:
        """An instance of ``spec``'s type holding ``value``, built without any validation."""
        if spec.kind in LEAVES:
            return value
        if spec.kind == "list":
            return [self.build(spec.children[0], item) for item in value]
        if spec.kind == "tuple":
            return tuple(self.build(spec.children[0], item) for item in value)
        if spec.kind == "dict":
            return {key: self.build(spec.children[0], item) for key, item in value.items()}
        if spec.kind == "optional":
            return None if value is None else self.build(spec.children[0], value)
        if spec.kind == "union":
            member, inner = value
            return self.build(spec.children[member], inner)
        if spec.kind == "box":
            return (OracleBox if self.oracle else Box)(self.build(spec.children[0], value))
        cls = self.type_of(spec)
        if spec.kind == "root":
            return cls.model_construct(self.build(spec.children[0], value))
        fields = {
            f"f{index}": self.build(child, value[f"f{index}"])
            for index, child in enumerate(spec.children)
        }
        if spec.record == "typeddict":
            return fields
        if spec.record == "model":
            return cls.model_construct(**fields)
        if spec.record == "namedtuple":
            return cls(*fields.values())  # a NamedTuple checks nothing
        instance = cls.__new__(cls)
        for field, item in fields.items():
            object.__setattr__(instance, field, item)  # no __init__: nothing is checked
        return instance


def values(spec: Spec) -> st.SearchStrategy[Any]:
    """Valid value trees for ``spec``: JSON-like, a union's value tagged with its member."""
    if spec.kind in LEAVES:
        return LEAVES[spec.kind][1]
    if spec.kind in ("list", "tuple"):
        return st.lists(values(spec.children[0]), max_size=3)
    if spec.kind == "dict":
        return st.dictionaries(st.text(max_size=3), values(spec.children[0]), max_size=3)
    if spec.kind == "optional":
        return st.none() | values(spec.children[0])
    if spec.kind in ("box", "root"):
        return values(spec.children[0])
    if spec.kind == "union":
        return st.one_of(
            *(st.tuples(st.just(i), values(child)) for i, child in enumerate(spec.children))
        )
    return st.fixed_dictionaries(
        {f"f{index}": values(child) for index, child in enumerate(spec.children)}
    )


def leaf_paths(spec: Spec, value: Any) -> list[tuple[tuple[Any, ...], Any, str]]:
    """Every leaf of ``value``: its path in the payload (as pydantic locates errors), the
    path in the value tree, and the leaf's kind."""
    found: list[tuple[tuple[Any, ...], Any, str]] = []

    def walk(node: Spec, item: Any, where: tuple[Any, ...], tree: tuple[Any, ...]) -> None:
        if node.kind in LEAVES:
            found.append((where, tree, node.kind))
        elif node.kind in ("list", "tuple"):
            for index, element in enumerate(item):
                walk(node.children[0], element, (*where, index), (*tree, index))
        elif node.kind == "dict":
            for key, element in item.items():
                walk(node.children[0], element, (*where, key), (*tree, key))
        elif node.kind == "optional":
            if item is not None:
                walk(node.children[0], item, where, tree)
        elif node.kind == "box":
            walk(node.children[0], item, (*where, "item"), tree)
        elif node.kind == "root":
            walk(node.children[0], item, where, tree)
        elif node.kind == "union":
            member, inner = item
            walk(node.children[member], inner, where, (*tree, 1))
        else:
            for index, child in enumerate(node.children):
                field = f"f{index}"
                walk(child, item[field], (*where, field), (*tree, field))

    walk(spec, value, (), ())
    return found


def replaced(value: Any, tree_path: tuple[Any, ...], new: Any) -> Any:
    """A copy of the value tree with the leaf at ``tree_path`` replaced by ``new``."""
    if not tree_path:
        return new
    head, rest = tree_path[0], tree_path[1:]
    if isinstance(value, tuple):  # a union's (member, value)
        return (value[0], replaced(value[1], rest, new))
    if isinstance(value, list):
        copy = list(value)
        copy[head] = replaced(value[head], rest, new)
        return copy
    return {**value, head: replaced(value[head], rest, new)}


def to_json(spec: Spec, value: Any) -> Any:
    """The JSON form of a value tree (what an untyped publisher would send)."""
    if spec.kind in LEAVES:
        return value
    if spec.kind in ("list", "tuple"):
        return [to_json(spec.children[0], item) for item in value]
    if spec.kind == "dict":
        return {key: to_json(spec.children[0], item) for key, item in value.items()}
    if spec.kind == "optional":
        return None if value is None else to_json(spec.children[0], value)
    if spec.kind == "box":
        return {"item": to_json(spec.children[0], value)}
    if spec.kind == "root":
        return to_json(spec.children[0], value)
    if spec.record == "namedtuple":
        return [to_json(child, value[f"f{index}"]) for index, child in enumerate(spec.children)]
    if spec.kind == "union":
        member, inner = value
        return to_json(spec.children[member], inner)
    return {
        f"f{index}": to_json(child, value[f"f{index}"]) for index, child in enumerate(spec.children)
    }


def corruptions(kind: str) -> list[Any]:
    """Values that break a leaf of ``kind``: a wrong type, and its constraint if it has one."""
    breaking = LEAVES[kind][2]
    return [CORRUPT] if breaking is None else [CORRUPT, breaking]


def contains_strict(spec: Spec) -> bool:
    """Whether a record under ``spec`` is strict (its JSON form then cannot validate)."""
    return spec.config == "strict" or any(contains_strict(child) for child in spec.children)


Checker = Callable[[Any], Any]
