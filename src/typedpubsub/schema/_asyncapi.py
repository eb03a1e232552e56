"""AsyncAPI 3.0.0 documents of topics, the NATS headers a bridge sends, and their checker."""

from __future__ import annotations

import copy
import inspect
import re
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from .._bridge.headers import HEADERS_SCHEMA, REPLY_HEADERS_SCHEMA
from .._meta import META_TOPICS
from .._request import RequestTopic
from .._topic import Topic, type_name
from ._jsonschema import TopicsArg, address, bundled_schemas, channel_parameters, named_topics

__all__ = ["ASYNCAPI_VERSION", "Action", "asyncapi", "check_asyncapi", "component_id"]

ASYNCAPI_VERSION = "3.0.0"

Action = Literal["send", "receive"]


def component_id(name: str) -> str:
    """A topic name as an AsyncAPI component identifier (also read back by the gate)."""
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

    A :class:`RequestTopic` always has an operation (``send`` unless ``operations`` says
    ``receive``: the application answers) whose ``reply`` is the message ``<name>Reply`` of
    its response type, on the channel ``<name>Reply`` (address ``null``: the requester's inbox).
    """
    named = named_topics(topics, include_meta)
    replies = _reply_topics(named)
    payloads, definitions = bundled_schemas({**named, **replies}, "#/components/schemas/{model}")
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
        if replies:
            schemas["ReplyHeaders"] = copy.deepcopy(REPLY_HEADERS_SCHEMA)
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    ops: dict[str, Any] = {}
    for name, topic in named.items():
        ident = component_id(name)
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
        params = channel_parameters(topic)
        if params:
            channel["parameters"] = params
        channel["messages"] = {ident: {"$ref": f"#/components/messages/{ident}"}}
        channels[ident] = channel
        direction = directions.get(name)
        if direction is None and isinstance(topic, RequestTopic):
            direction = "send"
        if direction is not None:
            operation = ops[f"{direction}{ident[:1].upper()}{ident[1:]}"] = {
                "action": direction,
                "channel": {"$ref": f"#/channels/{ident}"},
                "messages": [{"$ref": f"#/channels/{ident}/messages/{ident}"}],
            }
            if isinstance(topic, RequestTopic):
                operation["reply"] = _add_reply(
                    ident, topic, payloads[f"{name}Reply"], schemas, messages, channels, servers
                )

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


def _reply_topics(named: Mapping[str, Topic[Any]]) -> dict[str, Topic[Any]]:
    """``<name>Reply``: a topic of the response type, per request topic (for its schema)."""
    replies: dict[str, Topic[Any]] = {}
    for name, topic in named.items():
        if isinstance(topic, RequestTopic):
            if f"{name}Reply" in named:
                raise ValueError(
                    f"topic names must leave {name + 'Reply'!r} to the reply of request topic "
                    f"{name!r}"
                )
            replies[f"{name}Reply"] = Topic(tuple(topic), topic.response_type)
    return replies


def _add_reply(
    ident: str,
    topic: RequestTopic[Any, Any],
    payload: dict[str, Any],
    schemas: dict[str, Any],
    messages: dict[str, Any],
    channels: dict[str, Any],
    servers: Mapping[str, str] | None,
) -> dict[str, Any]:
    """Add the reply message and channel of a request topic; return the operation's reply."""
    reply = f"{ident}Reply"
    if set(payload) != {"$ref"}:
        schemas[f"{reply}Payload"] = payload
        payload = {"$ref": f"#/components/schemas/{reply}Payload"}
    message: dict[str, Any] = {
        "name": reply,
        "title": type_name(topic.response_type),
        "contentType": "application/json",
        "payload": payload,
    }
    if servers:
        message["headers"] = {"$ref": "#/components/schemas/ReplyHeaders"}
    messages[reply] = message
    channels[reply] = {
        "address": None,
        "title": f"{topic.name or ident} reply",
        "description": f"The reply to a request on {tuple(topic)!r}, sent to the requester's "
        "own inbox (a NATS reply subject).",
        "messages": {reply: {"$ref": f"#/components/messages/{reply}"}},
    }
    return {
        "channel": {"$ref": f"#/channels/{reply}"},
        "messages": [{"$ref": f"#/channels/{reply}/messages/{reply}"}],
    }


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
