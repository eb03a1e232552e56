"""The NATS bridge's implementation; import it from :mod:`typedpubsub.nats`.

Join hubs in many processes and hosts through a NATS server: core NATS or JetStream.

Needs the extra: ``pip install 'typedpubsub[nats]'`` (the official client, nats-py). This module
is never imported by ``typedpubsub`` itself.

Keys map one to one onto NATS subjects: parts joined by ``.``; a ``*`` part is NATS's ``*``; a
*trailing* ``*`` (which in aiopubsub also matches deeper keys) is NATS's ``>``, which matches one
or more tokens, the same set. A key part that cannot be a NATS token (empty, or holding ``.``,
whitespace, ``*`` or ``>``) is refused with :class:`InvalidKeyError`: never silently rewritten.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Iterable, Sequence
from typing import Any, Literal, cast

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from pydantic import ValidationError as PydanticValidationError
from typing_extensions import Self

from .._hub import Hub
from .._key import WILDCARD, Key, check_pattern, escape_wildcards, is_subset, overlaps
from .._meta import ADDED_SUBSCRIBER, SubscriberEvent
from .._topic import Topic, Validator, check_distinct_topics
from ..errors import BridgeConnectionError, ClosedError, InvalidKeyError, QueueFullError
from .jetstream import (
    DEFAULT_MAX_PENDING,
    AckInbox,
    Entry,
    SendQueue,
    StreamLimits,
    check_max_pending,
    consumer_name,
    ensure_stream,
    is_permanent,
)

__all__ = [
    "BRIDGE_ERROR",
    "MSG_ID_HEADER",
    "ORIGIN_HEADER",
    "BridgeFailure",
    "BridgeStatistics",
    "Mode",
    "NatsBridge",
    "key_to_subject",
    "pattern_to_subject",
    "subject_to_key",
]

logger = logging.getLogger("typedpubsub.nats")

ORIGIN_HEADER = "Typedpubsub-Origin"
"""Header naming the bridge that published a message; messages without it are foreign."""
MSG_ID_HEADER = "Nats-Msg-Id"
"""Header with a unique id per publish: JetStream drops retried duplicates, bridges dedupe."""

Mode = Literal["core", "jetstream"]

_BAD_TOKEN = re.compile(r"[.\s*>]")

# JetStream sending keeps this many publishes awaiting their acknowledgement: one at a time
# is 5x to 8x slower (benchmarks/RESULTS.md, "JetStream send rate").
_ACK_WINDOW = 1_000
_ACK_TIMEOUT = 2.0  # seconds for an acknowledgement before the message is sent again
_REDELIVERY_DELAY = 2.0  # seconds before a message no local listener takes comes back
# Deliveries of such a message before it is acknowledged anyway (and counted as unrouted): a
# grace period for listeners added one by one, which cannot stall the consumer for good.
_MAX_UNROUTED_DELIVERIES = 5


class _Denied(Exception):
    """The server refused a publish for good (a permissions violation)."""


@dataclasses.dataclass(frozen=True)
class BridgeFailure:
    """Payload of ``('Hub', 'bridgeError', *key)``: a message the bridge could not pass on."""

    key: Key[Any]
    """The key of the message (the subject's tokens, for an incoming one)."""
    subject: str
    """The NATS subject involved, or '' when there is none."""
    reason: str
    """``invalid_json``, ``invalid_payload``, ``foreign``, ``unserialisable``, ``publish`` or
    ``server``."""
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


@dataclasses.dataclass(frozen=True)
class BridgeStatistics:
    """A snapshot of a bridge's counters."""

    sent: int
    """Messages published to NATS (acknowledged by the server in JetStream mode)."""
    received: int
    """Messages from NATS delivered to the local hub."""
    rejected: int
    """Incoming messages refused: invalid JSON or payload, or from a foreign client."""
    duplicates: int
    """Incoming messages dropped as already delivered (redeliveries, overlapping patterns)."""
    errors: int
    """Publishing failures and server errors (e.g. permission violations)."""
    pending: int
    """Local messages waiting to be sent (or, in JetStream mode, to be acknowledged)."""
    failed: int = 0
    """Local messages that can never be sent (over ``max_payload``, refused by the server):
    each reported on ``BRIDGE_ERROR`` at once and skipped."""
    dropped: int = 0
    """Local messages not taken for NATS because the send queue was full (``publish`` raised
    ``QueueFullError``) or the bridge was closing."""
    unrouted: int = 0
    """JetStream messages acknowledged unread: no local listener took them in 5 deliveries."""


def _check_token(part: str, key: Sequence[str]) -> None:
    if not part or _BAD_TOKEN.search(part):
        raise InvalidKeyError(
            f"key part {part!r} of {tuple(key)!r} cannot be a NATS subject token "
            "(empty, or holding '.', whitespace, '*' or '>')",
            tuple(key),
        )


def key_to_subject(key: Sequence[str]) -> str:
    """The NATS subject of a concrete key: its parts joined by ``.``."""
    for part in key:
        _check_token(part, key)
    return ".".join(key)


def pattern_to_subject(pattern: Sequence[str]) -> str:
    """The NATS subscription subject matching exactly what ``pattern`` matches."""
    tokens = []
    for index, part in enumerate(pattern):
        if part == WILDCARD:
            tokens.append(">" if index == len(pattern) - 1 else "*")
        else:
            _check_token(part, pattern)
            tokens.append(part)
    if not tokens:
        raise InvalidKeyError("key must have at least one part, got ()", tuple(pattern))
    return ".".join(tokens)


def subject_to_key(subject: str) -> Key[Any]:
    """The key of a NATS subject: its tokens."""
    return Key(*subject.split("."))


def _safe(text: str) -> str:
    # Never let credentials in a server URL reach a log line or an error message.
    return re.sub(r"(\w+://)[^@/\s]+@", r"\1***@", text)


class NatsBridge:
    """Joins a local :class:`Hub` to a NATS server for chosen topics or key patterns.

    Local publishes on ``keys`` are sent to NATS; what other bridges publish on them is
    published on the local hub (through the topic's validation). A message published locally
    is delivered locally exactly once: the bridge never re-delivers its own messages.

    ``mode="core"``: at-most-once, lowest latency. ``mode="jetstream"``: at-least-once. The
    stream ``stream`` captures ``<subject_prefix>.>`` (default prefix: the stream name in lower
    case), created with the limits ``max_age``, ``max_msgs``, ``max_bytes`` and
    ``duplicate_window``; each pattern is a consumer filter. Publishes are pipelined; each is
    acknowledged by the server or, failing for good, reported on ``BRIDGE_ERROR`` and skipped;
    other failures are retried with the same message id, so the stream stores it once.
    ``durable`` names this process's consumers, so that a restarted process receives what was
    published while it was down (its consumers start once a local listener covers their
    pattern); a message is acknowledged once the hub delivered it. Core subjects have no prefix
    unless given. At most ``max_pending`` messages wait for NATS: then ``apublish`` waits and
    ``publish`` raises :class:`QueueFullError`. ``queue_group`` makes bridges of
    that name share the work: each message reaches one of them. Other keyword arguments go to
    ``nats.connect`` unchanged (TLS, user/password, token, nkeys, credentials files, ...).
    """

    def __init__(
        self,
        hub: Hub,
        keys: Iterable[Key[Any]],
        *,
        servers: str | list[str] = "nats://127.0.0.1:4222",
        mode: Mode = "core",
        queue_group: str | None = None,
        stream: str = "TYPEDPUBSUB",
        durable: str | None = None,
        dedupe_window: int = 100_000,
        start_timeout: float = 10.0,
        subject_prefix: str | None = None,
        max_pending: int = DEFAULT_MAX_PENDING,
        max_age: float | None = 86_400.0,
        max_msgs: int = 1_000_000,
        max_bytes: int = 2**30,
        duplicate_window: float = 120.0,
        **connect_options: Any,
    ) -> None:
        if not isinstance(hub, Hub):
            raise TypeError(f"hub must be a typedpubsub Hub, got {hub!r}")
        if mode not in ("core", "jetstream"):
            raise ValueError(f"mode must be 'core' or 'jetstream', got {mode!r}")
        patterns = [check_pattern(key, "keys") for key in keys]
        if not patterns:
            raise ValueError("keys must hold at least one key or topic to bridge")
        check_distinct_topics(patterns)
        if not stream or _BAD_TOKEN.search(stream):
            raise ValueError(f"stream must be a non-empty NATS name, got {stream!r}")
        self._limits = StreamLimits(max_age, max_msgs, max_bytes, duplicate_window)
        self._queue = SendQueue(check_max_pending(max_pending))
        if subject_prefix is None and mode == "jetstream":
            # The stream captures '<prefix>.>': a prefix token keeps it clear of JetStream's
            # own API ('$JS.API.>'), and one per stream keeps two applications apart.
            subject_prefix = stream.lower()
        if subject_prefix is not None:
            _check_token(subject_prefix, (subject_prefix,))
        self._prefix = () if subject_prefix is None else (subject_prefix,)
        self._subjects = [pattern_to_subject((*self._prefix, *p)) for p in patterns]
        for name, value in (("queue_group", queue_group), ("durable", durable)):
            if value is not None and (not value or re.search(r"[.\s*>]", value)):
                raise ValueError(f"{name} must be a non-empty NATS name, got {value!r}")
        self.hub = hub
        self.patterns: tuple[Key[Any], ...] = tuple(patterns)
        self.mode: Mode = mode
        self.id = uuid.uuid4().hex
        self._servers = servers
        self._queue_group = queue_group
        self._stream = stream
        self._durable = durable
        self._connect_options = connect_options
        self._start_timeout = start_timeout
        self._connect_failure: asyncio.Future[BaseException] | None = None
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._subscriptions: list[Any] = []
        self._in_flight: collections.deque[tuple[Entry, int]] = collections.deque()
        self._acks = AckInbox()
        self._ack_window = _ACK_WINDOW  # 1 in the benchmark: one acknowledgement at a time
        self._deferred: list[tuple[Key[Any], str]] = []  # JetStream patterns nobody listens to
        self._subscribing: asyncio.Task[None] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._seen: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._dedupe_window = dedupe_window
        # The (key, payload) objects being delivered from NATS right now; what listeners publish
        # in response are other objects, and do go out.
        self._relaying: tuple[object, object] = (None, None)
        self._closed = False
        self._started = False
        self._sent = self._received = self._rejected = self._duplicates = self._errors = 0
        self._failed = self._dropped = self._unrouted = 0
        self._counter = 0  # message ids are this bridge's id and a sequence number: unique
        self._outbound_routes: dict[tuple[str, ...], tuple[Key[Any], str]] = {}
        self._inbound_routes: dict[str, tuple[Key[Any], Key[Any]]] = {}

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, set up subscriptions (and the JetStream stream), start forwarding."""
        if self._closed:
            raise ClosedError("bridge is closed; create a new NatsBridge")
        if self._started:
            return
        self._started = True
        options: dict[str, Any] = {
            "allow_reconnect": True,
            "max_reconnect_attempts": -1,
            "reconnect_time_wait": 0.2,
            "name": f"typedpubsub-bridge-{self.id[:8]}",
            **self._connect_options,
        }
        # Core mode needs no echo of its own messages (JetStream consumers get them regardless,
        # and are filtered by the origin header).
        options.setdefault("no_echo", self.mode == "core")
        options["error_cb"] = self._chain(options.get("error_cb"), self._on_server_error)
        servers = [self._servers] if isinstance(self._servers, str) else list(self._servers)
        # nats-py retries a refused first connection for ever when reconnecting is allowed:
        # the first error during start() ends it instead, with a clear message.
        loop = asyncio.get_running_loop()
        self._connect_failure = loop.create_future()
        connecting = loop.create_task(nats.connect(servers=servers, **options))
        waiting: set[asyncio.Future[Any]] = {connecting, self._connect_failure}
        done, _ = await asyncio.wait(
            waiting,
            timeout=self._start_timeout,
            return_when=asyncio.FIRST_COMPLETED,
        )
        failure: BaseException | None = None
        if connecting in done:
            failure = connecting.exception()
        elif self._connect_failure in done:
            failure = self._connect_failure.result()
        else:
            failure = TimeoutError(f"no connection within {self._start_timeout} s")
        if failure is not None or connecting not in done:
            connecting.cancel()
            await asyncio.wait({connecting})
            if not connecting.cancelled() and connecting.exception() is None:
                await connecting.result().close()
            self._started = False
            raise BridgeConnectionError(
                f"cannot connect to NATS at {_safe(', '.join(servers))}: "
                f"{_safe(str(failure) or type(failure).__name__)}"
            ) from None
        self._nc = connecting.result()
        try:
            if self.mode == "jetstream":
                await self._setup_jetstream()
            await self._subscribe()
        except Exception:
            await self._nc.close()
            self._started = False
            raise
        self._connect_failure = None  # from now on, server errors are reported
        for pattern in self.patterns:
            # The send queue is this subscription's inbox: apublish waits for room in it.
            # (The hub uses only what SendQueue has of an Inbox: items, max_size, blocks,
            # wait_room.)
            inbox = cast("Any", self._queue)
            self.hub._add(pattern, self._outbound, inbox=inbox, label=f"NatsBridge {self.id[:8]}")
        self._sender = asyncio.get_running_loop().create_task(
            self._send_loop(), name=f"typedpubsub NATS bridge {self.id[:8]} sender"
        )

    def _chain(self, user_cb: Any, ours: Any) -> Any:
        async def both(error: Exception) -> None:
            await ours(error)
            if user_cb is not None:
                await user_cb(error)

        return both

    async def _setup_jetstream(self) -> None:
        assert self._nc is not None
        self._js = self._nc.jetstream()
        url = self._nc.connected_url
        # Host and port only: credentials in the URL never reach the message.
        where = f"{url.scheme}://{url.hostname}:{url.port}" if url is not None else "NATS"
        await ensure_stream(self._js, self._stream, ".".join(self._prefix), self._limits, where)

    async def _subscribe(self) -> None:
        assert self._nc is not None
        for pattern, subject in zip(self.patterns, self._subjects, strict=True):
            if self._js is None:
                sub = await self._nc.subscribe(
                    subject, queue=self._queue_group or "", cb=self._on_message
                )
                self._subscriptions.append(sub)
            elif not self._replays or self._listened(pattern):
                await self._consume(subject)
            else:
                self._deferred.append((pattern, subject))
        if self._deferred:
            # Consume a pattern only once a local listener can take what it replays.
            self.hub.add_subscriber(ADDED_SUBSCRIBER, self._on_added_subscriber)
        # The server must have every subscription before start() returns. nats-py writes a
        # flush's PING ahead of buffered commands, so one flush can return before the server saw
        # the SUBs; the second PING goes out behind them.
        await self._nc.flush()
        await self._nc.flush()

    async def _consume(self, subject: str) -> None:
        assert self._js is not None
        queue = consumer_name(self._queue_group, subject) if self._queue_group else None
        durable = consumer_name(self._durable, subject) if self._durable and not queue else None
        sub = await self._js.subscribe(
            subject,
            queue=queue,
            durable=durable,
            stream=self._stream,
            cb=self._on_message,
            manual_ack=True,
            deliver_policy=None if (durable or queue) else api.DeliverPolicy.NEW,
        )
        self._subscriptions.append(sub)

    @property
    def _replays(self) -> bool:
        """Whether the consumers outlive this bridge (durable or queue): then what they hold
        waits for a local listener; an ephemeral consumer's messages go to those present."""
        return bool(self._durable or self._queue_group)

    def _listened(self, pattern: Key[Any]) -> bool:
        """Whether a listener other than a bridge may take a message matching ``pattern``."""
        return any(
            overlaps(target.key, pattern) and not _of_bridge(target.callback)
            for target in self.hub._router
        )

    def _on_added_subscriber(self, key: Key[Any], event: SubscriberEvent) -> None:
        if self._closed or (self._subscribing is not None and not self._subscribing.done()):
            return
        if any(self._listened(pattern) for pattern, _ in self._deferred):
            self._subscribing = asyncio.get_running_loop().create_task(self._consume_deferred())

    async def _consume_deferred(self) -> None:
        while not self._closed:
            ready = [(p, s) for p, s in self._deferred if self._listened(p)]
            if not ready:
                return
            for pattern, subject in ready:
                self._deferred.remove((pattern, subject))
                try:
                    await self._consume(subject)
                except Exception as exc:
                    self._report(pattern, subject, "server", f"cannot consume: {exc}")
            if not self._deferred:
                self.hub._remove(ADDED_SUBSCRIBER, self._on_added_subscriber)
                return

    async def aclose(self, *, timeout: float = 10.0) -> None:
        """Stop forwarding, send what is queued (within ``timeout``), drain and disconnect."""
        if self._closed:
            return
        self._closed = True
        for pattern in self.patterns:
            self.hub._remove(pattern, self._outbound)
        if self._deferred and not self.hub.closed:
            self.hub._remove(ADDED_SUBSCRIBER, self._on_added_subscriber)
        if self._subscribing is not None:
            self._subscribing.cancel()
            await asyncio.wait({self._subscribing})
        queue = self._queue
        if self._sender is not None:
            queue.wake()
            done, _ = await asyncio.wait({self._sender}, timeout=timeout)
            if not done:
                self._sender.cancel()
                await asyncio.wait({self._sender})
                unsent = [entry for entry, _ in self._in_flight] + list(queue.items)
                if unsent:
                    self._failed += len(unsent)
                    text = f"{len(unsent)} message(s) unsent at close"
                    self._report(unsent[0][3], unsent[0][0], "publish", text)
        queue.closing = True
        queue.wake_room()
        if self._nc is not None and not self._nc.is_closed:
            try:
                await asyncio.wait_for(self._nc.drain(), timeout)
            except Exception:  # drain can fail on a dead connection; close regardless
                await self._nc.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def statistics(self) -> BridgeStatistics:
        """A frozen snapshot of this bridge's counters."""
        return BridgeStatistics(
            sent=self._sent,
            received=self._received,
            rejected=self._rejected,
            duplicates=self._duplicates,
            errors=self._errors,
            pending=len(self._queue),
            failed=self._failed,
            dropped=self._dropped,
            unrouted=self._unrouted,
        )

    # -- outgoing ---------------------------------------------------------------------------

    def _topic_for(self, key: Sequence[str]) -> Key[Any]:
        for pattern in self.patterns:
            if is_subset(tuple(key), pattern):
                return pattern
        raise LookupError(key)  # pragma: no cover - only called for keys the hub routed here

    def _outbound(self, key: Key[Any], message: Any) -> None:
        if key is self._relaying[0] and message is self._relaying[1]:
            return  # the message this bridge is delivering from NATS: do not send it back
        queue = self._queue
        if self._closed or len(queue) >= queue.max_size:
            self._dropped += 1
            if self._closed:
                return
            raise QueueFullError(
                f"send queue of NATS bridge {self.id[:8]} is full (max_pending={queue.max_size}); "
                f"use 'await apublish(...)' to wait for room, message on key {tuple(key)!r} "
                "was not sent",
                tuple(key),
                f"NatsBridge {self.id[:8]}",
            )
        route = self._outbound_routes.get(key)
        if route is None:
            if len(self._outbound_routes) >= 4096:
                self._outbound_routes.clear()
            route = (self._topic_for(key), key_to_subject((*self._prefix, *key)))
            self._outbound_routes[key] = route
        pattern, subject = route
        if isinstance(pattern, Topic):
            data = pattern.adapter.dump_json(message)
        else:
            try:
                data = json.dumps(message, separators=(",", ":")).encode()
            except (TypeError, ValueError) as exc:
                self._report(key, subject, "unserialisable", str(exc))
                raise TypeError(
                    f"message on untyped key {tuple(key)!r} must be JSON-serialisable to cross "
                    f"NATS (bridge a Topic for typed payloads): {exc}"
                ) from None
        self._counter += 1
        queue.put((subject, data, f"{self.id}-{self._counter}", key))

    async def _send_loop(self) -> None:
        if self._js is not None:
            await self._send_jetstream()
            return
        assert self._nc is not None
        queue = self._queue
        outbox = queue.items
        headers_base = {ORIGIN_HEADER: self.id}
        while True:
            if not outbox:
                if self._closed:
                    return
                await queue.wait_items()
                continue
            subject, data, msg_id, key = outbox.popleft()
            queue.wake_room()
            headers = {**headers_base, MSG_ID_HEADER: msg_id}
            try:
                await self._nc.publish(subject, data, headers=headers)
            except Exception as exc:
                self._failed += 1
                self._report(key, subject, "publish", str(exc) or type(exc).__name__)
                continue
            self._sent += 1

    async def _send_jetstream(self) -> None:
        """Send with up to ``_ACK_WINDOW`` publishes awaiting acknowledgement.

        Messages go out in queue order and are acknowledged in that order. A permanent failure
        is reported and skipped; on any other failure every unacknowledged message goes back
        to the front of the queue and is sent again with its id (the stream drops the copies
        it already holds), so a retry can store a message after later ones of its key.
        """
        nc, acks, queue = self._nc, self._acks, self._queue
        assert nc is not None
        await acks.start(nc)
        items, in_flight, outcome = queue.items, self._in_flight, acks.outcome
        headers_base = {ORIGIN_HEADER: self.id}
        while True:
            while items and len(in_flight) < self._ack_window and nc.is_connected:
                entry = items.popleft()
                number, reply = acks.reply_subject()
                headers = {**headers_base, MSG_ID_HEADER: entry[2]}
                try:
                    await nc.publish(entry[0], entry[1], reply=reply, headers=headers)
                except Exception as exc:
                    acks.forget(number)
                    if is_permanent(exc):
                        self._fail(entry, exc)
                        continue
                    items.appendleft(entry)
                    break
                in_flight.append((entry, number))
                queue.in_flight += 1
            if not in_flight:
                if not items:
                    if self._closed:
                        return
                    await queue.wait_items()
                else:  # disconnected: nats-py reconnects meanwhile
                    await asyncio.sleep(0.05)
                continue
            head = in_flight[0][1]
            if head not in outcome:
                acks.head = head
                acks.arrived.clear()
                try:
                    await asyncio.wait_for(acks.arrived.wait(), _ACK_TIMEOUT)
                except TimeoutError:  # lost with a connection, or a very slow server
                    await self._resend(f"no acknowledgement within {_ACK_TIMEOUT} s")
                    continue
            while in_flight and in_flight[0][1] in outcome:
                entry, number = in_flight[0]
                error = outcome[number]
                if error is not None and not (is_permanent(error) or isinstance(error, _Denied)):
                    await self._resend(str(error) or type(error).__name__)
                    break
                in_flight.popleft()
                del outcome[number]
                queue.in_flight -= 1
                if error is None:
                    self._sent += 1
                else:
                    self._fail(entry, error)
            queue.wake_room()

    async def _resend(self, reason: str) -> None:
        """Put every unacknowledged message back at the front of the queue, in order."""
        in_flight = self._in_flight
        first = in_flight[0][0][0]
        for _, number in in_flight:
            self._acks.forget(number)
        self._queue.requeue([entry for entry, _ in in_flight])
        self._queue.in_flight = 0
        in_flight.clear()
        self._errors += 1
        logger.warning("publish of %s not acknowledged (%s); sending again", first, reason)
        await asyncio.sleep(0.2)

    def _fail(self, entry: Entry, exc: BaseException) -> None:
        self._failed += 1
        self._report(entry[3], entry[0], "publish", str(exc) or type(exc).__name__)
        self._queue.wake_room()

    def _publish_denied(self, subject: str, error: str) -> None:
        """The server refused a publish on ``subject`` for good: fail those awaiting acks."""
        for entry, number in self._in_flight:
            if entry[0] == subject:
                self._acks.settle(number, _Denied(error))

    # -- incoming ---------------------------------------------------------------------------

    async def _on_message(self, msg: Msg) -> None:
        if self._js is None:
            self._deliver(msg)
            return
        if self._replays and self._awaits_listener(msg):
            try:
                deliveries = msg.metadata.num_delivered
            except Exception:  # not a JetStream reply subject: take it as a first delivery
                deliveries = 1
            if deliveries < _MAX_UNROUTED_DELIVERIES:
                # At-least-once: leave it on the server until a local listener can take it.
                await self._settle(msg, msg.nak(delay=_REDELIVERY_DELAY))
                return
            self._unrouted += 1
            logger.warning(
                "NATS bridge %s: no local listener took %s in %d deliveries; acknowledged",
                self.id[:8],
                msg.subject,
                deliveries,
            )
            await self._settle(msg, msg.ack())
            return
        try:
            self._deliver(msg)  # acknowledged only once the hub has delivered it
        finally:
            await self._settle(msg, msg.ack())

    async def _settle(self, msg: Msg, reply: Awaitable[None]) -> None:
        try:
            await reply
        except Exception as exc:  # the server will redeliver; dedupe catches it
            logger.warning("could not acknowledge %s: %r", msg.subject, exc)

    def _awaits_listener(self, msg: Msg) -> bool:
        """Whether no local listener (other than bridges) would take this JetStream message."""
        if msg.headers is not None and msg.headers.get(ORIGIN_HEADER) == self.id:
            return False  # our own: acknowledged and dropped
        key = tuple(msg.subject.split(".")[len(self._prefix) :])
        try:
            route = self.hub._route(key)
        except ClosedError:
            return True
        except Exception:
            return False  # not a key: _deliver reports it
        return all(_of_bridge(callback) for callback in route.callbacks)

    def _deliver(self, msg: Msg) -> None:
        headers = msg.headers or {}
        subject = msg.subject
        inbound = self._inbound_routes.get(subject)
        if inbound is None:
            if len(self._inbound_routes) >= 4096:
                self._inbound_routes.clear()
            inbound_key = Key(*subject.split(".")[len(self._prefix) :])
            try:
                inbound = (inbound_key, self._topic_for(inbound_key))
            except LookupError:  # pragma: no cover - NATS routes only our subjects to us
                return
            self._inbound_routes[subject] = inbound
        key, pattern = inbound
        origin = headers.get(ORIGIN_HEADER)
        if origin is None:
            self._rejected += 1
            self._report(key, subject, "foreign", f"message without a {ORIGIN_HEADER} header")
            return
        if origin == self.id:
            return  # our own message, back from the stream
        msg_id = headers.get(MSG_ID_HEADER)
        if msg_id is not None:
            if msg_id in self._seen:
                self._duplicates += 1
                return
            self._seen[msg_id] = None
            if len(self._seen) > self._dedupe_window:
                self._seen.popitem(last=False)
        source: Validator[Any] | None = None
        if isinstance(pattern, Topic):
            try:
                payload = pattern.adapter.validate_json(msg.data)
            except PydanticValidationError as exc:
                self._rejected += 1
                reason = "invalid_json" if _is_json_error(exc) else "invalid_payload"
                self._report(key, subject, reason, str(exc).replace("\n", " "))
                return
            source = pattern._validator
        else:
            try:
                payload = json.loads(msg.data)
            except ValueError as exc:
                self._rejected += 1
                self._report(key, subject, "invalid_json", str(exc))
                return
        self._relaying = (key, payload)
        try:
            self.hub._dispatch(self.hub._route(key), key, payload, source, False)
        except ClosedError:
            return
        finally:
            self._relaying = (None, None)
        self._received += 1

    # -- reporting --------------------------------------------------------------------------

    async def _on_server_error(self, error: Exception) -> None:
        failure = self._connect_failure
        if failure is not None and not failure.done():
            failure.set_result(error)  # still starting: start() raises it
            return
        text = _safe(str(error) or type(error).__name__)
        match = re.search(r'(?:publish|subscription) to "([^"]+)"', text)
        subject = match.group(1) if match else ""
        key = subject_to_key(subject) if subject else Key("server")
        self._report(key, subject, "server", text)
        if subject and "permissions violation for publish" in text.lower():
            self._publish_denied(subject, text)

    def _report(self, key: Sequence[str], subject: str, reason: str, error: str) -> None:
        if reason in ("publish", "server", "unserialisable"):
            self._errors += 1
        logger.error("NATS bridge %s: %s on %r: %s", self.id[:8], reason, subject, _safe(error))
        if self.hub.closed:
            return
        full_key = Key(*BRIDGE_ERROR[:-1], *escape_wildcards(key))
        failure = BridgeFailure(Key(*key), subject, reason, _safe(error))
        self.hub._dispatch(
            self.hub._route(full_key), full_key, failure, BRIDGE_ERROR._validator, False
        )


def _of_bridge(callback: object) -> bool:
    return isinstance(getattr(callback, "__self__", None), NatsBridge)


def _is_json_error(exc: PydanticValidationError) -> bool:
    return any(error["type"] == "json_invalid" for error in exc.errors())
