"""The NATS bridge's send queue and its JetStream parts: the stream, consumer names, the
acknowledgement inbox of pipelined publishes, and the classification of send failures."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import hashlib
import json
import math
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api

from .._describe import describe
from .._inbox import Room
from ..errors import BridgeConnectionError

__all__ = [
    "DEFAULT_MAX_PENDING",
    "AckInbox",
    "Entry",
    "SendQueue",
    "StreamLimits",
    "check_max_pending",
    "consumer_name",
    "ensure_stream",
    "is_permanent",
]

DEFAULT_MAX_PENDING = 10_000
"""Messages a bridge holds for NATS (queued and awaiting acknowledgement) at most."""

Entry = tuple[str, bytes, str, Any, dict[str, str] | None]
"""One message for NATS: subject, payload, message id, local key, trace context headers."""


def _check_int(name: str, value: object, low: int) -> None:
    if type(value) is not int:
        raise TypeError(f"{name} must be int, got {describe(value)}")
    if value < low and value != -1:
        raise ValueError(f"{name} must be >= {low} or -1 (unlimited), got {value}")


def _check_seconds(name: str, value: object) -> None:
    if value is None:
        return
    if type(value) not in (int, float):
        raise TypeError(f"{name} must be a number of seconds or None, got {describe(value)}")
    assert isinstance(value, (int, float))
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be > 0 or None (unlimited), got {value}")


@dataclasses.dataclass(frozen=True)
class StreamLimits:
    """Limits applied to the stream when a bridge creates it (an existing one keeps its own)."""

    max_age: float | None = 86_400.0
    max_msgs: int = 1_000_000
    max_bytes: int = 2**30
    duplicate_window: float = 120.0

    def __post_init__(self) -> None:
        _check_seconds("max_age", self.max_age)
        _check_int("max_msgs", self.max_msgs, 1)
        _check_int("max_bytes", self.max_bytes, 1)
        _check_seconds("duplicate_window", self.duplicate_window)


def check_max_pending(value: object) -> int:
    if type(value) is not int:
        raise TypeError(f"max_pending must be int, got {describe(value)}")
    if value < 1:
        raise ValueError(f"max_pending must be >= 1, got {value}")
    return value


def consumer_name(name: str, subject: str) -> str:
    """A durable (or queue) consumer's name for one filter subject: stable, whatever the order
    of the bridged keys, and never bound to another pattern's consumer."""
    return f"{name}-{hashlib.sha256(subject.encode()).hexdigest()[:12]}"


async def ensure_stream(
    js: JetStreamContext, name: str, prefix: str, limits: StreamLimits, where: str
) -> None:
    """Make stream ``name`` capture ``<prefix>.>``: create it, or widen an existing one.

    One stream per subject space, whatever the keys: patterns become consumer filters, which
    may overlap, where overlapping stream subjects are refused by the server.
    """
    subject = f"{prefix}.>"
    try:
        try:
            info = await js.stream_info(name)
        except nats.js.errors.NotFoundError:
            config = api.StreamConfig(
                name=name,
                subjects=[subject],
                max_age=limits.max_age,
                max_msgs=limits.max_msgs,
                max_bytes=limits.max_bytes,
                duplicate_window=limits.duplicate_window,
            )
            await js.add_stream(config)
            return
        existing = list(info.config.subjects or [])
        if subject in existing:
            return
        # Narrower subjects of the prefix (an older layout) would overlap the new one.
        kept = [s for s in existing if not s.startswith(f"{prefix}.")]
        info.config.subjects = [subject, *kept]
        await js.update_stream(info.config)
    except (nats.js.errors.ServiceUnavailableError, nats.errors.NoRespondersError) as exc:
        raise BridgeConnectionError(
            f"JetStream is not enabled on the NATS server at {where}: {exc} "
            "(start nats-server with -js, or use mode='core')"
        ) from None
    except nats.js.errors.APIError as exc:
        raise BridgeConnectionError(
            f"cannot create JetStream stream {name!r} with subjects [{subject!r}] on {where}: "
            f"{exc.description or exc} (another stream may own these subjects: choose another "
            "stream= or subject_prefix=)"
        ) from None


def is_permanent(exc: BaseException) -> bool:
    """Whether a failed publish can never succeed as it is (so retrying it would block)."""
    if isinstance(exc, nats.errors.MaxPayloadError):
        return True
    if isinstance(exc, nats.js.errors.ServiceUnavailableError):
        return False  # JetStream not ready yet (a restarting server)
    # Other API errors are the server's verdict on this message (too large for the stream,
    # a limit with discard=new, a wrong expected stream).
    return isinstance(exc, nats.js.errors.APIError)


class SendQueue:
    """Messages waiting for NATS, bounded: ``block`` policy, like a bounded listener queue.

    The hub treats it as the bridge's inbox: ``await hub.apublish`` waits for room
    (``blocks``/``wait_room``); a plain ``publish`` that finds it full gets ``QueueFullError``.
    ``items`` are the messages not yet handed to NATS; ``in_flight`` counts those awaiting
    acknowledgement, which also take room.
    """

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self.items: collections.deque[Entry] = collections.deque()
        self.in_flight = 0
        self.closing = False
        self.room = Room()
        self._wakeup = asyncio.Event()

    def __len__(self) -> int:
        return len(self.items) + self.in_flight

    def full(self) -> bool:
        return len(self) >= self.max_size

    def blocks(self) -> bool:
        return len(self) >= self.max_size and not self.closing

    def put(self, entry: Entry) -> None:
        self.items.append(entry)
        self._wakeup.set()

    def requeue(self, entries: list[Entry]) -> None:
        """Put unacknowledged messages back at the front, in their order."""
        self.items.extendleft(reversed(entries))

    async def wait_items(self) -> None:
        """Wait until a message is queued or :meth:`wake` is called."""
        if not self.items and not self.closing:
            self._wakeup.clear()
            await self._wakeup.wait()

    def wake(self) -> None:
        self._wakeup.set()

    async def wait_room(self, size: int) -> None:
        """Wait until at most ``size`` messages are held."""
        await self.room.wait(self, size)

    def wake_room(self) -> None:
        self.room.wake(self)


class AckInbox:
    """The acknowledgements of pipelined JetStream publishes, on one subscription of their own.

    Each publish gets the reply subject ``<inbox>.<n>``; the sender waits for the oldest ``n``
    only. nats-py's ``publish_async`` would cost a NUID, a future and a parsed ``PubAck`` per
    message, about a third of the send path under cProfile; here an ack is one bytes search.
    """

    def __init__(self) -> None:
        self.prefix = ""
        self.head = -1  # the sequence number the sender waits for
        self.outcome: dict[int, BaseException | None] = {}
        self.waiting: set[int] = set()
        self.arrived = asyncio.Event()
        self._next = 0

    async def start(self, nc: Client) -> None:
        self.prefix = f"{nc.new_inbox()}."
        await nc.subscribe(f"{self.prefix}*", cb=self._on_reply)

    def reply_subject(self) -> tuple[int, str]:
        number = self._next
        self._next += 1
        self.waiting.add(number)
        return number, f"{self.prefix}{number}"

    def settle(self, number: int, outcome: BaseException | None) -> None:
        if number in self.waiting:
            self.waiting.discard(number)
            self.outcome[number] = outcome
            if number == self.head:
                self.arrived.set()

    def forget(self, number: int) -> None:
        self.waiting.discard(number)
        self.outcome.pop(number, None)

    async def _on_reply(self, msg: Msg) -> None:
        try:
            number = int(msg.subject[len(self.prefix) :])
        except ValueError:
            return
        if number not in self.waiting:
            return  # the answer to a publish already given up on
        outcome: BaseException | None = None
        if msg.headers and msg.headers.get(api.Header.STATUS) == "503":
            outcome = nats.js.errors.NoStreamResponseError()
        elif b'"error"' in msg.data:
            try:
                reply = json.loads(msg.data)
            except ValueError:
                reply = {}
            if isinstance(reply, dict) and "error" in reply:
                outcome = nats.js.errors.APIError.from_error(reply["error"])
        self.settle(number, outcome)
