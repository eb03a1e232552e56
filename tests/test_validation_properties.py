"""Property test of validation soundness over generated payload types (see payload_types.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from typedpubsub import Hub, Key, PayloadValidationError, Topic

from .helpers import Recorder
from .payload_types import (
    Family,
    Spec,
    corruptions,
    leaf_paths,
    replaced,
    specs,
    to_json,
    values,
)


def _oracle_accepts(oracle_type: Any, payload: object) -> bool:
    try:
        TypeAdapter(oracle_type).validate_python(payload)
    except ValidationError:
        return False
    return True


def _part(part: int | str) -> str:
    """A location part as error messages show it: a key that is empty or has a dot is quoted."""
    return repr(part) if part == "" or "." in str(part) else str(part)


def _within(path: Sequence[Any], loc: Sequence[Any]) -> bool:
    """Whether ``path`` is ``loc`` with some parts (union member tags) left out."""
    parts = iter(loc)
    return all(any(part == wanted for part in parts) for wanted in path)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_generated_payload_types_deliver_only_valid_payloads(data: st.DataObject) -> None:
    """For generated types, valid payloads arrive as the same object; corrupted ones reach nobody.

    The oracle is pydantic itself, on a twin of the type whose every class revalidates instances.
    """
    spec: Spec = data.draw(specs(), label="spec")
    value = data.draw(values(spec), label="value")
    plain, oracle = Family(oracle=False), Family(oracle=True)
    oracle_type = oracle.type_of(spec)
    assert _oracle_accepts(oracle_type, oracle.build(spec, value))
    topic: Topic[Any] = Topic[Any]("gen", plain.type_of(spec))
    hub = Hub()
    typed, untyped = Recorder(), Recorder()
    hub.add_subscriber(topic, typed.sync)
    hub.add_subscriber(Key("gen"), untyped.sync)

    valid = plain.build(spec, value)
    hub.publish(topic, valid)
    assert typed.messages[-1] is valid
    assert untyped.messages[-1] is valid

    trees = [value]
    leaves = leaf_paths(spec, value)
    if leaves:
        where, tree_path, kind = data.draw(st.sampled_from(leaves), label="leaf")
        broken = data.draw(st.sampled_from(corruptions(kind)), label="corruption")
        corrupt_tree = replaced(value, tree_path, broken)
        trees.append(corrupt_tree)
        corrupt = plain.build(spec, corrupt_tree)
        assert not _oracle_accepts(oracle_type, oracle.build(spec, corrupt_tree))
        with pytest.raises(PayloadValidationError) as caught:
            hub.publish(topic, corrupt)
        assert len(typed.received) == len(untyped.received) == 1
        located = [e["loc"] for e in caught.value.errors if _within(where, e["loc"])]
        assert located, f"no error at {where}: {caught.value}"
        if len(caught.value.errors) <= 10:
            named = [".".join(map(_part, loc)) or "(payload)" for loc in located]
            assert any(f"{name}: " in str(caught.value) for name in named)

    for tree in trees:
        document = json.loads(json.dumps(to_json(spec, tree)))
        before = len(typed.received)
        if _oracle_accepts(oracle_type, document):
            hub.publish(Key("gen"), document)
            assert len(typed.received) == before + 1
            expected = TypeAdapter(topic.payload_type).validate_python(document)
            # A union of records may resolve a dict to either member, as pydantic decides.
            assert typed.messages[-1] == expected or "union" in repr(spec)
        else:
            with pytest.raises(PayloadValidationError, match=r"^payload on key \('gen',\)"):
                hub.publish(Key("gen"), document)
            assert len(typed.received) == before
