"""Export typed topics as JSON Schema and AsyncAPI 3.0 documents, and draw them in Mermaid.

``json_schema(topics)`` bundles the payload schemas of a collection of topics (shared definitions
once); ``asyncapi(topics)`` builds an AsyncAPI 3.0.0 document with one channel per topic, whose
address is the key joined by ``.`` with each ``*`` a named parameter. Output is deterministic:
the same topics give byte-identical JSON, so it can be committed and diffed.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal, cast

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, JsonSchemaValue
from pydantic_core import core_schema

from ._bridge.headers import HEADERS_SCHEMA
from ._compat import Change, CompatibilityMode, CompatibilityReport, Counterexample
from ._compat import compatibility as compatibility
from ._hub import Hub
from ._key import WILDCARD, overlaps
from ._meta import META_TOPICS
from ._topic import Topic, check_distinct_topics, type_name

__all__ = [
    "ASYNCAPI_VERSION",
    "JSON_SCHEMA_DIALECT",
    "Action",
    "Change",
    "CompatibilityMode",
    "CompatibilityReport",
    "Counterexample",
    "address",
    "asyncapi",
    "check_asyncapi",
    "collect_topics",
    "compatibility",
    "json_schema",
    "load_target",
    "mermaid_hub",
    "mermaid_topics",
    "parameter_names",
    "payload_schema",
    "topic_names",
]

ASYNCAPI_VERSION = "3.0.0"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
TRAILING_WILDCARD_NOTE = (
    "A trailing wildcard: it matches one part and also any number of deeper parts, "
    "so the address continues with more dot-separated parts."
)

Action = Literal["send", "receive"]
TopicsArg = Topic[Any] | Iterable[Topic[Any]] | Mapping[str, Topic[Any]]

# Stricter than pydantic (no surrounding whitespace, at most 9 exponent digits, which keeps
# within Decimal's limits): every string the schema accepts, pydantic accepts.
_DECIMAL_PATTERN = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,9})?$"


class _Generator(GenerateJsonSchema):
    """pydantic's generator, with the decimal strings it accepts spelled out as a pattern."""

    def decimal_schema(self, schema: core_schema.DecimalSchema) -> JsonSchemaValue:
        generated = super().decimal_schema(schema)
        for option in generated.get("anyOf", []):
            if option.get("type") == "string" and "pattern" not in option:
                option["pattern"] = _DECIMAL_PATTERN
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
            raise TypeError(f"topics must hold Topic objects, got {topic!r}")
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


def _parameters(topic: Topic[Any]) -> dict[str, dict[str, Any]]:
    result = {}
    last = len(topic) - 1
    position = (i for i, part in enumerate(topic) if part == WILDCARD)
    for index, name in zip(position, parameter_names(topic), strict=True):
        description = f"Key part {index} (any single part)."
        if index == last:
            description = f"Key part {index}. {TRAILING_WILDCARD_NOTE}"
        result[name] = {"description": description}
    return result


def _schemas(
    named: Mapping[str, Topic[Any]], ref_template: str
) -> tuple[dict[str, JsonSchemaValue], dict[str, JsonSchemaValue]]:
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


def _with_meta(topics: TopicsArg, include_meta: bool) -> dict[str, Topic[Any]]:
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
    named = _with_meta(topics, include_meta)
    payloads, definitions = _schemas(named, "#/$defs/{model}")
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
        params = _parameters(topic)
        if params:
            entry["parameters"] = params
        entries[name] = entry
    bundle: dict[str, Any] = {"$schema": JSON_SCHEMA_DIALECT, "title": title}
    if description:
        bundle["description"] = description
    bundle["topics"] = entries
    bundle["$defs"] = definitions
    return bundle


def _component_id(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def asyncapi(
    topics: TopicsArg,
    *,
    title: str = "typedpubsub",
    version: str = "0.1.0",
    description: str | None = None,
    servers: Mapping[str, str] | None = None,
    operations: Mapping[str, Action] | None = None,
    include_meta: bool = False,
) -> dict[str, Any]:
    """An AsyncAPI 3.0.0 document for the topics.

    ``servers`` maps a server id to a NATS URL (``nats://host:port``); ``operations`` maps
    topic names to ``"send"`` or ``"receive"`` where the application's direction is known
    (the hub's own topics, included with ``include_meta``, are ``send``). With ``servers``,
    each message declares the (optional) NATS headers a bridge sends, ``BridgeHeaders``.
    """
    named = _with_meta(topics, include_meta)
    payloads, definitions = _schemas(named, "#/components/schemas/{model}")
    directions: dict[str, Action] = dict(operations or {})
    unknown = sorted(set(directions) - set(named))
    if unknown:
        raise ValueError(f"operations name unknown topics {unknown}; known: {sorted(named)}")
    for action in directions.values():
        if action not in ("send", "receive"):
            raise ValueError(f"operations values must be 'send' or 'receive', got {action!r}")
    if include_meta:
        for topic in META_TOPICS:
            directions.setdefault(str(topic.name), "send")

    schemas: dict[str, Any] = dict(definitions)
    if servers:
        schemas["BridgeHeaders"] = copy.deepcopy(HEADERS_SCHEMA)  # the caller may edit it
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    ops: dict[str, Any] = {}
    for name, topic in named.items():
        ident = _component_id(name)
        payload = payloads[name]
        if set(payload) != {"$ref"}:
            schemas[f"{ident}Payload"] = payload
            payload = {"$ref": f"#/components/schemas/{ident}Payload"}
        message: dict[str, Any] = {
            "name": ident,
            "title": type_name(topic.payload_type),
            "contentType": "application/json",
            "payload": payload,
        }
        if servers:
            message["headers"] = {"$ref": "#/components/schemas/BridgeHeaders"}
        doc = inspect.getdoc(topic.payload_type) if isinstance(topic.payload_type, type) else None
        if doc and not _is_generated_doc(doc):
            message["summary"] = doc.splitlines()[0]
        messages[ident] = message
        channel: dict[str, Any] = {"address": address(topic)}
        if topic.name:
            channel["title"] = topic.name
        key_text = f"Key pattern {tuple(topic)!r}."
        channel["description"] = (
            f"{topic.description} {key_text}" if topic.description else key_text
        )
        params = _parameters(topic)
        if params:
            channel["parameters"] = params
        channel["messages"] = {ident: {"$ref": f"#/components/messages/{ident}"}}
        channels[ident] = channel
        direction = directions.get(name)
        if direction is not None:
            ops[f"{direction}{ident[:1].upper()}{ident[1:]}"] = {
                "action": direction,
                "channel": {"$ref": f"#/channels/{ident}"},
                "messages": [{"$ref": f"#/channels/{ident}/messages/{ident}"}],
            }

    document: dict[str, Any] = {"asyncapi": ASYNCAPI_VERSION}
    info: dict[str, Any] = {"title": title, "version": version}
    if description:
        info["description"] = description
    document["info"] = info
    if servers:
        document["servers"] = {ident: _server(url) for ident, url in sorted(servers.items())}
    document["defaultContentType"] = "application/json"
    document["channels"] = channels
    if ops:
        document["operations"] = dict(sorted(ops.items()))
    document["components"] = {"schemas": dict(sorted(schemas.items())), "messages": messages}
    return document


def _is_generated_doc(doc: str) -> bool:
    # dataclasses invent a docstring from the signature: "Trade(timestamp: float, ...)".
    return bool(re.match(r"^\w+\(.*\)$", doc.splitlines()[0]))


def _server(url: str) -> dict[str, Any]:
    match = re.fullmatch(r"(?:(nats|tls)://)?([^/]+)", url)
    if match is None:
        raise ValueError(f"servers values must look like nats://host:port, got {url!r}")
    return {
        "host": match.group(2),
        "protocol": "nats",
        "description": "NATS server the hubs join through (typedpubsub.nats).",
    }


def _pointer(document: Any, ref: str) -> Any:
    node = document
    for token in ref[2:].split("/") if ref != "#" else []:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            raise KeyError(ref)
    return node


def _walk(node: Any, path: str = "#") -> Iterator[tuple[str, Any]]:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}/{index}")


def check_asyncapi(document: Mapping[str, Any]) -> list[str]:
    """What the official JSON Schema cannot check: every ``$ref`` resolves, every ``{param}`` of
    an address is defined, every defined parameter is used. Returns the problems found."""
    problems = []
    for path, node in _walk(document):
        if isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            if not ref.startswith("#"):
                problems.append(f"{path}: $ref {ref!r} is not local to the document")
                continue
            try:
                _pointer(document, ref)
            except KeyError:
                problems.append(f"{path}: $ref {ref!r} does not resolve")
    for ident, channel in dict(document.get("channels", {})).items():
        used = set(re.findall(r"\{([^}]*)\}", str(channel.get("address") or "")))
        defined = set(channel.get("parameters", {}))
        for name in sorted(used - defined):
            problems.append(f"#/channels/{ident}: address parameter {{{name}}} is not defined")
        for name in sorted(defined - used):
            problems.append(f"#/channels/{ident}: parameter {name!r} is not in the address")
    return problems


def collect_topics(target: object) -> dict[str, Topic[Any]]:
    """The topics of a module (its module-level Topic objects), or of an object: a topic, a
    mapping or collection of topics, an object with a ``topics`` attribute, or a live Hub."""
    if inspect.ismodule(target):
        return topic_names(
            {name: value for name, value in vars(target).items() if isinstance(value, Topic)}
        )
    if isinstance(target, Topic):
        return topic_names(target)
    if isinstance(target, Hub):
        topics = [t.key for t in target._router if isinstance(t.key, Topic)]
        return topic_names([t for t in topics if t not in META_TOPICS])
    if isinstance(target, Mapping):
        return topic_names({str(k): v for k, v in target.items() if isinstance(v, Topic)})
    inner = getattr(target, "topics", None)
    if inner is not None and not callable(inner):
        return collect_topics(inner)
    if isinstance(target, Iterable) and not isinstance(target, str | bytes):
        return topic_names([t for t in target if isinstance(t, Topic)])
    raise TypeError(f"cannot collect topics from {target!r}")


def load_target(spec: str) -> object:
    """Import ``MODULE`` or ``MODULE:ATTR`` (ATTR may be dotted). Raises LookupError with a
    one-line reason."""
    module_name, _, attr = spec.partition(":")
    try:
        target: object = importlib.import_module(module_name)
    except ImportError as exc:
        raise LookupError(f"cannot import module {module_name!r}: {exc}") from None
    for part in attr.split(".") if attr else []:
        try:
            target = getattr(target, part)
        except AttributeError:
            raise LookupError(f"module {module_name!r} has no attribute {attr!r}") from None
    return target


def _mermaid_text(text: str) -> str:
    return '"' + text.replace('"', "#quot;") + '"'


def mermaid_topics(topics: TopicsArg) -> str:
    """A Mermaid flowchart of the key tree, each topic's node labelled with its payload type."""
    named = topic_names(topics)
    lines = ["flowchart LR", '    root(("key"))']
    ids: dict[tuple[str, ...], str] = {(): "root"}
    for name, topic in named.items():
        for depth in range(1, len(topic) + 1):
            path = tuple(topic[:depth])
            if path not in ids:
                ids[path] = f"k{len(ids)}"
                lines.append(f"    {ids[path]}[{_mermaid_text(path[-1])}]")
                lines.append(f"    {ids[path[:-1]]} --> {ids[path]}")
        node = f"t{len(ids)}"
        ids[("\0topic", name)] = node
        label = f"{name}: {type_name(topic.payload_type)}"
        lines.append(f"    {node}[/{_mermaid_text(label)}/]")
        lines.append(f"    {ids[tuple(topic)]} -.- {node}")
    return "\n".join(lines) + "\n"


def mermaid_hub(hub: Hub) -> str:
    """A Mermaid flowchart of a live hub: publishers' prefixes, subscribed patterns, listeners."""
    lines = ["flowchart LR"]
    targets = sorted(hub._router, key=lambda t: t.seq)
    patterns = sorted({tuple(t.key) for t in targets})
    pattern_ids = {p: f"p{i}" for i, p in enumerate(patterns)}
    for pattern, ident in pattern_ids.items():
        lines.append(f"    {ident}{{{{{_mermaid_text('.'.join(pattern))}}}}}")
    prefixes = sorted({tuple(p.prefix) for p in hub._publishers})
    for i, prefix in enumerate(prefixes):
        lines.append(f"    pub{i}[{_mermaid_text('publisher ' + '.'.join(prefix) + '.*')}]")
        for pattern in patterns:
            if overlaps((*prefix, WILDCARD), pattern) or (prefix and tuple(prefix) == pattern):
                lines.append(f"    pub{i} --> {pattern_ids[pattern]}")
    listeners = sorted({t.label for t in targets})
    listener_ids = {label: f"l{i}" for i, label in enumerate(listeners)}
    for label, ident in listener_ids.items():
        lines.append(f"    {ident}([{_mermaid_text(label)}])")
    for target in targets:
        lines.append(f"    {pattern_ids[tuple(target.key)]} --> {listener_ids[target.label]}")
    return "\n".join(lines) + "\n"
