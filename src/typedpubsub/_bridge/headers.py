"""The headers a NATS bridge sends, and their JSON Schema for the AsyncAPI export.

Kept apart from the bridge so that :mod:`typedpubsub.schema` can declare them without nats-py.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ERROR_HEADER",
    "ERROR_TYPE_HEADER",
    "HEADERS_SCHEMA",
    "MSG_ID_HEADER",
    "ORIGIN_HEADER",
    "REPLY_HEADERS_SCHEMA",
    "TIMEOUT_HEADER",
    "TOMBSTONE_HEADER",
]

ORIGIN_HEADER = "Typedpubsub-Origin"
"""Header naming the bridge that published a message: only for echo suppression, optional."""
MSG_ID_HEADER = "Nats-Msg-Id"
"""Header with a random, unguessable id per message: JetStream and bridges drop duplicates."""
TOMBSTONE_HEADER = "Typedpubsub-Tombstone"
"""Header marking a message as the tombstone of a retained key (``hub.clear``); no payload."""

HEADERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "NATS headers a typedpubsub bridge sends. Both are optional on receipt: a "
    "producer may send plain JSON without headers.",
    "properties": {
        ORIGIN_HEADER: {
            "type": "string",
            "description": "Id of the sending bridge; a bridge ignores its own messages coming "
            "back. Not an authentication: use NATS permissions.",
        },
        MSG_ID_HEADER: {
            "type": "string",
            "description": "Random id of this message (96 bits, hex; in JetStream mode "
            "followed by a 32-bit tag); repeated only by retries of the same message, which "
            "receivers drop as duplicates.",
        },
        TOMBSTONE_HEADER: {
            "type": "string",
            "description": "Present (value '1', empty payload) on the tombstone of a key of a "
            "retained topic: receivers forget the value retained for the key and deliver "
            "nothing. Refused on keys of topics that are not retained.",
        },
        "Typedpubsub-Timeout": {
            "type": "string",
            "description": "Requests only: the seconds the requester waits for the reply "
            "(a decimal number); the responder's bound too, at most 3600.",
        },
    },
}

ERROR_HEADER = "Typedpubsub-Error"
"""Header of a reply that is an error: ``responder``, ``no_responder`` or ``timeout``."""
ERROR_TYPE_HEADER = "Typedpubsub-Error-Type"
"""Header of a ``responder`` error reply: the type name of what the responder raised."""
TIMEOUT_HEADER = "Typedpubsub-Timeout"  # (declared in HEADERS_SCHEMA by name)
"""Header of a request: the seconds its requester waits (the responder's bound too)."""

REPLY_HEADERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "NATS headers of a typedpubsub reply. Without them the reply is the "
    "response's JSON; with them, an error whose message is the body (UTF-8 text).",
    "properties": {
        ERROR_HEADER: {
            "type": "string",
            "enum": ["responder", "no_responder", "timeout"],
            "description": "The reply is an error: the responder raised, no responder is left "
            "in the process that took the request, or it timed out.",
        },
        ERROR_TYPE_HEADER: {
            "type": "string",
            "pattern": "^[A-Za-z_][A-Za-z0-9_.]{0,127}$",
            "description": "Type name of the exception the responder raised.",
        },
    },
}
