"""AsyncAPI export of request topics: an operation with a reply, both payloads in components."""

from __future__ import annotations

import json
from typing import Any

import pytest

from typedpubsub import Topic, schema

from .nats_request_peer import ADD
from .test_schema import TOPICS, official_validator


@pytest.mark.parametrize("servers", [None, {"local": "nats://127.0.0.1:4222"}])
def test_request_topic_has_an_operation_with_a_reply(servers: dict[str, str] | None) -> None:
    """A request topic's operation carries a reply object; the document is valid AsyncAPI 3.0.0."""
    document = schema.asyncapi([*TOPICS, ADD], servers=servers)
    assert [e.message for e in official_validator().iter_errors(document)] == []
    assert schema.check_asyncapi(document) == []
    assert document["operations"]["sendAdd"] == {
        "action": "send",
        "channel": {"$ref": "#/channels/add"},
        "messages": [{"$ref": "#/channels/add/messages/add"}],
        "reply": {
            "channel": {"$ref": "#/channels/addReply"},
            "messages": [{"$ref": "#/channels/addReply/messages/addReply"}],
        },
    }
    assert document["channels"]["add"]["address"] == "calc.{shard}.add"
    assert document["channels"]["addReply"]["address"] is None
    messages = document["components"]["messages"]
    assert messages["add"]["payload"] == {"$ref": "#/components/schemas/Add"}
    assert messages["addReply"]["payload"] == {"$ref": "#/components/schemas/Sum"}
    assert messages["addReply"]["title"] == "Sum"
    schemas = document["components"]["schemas"]
    assert set(schemas["Add"]["properties"]) == {"a", "b"}
    assert set(schemas["Sum"]["properties"]) == {"total", "by"}
    if servers:
        assert messages["addReply"]["headers"] == {"$ref": "#/components/schemas/ReplyHeaders"}
        assert "Typedpubsub-Timeout" in schemas["BridgeHeaders"]["properties"]
        headers = schemas["ReplyHeaders"]["properties"]
        assert headers["Typedpubsub-Error"]["enum"] == ["responder", "no_responder", "timeout"]
    else:
        assert "ReplyHeaders" not in schemas


def test_request_operation_direction_and_determinism() -> None:
    """operations may make the request topic's operation 'receive'; output is deterministic."""
    document = schema.asyncapi([ADD], operations={"add": "receive"})
    assert set(document["operations"]) == {"receiveAdd"}
    assert "reply" in document["operations"]["receiveAdd"]
    assert json.dumps(schema.asyncapi([ADD])) == json.dumps(schema.asyncapi([ADD]))


def test_reply_name_must_be_free() -> None:
    """A topic named like a request topic's reply is refused, naming both."""
    clash: list[Topic[Any]] = [ADD, Topic(("calc", "reply"), int, name="addReply")]
    with pytest.raises(ValueError, match=r"^topic names must leave 'addReply' to the reply of "):
        schema.asyncapi(clash)
