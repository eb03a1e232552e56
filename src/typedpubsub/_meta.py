"""The hub's own topics: subscriber added/removed and listener errors."""

from __future__ import annotations

import dataclasses
from typing import Any

from typing_extensions import TypedDict

from ._key import Key
from ._topic import Topic

__all__ = [
    "ADDED_SUBSCRIBER",
    "LISTENER_ERROR",
    "MESSAGE_DROPPED",
    "META_TOPICS",
    "REMOVED_SUBSCRIBER",
    "ListenerFailure",
    "MessageDropped",
    "SubscriberEvent",
]


class SubscriberEvent(TypedDict):
    """Payload of the hub's ``addedSubscriber`` / ``removedSubscriber`` messages (aiopubsub's)."""

    key: Key[Any]
    """The subscribed key, wildcards included."""
    currentSubscriberCount: int
    """How many callbacks are subscribed to exactly this key after the change."""


@dataclasses.dataclass(frozen=True)
class ListenerFailure:
    """Payload of ``('Hub', 'listenerError', *key)``: a listener raised while handling a message."""

    key: Key[Any]
    """The key of the message the listener failed on."""
    listener: str
    """Which listener failed (its callback's qualified name and subscriber id)."""
    error_type: str
    """The exception's class name."""
    error: str
    """The exception's message."""


@dataclasses.dataclass(frozen=True)
class MessageDropped:
    """Payload of ``('Hub', 'messageDropped', *key)``: a bounded queue dropped messages."""

    key: Key[Any]
    """The key of the dropped message."""
    listener: str
    """Whose queue dropped it."""
    reason: str
    """Why: ``drop_oldest``, ``drop_newest``, ``timeout``, ``cancelled``, ``closed`` or
    ``queue_full`` (a full ``raise`` queue refused a message that arrived through a bridge)."""
    count: int
    """How many messages were dropped by this event."""


ADDED_SUBSCRIBER: Topic[SubscriberEvent] = Topic(
    ("Hub", "addedSubscriber", "*"),
    SubscriberEvent,
    name="addedSubscriber",
    description="Published by the hub after a callback subscribes to a key. The key's parts follow "
    "'addedSubscriber', with each '*' escaped as '\\*'.",
    parameters=["key"],
)
REMOVED_SUBSCRIBER: Topic[SubscriberEvent] = Topic(
    ("Hub", "removedSubscriber", "*"),
    SubscriberEvent,
    name="removedSubscriber",
    description="Published by the hub after a callback unsubscribes from a key.",
    parameters=["key"],
)
LISTENER_ERROR: Topic[ListenerFailure] = Topic(
    ("Hub", "listenerError", "*"),
    ListenerFailure,
    name="listenerError",
    description="Published by the hub when a listener raises; the listener keeps receiving.",
    parameters=["key"],
)
MESSAGE_DROPPED: Topic[MessageDropped] = Topic(
    ("Hub", "messageDropped", "*"),
    MessageDropped,
    name="messageDropped",
    description="Published by the hub when a bounded listener queue drops messages.",
    parameters=["key"],
)
META_TOPICS: tuple[Topic[Any], ...] = (
    ADDED_SUBSCRIBER,
    REMOVED_SUBSCRIBER,
    LISTENER_ERROR,
    MESSAGE_DROPPED,
)
