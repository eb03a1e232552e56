"""The hub's own topics and the one reporter that publishes on them.

Listener errors, drops (with their log throttle), subscriber added/removed events and bridge
errors are logged, counted and published by :class:`Reporter`; adding a meta topic touches
this module only.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from typing import Any

from typing_extensions import TypedDict

from ._key import Key, escape_wildcards
from ._topic import Topic, Validator

__all__ = [
    "ADDED_SUBSCRIBER",
    "BRIDGE_ERROR",
    "LISTENER_ERROR",
    "MESSAGE_DROPPED",
    "META_TOPICS",
    "REMOVED_SUBSCRIBER",
    "BridgeFailure",
    "ListenerFailure",
    "MessageDropped",
    "Reporter",
    "SubscriberEvent",
]

logger = logging.getLogger("typedpubsub")


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
    """Why: ``drop_oldest``, ``drop_newest``, ``raise`` or ``block`` (a full queue refused it),
    ``timeout``, ``cancelled`` or ``closed``."""
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


@dataclasses.dataclass(frozen=True)
class BridgeFailure:
    """Payload of ``('Hub', 'bridgeError', *key)``: a message the bridge could not pass on."""

    key: Key[Any]
    """The key of the message (the subject's tokens, for an incoming one)."""
    subject: str
    """The NATS subject involved, or '' when there is none."""
    reason: str
    """Incoming: ``invalid_json``, ``invalid_payload``, ``invalid_subject``, ``forged`` (a
    message claiming this bridge's origin with an id it never sent) or ``invalid_tombstone`` (a
    tombstone on a key of no retained topic). Outgoing:
    ``unserialisable`` (not JSON: NaN, Infinity, non-UTF-8 bytes, ...), ``invalid_key`` or
    ``publish``. Connection: ``server``, ``disconnected`` and ``reconnected`` (once per outage)."""
    error: str
    """What went wrong, without credentials."""


BRIDGE_ERROR: Topic[BridgeFailure] = Topic(
    ("Hub", "bridgeError", "*"),
    BridgeFailure,
    name="bridgeError",
    description="Published by a NATS bridge on the local hub for each message it rejects or "
    "cannot send.",
    parameters=["key"],
)
META_TOPICS: tuple[Topic[Any], ...] = (
    ADDED_SUBSCRIBER,
    REMOVED_SUBSCRIBER,
    LISTENER_ERROR,
    MESSAGE_DROPPED,
)

_ERROR_PREFIX = tuple(LISTENER_ERROR[:-1])
_DROP_PREFIX = tuple(MESSAGE_DROPPED[:-1])

Deliver = Callable[[Key[Any], Any, "Validator[Any]", bool], None]
"""How the reporter publishes: ``deliver(key, payload, validator, local)``, never raising;
``local``: not to bridges' outbound targets (a bridge's report is never sent out)."""


class Reporter:
    """Logs, counts and publishes (on the hub's own topics) what happens to a hub's messages.

    ``wanted(key)`` says whether a meta message on ``key`` could reach anyone; when not, none
    is built (nor routed).
    Loop guards: a failing ``LISTENER_ERROR`` listener and a drop of a ``MESSAGE_DROPPED``
    message are logged and counted, never published again; nothing is published once
    ``closed`` is set.
    """

    __slots__ = ("_deliver", "_wanted", "closed", "dropped", "failed", "skipped", "watcher")

    def __init__(self, deliver: Deliver, wanted: Callable[[tuple[str, ...]], bool]) -> None:
        self._deliver = deliver
        self._wanted = wanted
        self.closed = False
        self.failed = 0  # listener failures, payloads invalid for a typed listener included
        self.dropped = 0  # messages dropped by bounded queues or drains
        self.skipped = 0  # messages refused on arrival: reached a route but not delivered
        # Told of each listener error first (the pytest plugin's hubs keep them).
        self.watcher: Callable[[Sequence[str], str, BaseException], None] | None = None

    def _meta_key(self, topic: Topic[Any], key: Sequence[str]) -> tuple[str, ...] | None:
        """The key of ``topic``'s message about ``key``, or None if it would reach nobody."""
        if self.closed:
            return None
        meta_key = (*topic[:-1], *escape_wildcards(key))
        return meta_key if self._wanted(meta_key) else None

    def listener_error(self, key: Sequence[str], listener: str, exc: BaseException) -> None:
        """Log, count and publish (on ``LISTENER_ERROR``) a failure of ``listener`` on ``key``."""
        if self.watcher is not None:
            self.watcher(key, listener, exc)
        self.failed += 1
        logger.error("listener %s failed on key %r", listener, tuple(key), exc_info=exc)
        if tuple(key[: len(_ERROR_PREFIX)]) == _ERROR_PREFIX:
            return  # a failing error listener must not feed itself
        meta_key = self._meta_key(LISTENER_ERROR, key)
        if meta_key is None:
            return
        try:
            text = str(exc)
        except Exception:  # a user's exception may fail to print; the report must not fail
            text = f"<unprintable {type(exc).__name__}>"
        event = ListenerFailure(Key(*key), listener, type(exc).__name__, text)
        self._deliver(Key(*meta_key), event, LISTENER_ERROR._validator, False)

    def drop(
        self, key: Sequence[str], listener: str, reason: str, count: int, refused: bool
    ) -> None:
        """Count, log and publish a drop; ``refused``: on arrival, so it was never delivered."""
        self.dropped += count
        if refused:
            self.skipped += count
        total = self.dropped
        if total & (total - 1) == 0 or count > 1:  # log at 1, 2, 4, 8... drops, not on each one
            logger.warning(
                "%s dropped %d message(s) (%s), last on key %r; %d dropped by this hub so far",
                listener,
                count,
                reason,
                tuple(key),
                total,
            )
        if tuple(key[: len(_DROP_PREFIX)]) == _DROP_PREFIX:
            return
        meta_key = self._meta_key(MESSAGE_DROPPED, key)
        if meta_key is not None:
            event = MessageDropped(Key(*key), listener, reason, count)
            self._deliver(Key(*meta_key), event, MESSAGE_DROPPED._validator, False)

    def subscriber_event(self, added: bool, pattern: Sequence[str], count: int) -> None:
        """Publish that a callback subscribed to (or left) ``pattern``, ``count`` remaining."""
        topic = ADDED_SUBSCRIBER if added else REMOVED_SUBSCRIBER
        meta_key = self._meta_key(topic, pattern)
        if meta_key is not None:
            event = SubscriberEvent(key=Key(*pattern), currentSubscriberCount=count)
            self._deliver(Key(*meta_key), event, topic._validator, False)

    def bridge_error(self, key: Sequence[str], subject: str, reason: str, error: str) -> None:
        """Publish a bridge's failure on ``BRIDGE_ERROR`` (the bridge logs and counts it)."""
        meta_key = self._meta_key(BRIDGE_ERROR, key)
        if meta_key is not None:
            failure = BridgeFailure(Key(*key), subject, reason, error)
            self._deliver(Key(*meta_key), failure, BRIDGE_ERROR._validator, True)
