"""The headers a NATS bridge sends, and their JSON Schema for the AsyncAPI export.

Kept apart from the bridge so that :mod:`typedpubsub.schema` can declare them without nats-py.
"""

from __future__ import annotations

from typing import Any

__all__ = ["HEADERS_SCHEMA", "MSG_ID_HEADER", "ORIGIN_HEADER", "TOMBSTONE_HEADER"]

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
    },
}
