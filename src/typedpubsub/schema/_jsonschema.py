"""JSON Schema of topics: names, addresses and parameters, payload schemas and the bundle."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, cast

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, JsonSchemaValue
from pydantic_core import core_schema

from .._describe import describe
from .._key import WILDCARD
from .._meta import META_TOPICS
from .._topic import Topic, check_distinct_topics, type_name

__all__ = [
    "DECIMAL_PATTERN",
    "JSON_SCHEMA_DIALECT",
    "TRAILING_WILDCARD_NOTE",
    "TopicsArg",
    "address",
    "bundled_schemas",
    "channel_parameters",
    "json_schema",
    "named_topics",
    "parameter_names",
    "payload_schema",
    "topic_names",
]

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
TRAILING_WILDCARD_NOTE = (
    "A trailing wildcard: it matches one part and also any number of deeper parts, "
    "so the address continues with more dot-separated parts."
)
TopicsArg = Topic[Any] | Iterable[Topic[Any]] | Mapping[str, Topic[Any]]

# Stricter than pydantic (no surrounding whitespace, at most 9 exponent digits, which keeps
# within Decimal's limits): every string the schema accepts, pydantic accepts.
DECIMAL_PATTERN = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,9})?$"


class _Generator(GenerateJsonSchema):
    """pydantic's generator, with the decimal strings it accepts spelled out as a pattern."""

    def decimal_schema(self, schema: core_schema.DecimalSchema) -> JsonSchemaValue:
        generated = super().decimal_schema(schema)
        for option in generated.get("anyOf", []):
            if option.get("type") == "string" and "pattern" not in option:
                option["pattern"] = DECIMAL_PATTERN
        return generated


def _generated_name(parts: Iterable[str]) -> str:
    words = ["any" if part == WILDCARD else re.sub(r"[^A-Za-z0-9_-]+", "_", part) for part in parts]
    return ".".join(word or "_" for word in words)


def topic_names(topics: TopicsArg) -> dict[str, Topic[Any]]:
    """Name each topic: its ``name``, else the mapping key it was given under, else its key.

    Raises ``ValueError`` when two topics end up with one name.
    """
    if isinstance(topics, Topic):
        pairs: list[tuple[str | None, Topic[Any]]] = [(None, topics)]
    elif isinstance(topics, Mapping):
        mapping = cast(Mapping[str, Topic[Any]], topics)
        pairs = [(str(name), topic) for name, topic in mapping.items()]
    else:
        pairs = [(None, topic) for topic in topics]
    check_distinct_topics(topic for _, topic in pairs)
    named: dict[str, Topic[Any]] = {}
    for given, topic in pairs:
        if not isinstance(topic, Topic):
            raise TypeError(f"topics must hold Topic objects, got {describe(topic)}")
        name = topic.name or given or _generated_name(topic)
        if name in named and named[name] is not topic and tuple(named[name]) != tuple(topic):
            raise ValueError(
                f"topics {tuple(named[name])!r} and {tuple(topic)!r} are both named {name!r}; "
                "give one a distinct name="
            )
        named[name] = topic
    return dict(sorted(named.items()))


def parameter_names(topic: Topic[Any]) -> list[str]:
    """One name per ``*`` of the topic: its ``parameters``, else ``part<N>`` by position."""
    names = []
    wildcards = (i for i, part in enumerate(topic) if part == WILDCARD)
    for index, given in zip(wildcards, topic.parameters, strict=True):
        names.append(given or f"part{index}")
    return names


def address(topic: Topic[Any]) -> str:
    """The key joined by ``.``, each ``*`` replaced by ``{parameter}``."""
    names = iter(parameter_names(topic))
    return ".".join(f"{{{next(names)}}}" if part == WILDCARD else part for part in topic)


def channel_parameters(topic: Topic[Any]) -> dict[str, dict[str, Any]]:
    """Each ``*`` parameter's name and description, as a channel or bundle entry lists them."""
    result = {}
    last = len(topic) - 1
    position = (i for i, part in enumerate(topic) if part == WILDCARD)
    for index, name in zip(position, parameter_names(topic), strict=True):
        description = f"Key part {index} (any single part)."
        if index == last:
            description = f"Key part {index}. {TRAILING_WILDCARD_NOTE}"
        result[name] = {"description": description}
    return result


def bundled_schemas(
    named: Mapping[str, Topic[Any]], ref_template: str
) -> tuple[dict[str, JsonSchemaValue], dict[str, JsonSchemaValue]]:
    """The payload schema per topic name, and the definitions they share (sorted)."""
    inputs: list[tuple[str, JsonSchemaMode, TypeAdapter[Any]]] = [
        (name, "validation", topic.adapter) for name, topic in named.items()
    ]
    by_input, definitions = TypeAdapter.json_schemas(
        inputs, ref_template=ref_template, schema_generator=_Generator
    )
    payloads = {name: by_input[(name, "validation")] for name in named}
    return payloads, dict(sorted(definitions.get("$defs", {}).items()))


def payload_schema(topic: Topic[Any]) -> dict[str, Any]:
    """A standalone JSON Schema (2020-12) of one topic's payload, definitions included."""
    schema = dict(topic.adapter.json_schema(schema_generator=_Generator))
    return {"$schema": JSON_SCHEMA_DIALECT, **schema}


def named_topics(topics: TopicsArg, include_meta: bool) -> dict[str, Topic[Any]]:
    """The named topics of a document, the hub's own ones too with ``include_meta``."""
    named = topic_names(topics)
    if include_meta:
        named.update(topic_names(META_TOPICS))
        named = dict(sorted(named.items()))
    if not named:
        raise ValueError("topics must hold at least one Topic")
    return named


def json_schema(
    topics: TopicsArg,
    *,
    title: str = "typedpubsub topics",
    description: str | None = None,
    include_meta: bool = False,
) -> dict[str, Any]:
    """A JSON Schema bundle: every topic's key, address, metadata and payload schema.

    Payload schemas refer to shared definitions under ``$defs``; ``topics`` maps each topic's
    name to ``{"key", "address", "parameters", "payloadType", "payload", ...}``. With
    ``include_meta`` the hub's own topics are added.
    """
    named = named_topics(topics, include_meta)
    payloads, definitions = bundled_schemas(named, "#/$defs/{model}")
    entries: dict[str, Any] = {}
    for name, topic in named.items():
        entry: dict[str, Any] = {
            "key": list(topic),
            "address": address(topic),
            "payloadType": type_name(topic.payload_type),
            "payload": payloads[name],
        }
        if topic.description:
            entry["description"] = topic.description
        params = channel_parameters(topic)
        if params:
            entry["parameters"] = params
        entries[name] = entry
    bundle: dict[str, Any] = {"$schema": JSON_SCHEMA_DIALECT, "title": title}
    if description:
        bundle["description"] = description
    bundle["topics"] = entries
    bundle["$defs"] = definitions
    return bundle
