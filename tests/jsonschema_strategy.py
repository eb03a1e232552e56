"""A Hypothesis strategy for JSON documents valid against the JSON Schemas pydantic emits.

hypothesis-jsonschema would do this, but it no longer works with current Hypothesis; this
covers the subset pydantic generates: types, properties/required, enum/const, anyOf/oneOf,
local $refs, items, string patterns and the date-time format.
"""

from __future__ import annotations

import datetime
import math
from typing import Any

from hypothesis import strategies as st

JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=5)


def from_schema(
    schema: dict[str, Any], root: dict[str, Any] | None = None, *, undeclared: bool = True
) -> st.SearchStrategy[Any]:
    """Documents valid against ``schema``; ``$ref``s resolve against ``root`` (default: schema).

    With ``undeclared=False`` objects get undeclared fields only where the schema allows them
    explicitly (``additionalProperties: true``): the documents a pydantic producer writes.
    """
    root = schema if root is None else root
    if "$ref" in schema:
        target: Any = root
        for token in schema["$ref"].removeprefix("#/").split("/"):
            target = target[token.replace("~1", "/").replace("~0", "~")]
        return from_schema(target, root, undeclared=undeclared)
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    for combinator in ("anyOf", "oneOf"):
        if combinator in schema:
            options = [from_schema(o, root, undeclared=undeclared) for o in schema[combinator]]
            return st.one_of(options)
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of(
            [from_schema({**schema, "type": k}, root, undeclared=undeclared) for k in kind]
        )
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "number":
        return _numbers(schema)
    if kind == "string":
        return _strings(schema)
    if kind == "array":
        items = JSON_SCALARS
        if "items" in schema:
            items = from_schema(schema["items"], root, undeclared=undeclared)
        least = schema.get("minItems", 0)
        return st.lists(items, min_size=least, max_size=max(least, schema.get("maxItems", 4)))
    if kind == "object":
        return _objects(schema, root, undeclared)
    return JSON_SCALARS


def _numbers(schema: dict[str, Any]) -> st.SearchStrategy[float]:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    floats = st.floats(
        low,
        high,
        allow_nan=False,
        allow_infinity=False,
        exclude_min="exclusiveMinimum" in schema,
        exclude_max="exclusiveMaximum" in schema,
    )
    first = -(2**53) if low is None else math.floor(low) + 1
    last = 2**53 if high is None else math.ceil(high) - 1
    if first > last:
        return floats
    return st.integers(first, last) | floats


def _strings(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    if schema.get("format") == "date-time":
        zones = st.sampled_from(
            [datetime.timezone.utc, datetime.timezone(datetime.timedelta(hours=-5))]
        )
        return st.datetimes(
            min_value=datetime.datetime(1970, 1, 2),
            max_value=datetime.datetime(9000, 1, 1),
            timezones=zones,
        ).map(lambda d: d.isoformat())
    if "pattern" in schema:
        # JSON Schema patterns are ECMA-262: \d and \w are ASCII-only, unlike Python's
        ascii = st.characters(codec="ascii")
        return st.from_regex(schema["pattern"], fullmatch=True, alphabet=ascii)
    return st.text(min_size=schema.get("minLength", 0), max_size=schema.get("maxLength", 10))


@st.composite
def _objects(
    draw: st.DrawFn, schema: dict[str, Any], root: dict[str, Any], undeclared: bool
) -> dict[str, Any]:
    properties: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    document = {}
    for name, sub in properties.items():
        if name in required or draw(st.booleans()):
            document[name] = draw(from_schema(sub, root, undeclared=undeclared))
    extras = schema.get("additionalProperties", True if undeclared else None)
    if extras is True and draw(st.booleans()):
        extra = draw(st.text(min_size=1, max_size=6).filter(lambda k: k not in properties))
        document[extra] = draw(JSON_SCALARS)
    return document
