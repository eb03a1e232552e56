"""The exceptions typedpubsub raises.

Every exception derives from :class:`PubSubError` and also from the builtin it refines, so
``except ValueError`` keeps working where aiopubsub code expected one.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from typing import Any

__all__ = [
    "BridgeConnectionError",
    "ClosedError",
    "ConsumeQueueNotFoundError",
    "InvalidKeyError",
    "KeyPartTypeError",
    "ListenerNotFoundError",
    "NoResponderError",
    "PayloadValidationError",
    "PubSubError",
    "QueueFullError",
    "RequestTimeoutError",
    "ResponderError",
    "UnsupportedPayloadTypeError",
]


class PubSubError(Exception):
    """Base class of every error raised by typedpubsub."""


class InvalidKeyError(PubSubError, ValueError):
    """A key is not acceptable here: empty, or a wildcard where a concrete key is needed."""

    def __init__(self, message: str, key: Sequence[object]) -> None:
        super().__init__(message)
        self.key = key


class KeyPartTypeError(PubSubError, TypeError):
    """A key part is not a ``str``."""

    def __init__(self, message: str, key: Sequence[object], part: object) -> None:
        super().__init__(message)
        self.key = key
        self.part = part


class UnsupportedPayloadTypeError(PubSubError, TypeError):
    """pydantic cannot build a validator for a topic's payload type."""

    def __init__(self, message: str, payload_type: object) -> None:
        super().__init__(message)
        self.payload_type = payload_type


class PayloadValidationError(PubSubError, ValueError):
    """A payload does not validate against the payload type of a topic.

    ``key`` is the full key of the publish, ``topic`` the topic whose type was checked,
    ``errors`` pydantic's error list; the pydantic ``ValidationError`` is the ``__cause__``.
    """

    def __init__(self, message: str, key: Sequence[str], topic: object, errors: list[Any]) -> None:
        super().__init__(message)
        self.key = key
        self.topic = topic
        self.errors = errors


class QueueFullError(PubSubError, asyncio.QueueFull):
    """A bounded listener queue is full and its overflow policy refuses the message."""

    def __init__(self, message: str, key: Sequence[str], listener: str) -> None:
        super().__init__(message)
        self.key = key
        self.listener = listener


class ClosedError(PubSubError, RuntimeError):
    """The hub, subscriber or stream was closed and cannot be used any more."""


class _PlainKeyError(KeyError):
    def __str__(self) -> str:
        # KeyError.__str__ would repr() the message and wrap it in quotes.
        return str(self.args[0]) if self.args else ""


class ListenerNotFoundError(PubSubError, _PlainKeyError):
    """``remove_listener`` or ``unsubscribe`` was given something that was never added."""


class ConsumeQueueNotFoundError(PubSubError, _PlainKeyError):
    """``consume`` was asked for a subscription that has no queue (aiopubsub's name)."""


class BridgeConnectionError(PubSubError, ConnectionError):
    """A bridge could not connect to its broker (unreachable, or credentials refused)."""


class NoResponderError(PubSubError, LookupError):
    """A request found no responder for its key, here or (through a bridge) across NATS."""

    def __init__(self, message: str, key: Sequence[str]) -> None:
        super().__init__(message)
        self.key = key


# asyncio's TimeoutError is the builtin one from Python 3.11; before, it is another class, and
# a request timeout must be caught by either name.
if sys.version_info >= (3, 11):
    _TimeoutBase = TimeoutError
else:  # pragma: no cover - Python 3.10

    class _TimeoutBase(asyncio.TimeoutError, TimeoutError):
        pass


class RequestTimeoutError(PubSubError, _TimeoutBase):
    """No reply to a request arrived within its timeout (a :class:`TimeoutError`)."""

    def __init__(self, message: str, key: Sequence[str], timeout: float | None) -> None:
        super().__init__(message)
        self.key = key
        self.timeout = timeout


class ResponderError(PubSubError, RuntimeError):
    """The responder of a request raised: ``error_type`` and ``error_message`` say what.

    Only the exception's type name and message cross (also across NATS), never the object.
    """

    def __init__(
        self, message: str, key: Sequence[str], error_type: str, error_message: str
    ) -> None:
        super().__init__(message)
        self.key = key
        self.error_type = error_type
        self.error_message = error_message
