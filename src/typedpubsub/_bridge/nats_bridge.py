"""The NATS bridge's implementation; import it from :mod:`typedpubsub.nats`.

Join hubs in many processes and hosts through a NATS server: core NATS or JetStream.

Needs the extra: ``pip install 'typedpubsub[nats]'`` (the official client, nats-py). This module
is never imported by ``typedpubsub`` itself.

Keys map one to one onto NATS subjects: parts joined by ``.``; a ``*`` part is NATS's ``*``; a
*trailing* ``*`` (which in aiopubsub also matches deeper keys) is NATS's ``>``, which matches one
or more tokens, the same set. A key part that cannot be a NATS token (empty, or holding ``.``,
whitespace, ``*`` or ``>``) is refused with :class:`InvalidKeyError`: never silently rewritten;
so is a subject whose first token is a NATS system one (``$...``, ``_INBOX``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import hashlib
import hmac
import json
import logging
import math
import os
import re
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator, Sequence
from typing import Any, Literal, cast
from urllib.parse import unquote

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticSerializationError
from typing_extensions import Self

from .._describe import describe
from .._hub import Hub, internal
from .._key import WILDCARD, Key, check_pattern, check_publishable, is_subset, overlaps
from .._meta import ADDED_SUBSCRIBER, BRIDGE_ERROR, BridgeFailure, SubscriberEvent
from .._request import RequestTopic
from .._retain import is_retained
from .._topic import Topic, Validator, check_distinct_topics
from ..errors import BridgeConnectionError, ClosedError, InvalidKeyError, QueueFullError
from .headers import MSG_ID_HEADER, ORIGIN_HEADER, TOMBSTONE_HEADER
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
from .requests import RequestBridge

__all__ = [
    "BRIDGE_ERROR",
    "MSG_ID_HEADER",
    "ORIGIN_HEADER",
    "TOMBSTONE_HEADER",
    "BridgeFailure",
    "BridgeStatistics",
    "Mode",
    "NatsBridge",
    "key_to_subject",
    "pattern_to_subject",
    "subject_to_key",
]

logger = logging.getLogger("typedpubsub.nats")

Mode = Literal["core", "jetstream"]

# A lone surrogate has no UTF-8 form, so it can be no subject's byte.
_BAD_TOKEN = re.compile(r"[.\s*>\ud800-\udfff]")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
# A server's protocol line ('HPUB <subject> <sizes>') is at most 4096 bytes by default
# (max_control_line); a longer one makes it drop the connection.
_MAX_SUBJECT_BYTES = 4000
_MAX_ID_CHARS = 128  # origin and message id longer than this are kept in the window as a digest

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
class BridgeStatistics:
    """A snapshot of a bridge's counters."""

    sent: int
    """Messages published to NATS (acknowledged by the server in JetStream mode)."""
    received: int
    """Messages from NATS delivered to the local hub."""
    rejected: int
    """Incoming messages refused: invalid JSON, payload or subject, or a forged origin."""
    duplicates: int
    """Incoming messages dropped as already delivered (redeliveries, overlapping patterns)."""
    errors: int
    """Local messages not sent (unserialisable, refused key, publish failure, connection down
    in core mode) and server errors (e.g. permission violations)."""
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
    requests_sent: int = 0
    """Local requests answered by a responder across NATS."""
    requests_served: int = 0
    """Remote requests answered by a local responder."""


class _Backlog:
    """Counts the messages a last-per-subject consumer handled, to wait for its first batch."""

    def __init__(self, handle: Callable[[Msg], Awaitable[None]]) -> None:
        self._handle = handle
        self._handled = 0
        self._expected: int | None = None
        self.done = asyncio.Event()

    async def on_message(self, msg: Msg) -> None:
        try:
            await self._handle(msg)
        finally:
            self._handled += 1
            self._check()

    def expect(self, count: int) -> None:
        self._expected = count
        self._check()

    def _check(self) -> None:
        if self._expected is not None and self._handled >= self._expected:
            self.done.set()


def _check_token(part: str, key: Sequence[str]) -> None:
    if not part or _BAD_TOKEN.search(part):
        raise InvalidKeyError(
            f"key part {part!r} of {tuple(key)!r} cannot be a NATS subject token "
            "(empty, or holding '.', whitespace, '*', '>' or a lone surrogate)",
            tuple(key),
        )


def _check_first_token(part: str, key: Sequence[str]) -> None:
    if part.startswith("$") or part == "_INBOX":
        raise InvalidKeyError(
            f"key {tuple(key)!r} would reach the NATS system subject {part!r} "
            "(a first token starting with '$', or '_INBOX')",
            tuple(key),
        )


def key_to_subject(key: Sequence[str]) -> str:
    """The NATS subject of a concrete key: its parts joined by ``.``."""
    for part in key:
        _check_token(part, key)
    if key:
        _check_first_token(key[0], key)
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
    _check_first_token(tokens[0], pattern)
    return ".".join(tokens)


def subject_to_key(subject: str) -> Key[Any]:
    """The key of a NATS subject: its tokens."""
    return Key(*subject.split("."))


def _split_url(url: str) -> tuple[str, str | None, str | None]:
    """``(url without credentials, user or token, password)`` of a server URL.

    The credentials run from ``://`` to the *last* ``@`` (a host and port hold none), so a
    password holding ``@`` or ``/``, raw or percent-encoded, is taken whole.
    """
    # nats-py also takes 'user:password@host:port', without a scheme.
    scheme = match.group() if (match := _SCHEME.match(url)) else ""
    rest = url[len(scheme) :]
    if "@" not in rest:
        return url, None, None
    userinfo, _, host = rest.rpartition("@")
    user, colon, password = userinfo.partition(":")
    return f"{scheme}{host}", unquote(user), unquote(password) if colon else None


def _display_url(url: str) -> str:
    """``url`` with its password (or token) replaced by ``***``."""
    bare, user, password = _split_url(url)
    if user is None:
        return url
    scheme = match.group() if (match := _SCHEME.match(bare)) else ""
    shown = f"{user}:***" if password is not None else "***"
    return f"{scheme}{shown}@{bare[len(scheme) :]}"


def _random_ids() -> Iterator[str]:
    # 96 random bits per id, drawn from os.urandom in blocks: about 0.2 us an id.
    while True:
        block = os.urandom(12 * 256).hex()
        for start in range(0, len(block), 24):
            yield block[start : start + 24]


def _tag(key: bytes, msg_id: str) -> str:
    """32 bits (8 hex digits) that only the holder of ``key`` can compute for ``msg_id``."""
    return hashlib.blake2b(msg_id.encode(), key=key, digest_size=4).hexdigest()


def _is_tagged(key: bytes, msg_id: str) -> bool:
    """Whether ``msg_id`` is 24 hex digits followed by their tag under ``key``."""
    return len(msg_id) == 32 and hmac.compare_digest(msg_id[24:], _tag(key, msg_id[:24]))


def _has_non_finite(value: object) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(v) for v in value.values())
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(_has_non_finite(v) for v in value)
    return False


class NatsBridge:
    """Joins a local :class:`Hub` to a NATS server for chosen topics or key patterns.

    Local publishes on ``keys`` are sent to NATS; what any producer publishes on them (plain
    JSON, no header needed) is delivered on the local hub (through the topic's validation). A
    message published locally is delivered locally exactly once: the bridge never re-delivers
    its own messages, and what arrived from NATS is never sent out again by any bridge of the
    hub. The hub's own topics (``('Hub', ...)``) are sent only when a bridged pattern starts
    with ``'Hub'``; ``BRIDGE_ERROR`` is never sent.

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
    ``nats.connect`` unchanged (TLS, user/password, token, nkeys, credentials files, ...);
    credentials in server URLs (``nats://user:password@host:port``, raw or percent-encoded)
    are taken out of the URL and passed as ``user``/``password`` (or ``token``).
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
        max_reply_bytes: int = 1 << 20,
        **connect_options: Any,
    ) -> None:
        if not isinstance(hub, Hub):
            raise TypeError(f"hub must be a typedpubsub Hub, got {describe(hub)}")
        if mode not in ("core", "jetstream"):
            raise ValueError(f"mode must be 'core' or 'jetstream', got {mode!r}")
        patterns = [check_pattern(key, "keys") for key in keys]
        if not patterns:
            raise ValueError("keys must hold at least one key or topic to bridge")
        check_distinct_topics(patterns)
        # Request topics travel as NATS requests (_bridge/requests.py), not as messages.
        request_topics = [p for p in patterns if isinstance(p, RequestTopic)]
        patterns = [p for p in patterns if not isinstance(p, RequestTopic)]
        if type(max_reply_bytes) is not int:
            raise TypeError(f"max_reply_bytes must be int, got {describe(max_reply_bytes)}")
        if max_reply_bytes < 1:
            raise ValueError(f"max_reply_bytes must be >= 1, got {max_reply_bytes}")
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
        # JetStream consumers of retained topics start with the last message of each subject.
        self._retained_subjects = {
            subject for p, subject in zip(patterns, self._subjects, strict=True) if is_retained(p)
        }
        for name, value in (("queue_group", queue_group), ("durable", durable)):
            if value is not None and (not value or re.search(r"[.\s*>]", value)):
                raise ValueError(f"{name} must be a non-empty NATS name, got {value!r}")
        self.hub = hub
        self.patterns: tuple[Key[Any], ...] = tuple(patterns)
        self.mode: Mode = mode
        self.id = uuid.uuid4().hex
        self._servers, self._secrets = self._parse_servers(
            [servers] if isinstance(servers, str) else list(servers), connect_options
        )
        self._display = ", ".join(
            _display_url(url) for url in ([servers] if isinstance(servers, str) else servers)
        )
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
        # Dedupe on (origin, id), shared by the hub's bridges: a forged message with a used id
        # suppresses only itself, and a future id cannot be forged, since ids are random.
        self._core = internal(hub)
        self._seen = self._core.bridge_seen
        self._dedupe_window = dedupe_window
        # Where its own messages can come back (JetStream, echo on), each id carries a tag only
        # this bridge can make: an own-origin message without it is forged, and its own are
        # recognised however late they come back (a window of sent ids would forget them).
        self._id_key: bytes | None = None
        self._ids = _random_ids()
        self._closed = False
        self._started = False
        self._down = False  # the connection is lost and nats-py is reconnecting
        self._unsent_in_outage = 0
        self._sent = self._received = self._rejected = self._duplicates = self._errors = 0
        self._failed = self._dropped = self._unrouted = 0
        self._outbound_routes: dict[tuple[str, ...], tuple[Key[Any], str]] = {}
        self._requests = RequestBridge(
            self._core,
            request_topics,
            key_to_subject,
            pattern_to_subject,
            # A stream would capture requests under its prefix (and answer with its ack).
            self._prefix if mode == "core" else (),
            queue_group,
            f"NATS bridge {self.id[:8]}",
            self._report,
            max_reply_bytes,
        )
        self._inbound_routes: dict[str, tuple[Key[Any], Key[Any]]] = {}

    @staticmethod
    def _parse_servers(servers: list[str], options: dict[str, Any]) -> tuple[list[str], list[str]]:
        """Server URLs without credentials (moved into ``options``), and the secrets to mask."""
        secrets = [str(options[name]) for name in ("password", "token") if options.get(name)]
        parsed = [_split_url(url) for url in servers]
        credentials = {(user, password) for _, user, password in parsed if user is not None}
        for user, password in credentials:
            secrets.append(password if password is not None else user)
        if len(credentials) != 1 or "user" in options or "token" in options:
            # nats-py takes the credentials of each URL as written; none, or several differing
            # ones, stay where they are.
            return servers, secrets
        ((user, password),) = credentials
        if password is None:
            options["token"] = user
        else:
            options["user"], options["password"] = user, password
        return [bare for bare, _, _ in parsed], secrets

    def _safe(self, text: str) -> str:
        """``text`` with every known credential replaced by ``***`` (never a pattern guess)."""
        for secret in self._secrets:
            if len(secret) >= 3:
                text = text.replace(secret, "***")
        return text

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
        options["disconnected_cb"] = self._chain(
            options.get("disconnected_cb"), self._on_disconnected
        )
        options["reconnected_cb"] = self._chain(options.get("reconnected_cb"), self._on_reconnected)
        if self.mode == "jetstream" or not options["no_echo"]:
            self._id_key = os.urandom(16)
        servers = self._servers
        # nats-py retries a refused first connection for ever when reconnecting is allowed:
        # the first error during start() ends it instead, with a clear message.
        loop = asyncio.get_running_loop()
        self._connect_failure = loop.create_future()
        connecting = loop.create_task(nats.connect(servers=servers, **options))
        waiting: set[asyncio.Future[Any]] = {connecting, self._connect_failure}
        try:
            done, _ = await asyncio.wait(
                waiting,
                timeout=self._start_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        except asyncio.CancelledError:  # e.g. a timeout around start(): nothing left behind
            await self._abandon(connecting)
            raise
        failure: BaseException | None = None
        if connecting in done:
            failure = connecting.exception()
        elif self._connect_failure in done:
            failure = self._connect_failure.result()
        else:
            failure = TimeoutError(f"no connection within {self._start_timeout} s")
        if failure is not None or connecting not in done:
            await self._abandon(connecting)
            raise BridgeConnectionError(
                f"cannot connect to NATS at {self._display}: "
                f"{self._safe(str(failure) or type(failure).__name__)}"
            ) from None
        self._nc = connecting.result()
        try:
            if self.mode == "jetstream":
                await self._setup_jetstream()
            await self._subscribe()
            await self._requests.start(self._nc)
        except BaseException:  # cancelled too: the connection must not outlive start()
            await self._nc.close()
            self._started = False
            raise
        self._connect_failure = None  # from now on, server errors are reported
        self._core.add_bridge(self._outbound)
        self._core.add_clear_listener(self._outbound_clear)
        for pattern in self.patterns:
            # The send queue is this subscription's inbox: apublish waits for room in it.
            # (The hub uses only what SendQueue has of an Inbox: max_size, blocks, wait_room.)
            inbox = cast("Any", self._queue)
            self._core.subscribe(
                pattern, self._outbound, inbox=inbox, label=f"NatsBridge {self.id[:8]}"
            )
        self._sender = asyncio.get_running_loop().create_task(
            self._send_loop(), name=f"typedpubsub NATS bridge {self.id[:8]} sender"
        )

    async def _abandon(self, connecting: asyncio.Task[Client]) -> None:
        """Stop a connection attempt of :meth:`start`, and close what it made."""
        connecting.cancel()
        await asyncio.wait({connecting})
        if not connecting.cancelled() and connecting.exception() is None:
            await connecting.result().close()
        self._started = False

    def _chain(self, user_cb: Any, ours: Any) -> Any:
        async def both(*args: Any) -> None:
            await ours(*args)
            if user_cb is not None:
                await user_cb(*args)

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
        start = api.DeliverPolicy.NEW
        backlog: _Backlog | None = None
        callback = self._on_message
        if subject in self._retained_subjects:
            start = api.DeliverPolicy.LAST_PER_SUBJECT  # a late joiner gets each key's last value
            if not (durable or queue):
                backlog = _Backlog(self._on_message)
                callback = backlog.on_message
        sub = await self._js.subscribe(
            subject,
            queue=queue,
            durable=durable,
            stream=self._stream,
            cb=callback,
            manual_ack=True,
            deliver_policy=None if (durable or queue) else start,
        )
        self._subscriptions.append(sub)
        if backlog is not None:
            # start() returns once the last values are on the hub: hub.last sees them then.
            try:
                info = await sub.consumer_info()
                delivered = info.delivered.consumer_seq if info.delivered else 0
                backlog.expect((delivered or 0) + (info.num_pending or 0))
                await asyncio.wait_for(backlog.done.wait(), self._start_timeout)
            except (asyncio.TimeoutError, nats.errors.Error) as exc:  # 3.10: not the builtin
                logger.warning(
                    "NATS bridge %s: the retained values on %s are still arriving (%s)",
                    self.id[:8],
                    subject,
                    type(exc).__name__,
                )

    @property
    def _replays(self) -> bool:
        """Whether the consumers outlive this bridge (durable or queue): then what they hold
        waits for a local listener; an ephemeral consumer's messages go to those present."""
        return bool(self._durable or self._queue_group)

    def _listened(self, pattern: Key[Any]) -> bool:
        """Whether a listener other than a bridge may take a message matching ``pattern``."""
        core = self._core
        return any(
            overlaps(target.key, pattern) and not core.is_bridge(target.callback)
            for target in core.subscriptions()
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
                self._core.unsubscribe(ADDED_SUBSCRIBER, self._on_added_subscriber)
                return

    async def aclose(self, *, timeout: float = 10.0) -> None:
        """Stop forwarding, send what is queued (within ``timeout``), drain and disconnect."""
        if self._closed:
            return
        self._closed = True
        await self._requests.aclose()
        if self._started and not self.hub.closed:
            for pattern in self.patterns:
                self._core.unsubscribe(pattern, self._outbound)
        self._core.remove_bridge(self._outbound)
        self._core.remove_clear_listener(self._outbound_clear)
        if self._deferred and not self.hub.closed:
            self._core.unsubscribe(ADDED_SUBSCRIBER, self._on_added_subscriber)
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
        nc = self._nc
        if nc is not None and not nc.is_closed:
            try:
                if nc.is_connected:
                    await asyncio.wait_for(nc.drain(), timeout)
            except Exception as exc:  # drain can fail on a dead connection; close regardless
                logger.debug("drain failed at close: %r", exc)
            finally:
                if not nc.is_closed:
                    try:
                        await asyncio.wait_for(nc.close(), timeout)
                    except Exception as exc:  # a dead socket's reset: closed all the same
                        logger.debug("close failed: %r", exc)

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
            requests_sent=self._requests.sent,
            requests_served=self._requests.served,
        )

    # -- outgoing ---------------------------------------------------------------------------

    def _topic_for(self, key: Sequence[str]) -> Key[Any]:
        for pattern in self.patterns:
            if is_subset(tuple(key), pattern):
                return pattern
        raise LookupError(key)  # pragma: no cover - only called for keys the hub routed here

    def _outbound(self, key: Key[Any], message: Any) -> None:
        # The hub never calls this for what arrived through a bridge (Hub._deliver_remote).
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
            pattern = self._topic_for(key)
            if key[0] == "Hub" and pattern[0] != "Hub":
                return  # the hub's own topics go out only when bridged explicitly
            try:
                subject = key_to_subject((*self._prefix, *key))
                size = len(subject.encode())
                if size > _MAX_SUBJECT_BYTES:
                    raise InvalidKeyError(
                        f"key makes a subject of {size} bytes ({subject[:40]!r}...); a NATS "
                        f"server refuses more than about {_MAX_SUBJECT_BYTES} (and drops the "
                        "connection)",
                        tuple(key),
                    )
            except InvalidKeyError as exc:
                self._report(key, "", "invalid_key", str(exc))
                return
            if len(self._outbound_routes) >= 4096:
                self._outbound_routes.clear()
            route = self._outbound_routes[key] = (pattern, subject)
        pattern, subject = route
        try:
            if isinstance(pattern, Topic):
                data = pattern.adapter.dump_json(message)
                # NaN and Infinity would go out as null (pydantic's default) and be refused
                # by the receiver: look closer only when a null is there at all.
                if b"null" in data and _has_non_finite(pattern.adapter.dump_python(message)):
                    raise ValueError("NaN and Infinity floats cannot be sent as JSON")
            else:
                data = json.dumps(message, separators=(",", ":"), allow_nan=False).encode()
        except (PydanticSerializationError, TypeError, ValueError) as exc:
            self._report(
                key,
                subject,
                "unserialisable",
                f"message on key {tuple(key)!r} cannot be sent as JSON, not sent: {exc}",
            )
            return
        if self._down and self._js is None:
            # Core NATS is at-most-once: what is published during an outage is not sent, and
            # counted (reported once the connection is back).
            self._errors += 1
            self._unsent_in_outage += 1
            return
        msg_id = next(self._ids)
        id_key = self._id_key
        if id_key is not None:
            msg_id += _tag(id_key, msg_id)
        if self._core.bridge_count() > 1:
            # Another bridge of this hub may hear this message on NATS: it was delivered here
            # already, so it goes in the hub's shared window as seen (with the origin sent).
            seen = self._seen
            seen[(self.id if id_key is not None else "", msg_id)] = None
            if len(seen) > self._dedupe_window:
                seen.popitem(last=False)
        # On an instrumented hub, the publish's trace context goes along (telemetry.instrument).
        telemetry = self._core.telemetry
        self._queue.put(
            (subject, data, msg_id, key, telemetry.inject() if telemetry is not None else None)
        )

    def _outbound_clear(self, topic: Topic[Any]) -> None:
        """Send the tombstone of ``topic`` (cleared on the hub), if it is a bridged retained key."""
        if self._closed or not any(is_subset(tuple(topic), p) for p in self.patterns):
            return
        if not is_retained(self._topic_for(topic)):
            return  # receivers would refuse it: only a retained topic's keys have tombstones
        try:
            subject = key_to_subject((*self._prefix, *topic))
        except InvalidKeyError as exc:
            self._report(topic, "", "invalid_key", str(exc))
            return
        queue = self._queue
        if len(queue) >= queue.max_size or (self._down and self._js is None):
            self._dropped += 1
            self._report(topic, subject, "publish", "queue full or offline: tombstone not sent")
            return
        msg_id = next(self._ids)
        if self._id_key is not None:
            msg_id += _tag(self._id_key, msg_id)
        queue.put((subject, b"", msg_id, topic, None))

    async def _send_loop(self) -> None:
        if self._js is not None:
            await self._send_jetstream()
            return
        assert self._nc is not None
        queue = self._queue
        outbox = queue.items
        # The origin only serves to recognise our own messages coming back: where none can
        # (core mode without echo), it is not sent, which saves parsing a header per message.
        headers_base = {ORIGIN_HEADER: self.id} if self._id_key is not None else {}
        while True:
            if not outbox:
                if self._closed:
                    return
                await queue.wait_items()
                continue
            subject, data, msg_id, key, trace_headers = outbox.popleft()
            queue.wake_room()
            # The trace context first: a propagator's field cannot replace our own headers.
            headers = {**(trace_headers or {}), **headers_base, MSG_ID_HEADER: msg_id}
            if not data:  # only a tombstone has no payload (JSON has at least one byte)
                headers[TOMBSTONE_HEADER] = "1"
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
                headers = {**(entry[4] or {}), **headers_base, MSG_ID_HEADER: entry[2]}
                if not entry[1]:  # only a tombstone has no payload
                    headers[TOMBSTONE_HEADER] = "1"
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
                except asyncio.TimeoutError:  # lost with a connection, or slow (3.10: not builtin)
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
            waiting = self._deliver(msg)
            if waiting is not None:  # a bounded queue is reached: apply its policy
                with contextlib.suppress(ClosedError):
                    await waiting
                    self._received += 1
            return
        if self.hub.closed:
            # Nothing here can take it: leave it on the server for another process or a restart.
            await self._settle(msg, msg.nak(delay=_REDELIVERY_DELAY))
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
        # Acknowledged only once the hub has delivered it (or refused it for good); left on the
        # server when the hub closed before it could deliver.
        acknowledge = True
        try:
            waiting = self._deliver(msg)
            if waiting is not None:  # a bounded queue is reached: apply its policy
                await waiting
                self._received += 1
        except ClosedError:  # the hub closed while a bounded queue was waited for
            acknowledge = False
        except asyncio.CancelledError:
            acknowledge = False
            raise
        finally:
            reply = msg.ack() if acknowledge else msg.nak(delay=_REDELIVERY_DELAY)
            await self._settle(msg, reply)

    async def _settle(self, msg: Msg, reply: Awaitable[None]) -> None:
        try:
            await reply
        except Exception as exc:  # the server will redeliver; dedupe catches it
            logger.warning("could not acknowledge %s: %r", msg.subject, exc)

    def _awaits_listener(self, msg: Msg) -> bool:
        """Whether no local listener (other than bridges) would take this JetStream message."""
        if msg.headers is not None and (
            msg.headers.get(ORIGIN_HEADER) == self.id or TOMBSTONE_HEADER in msg.headers
        ):
            return False  # our own (acknowledged and dropped), or a tombstone (applied now)
        key = tuple(msg.subject.split(".")[len(self._prefix) :])
        try:
            targets = self._core.targets(check_publishable(key))
        except ClosedError:
            return True
        except Exception:
            return False  # not a key: _deliver reports it
        return all(self._core.is_bridge(target.callback) for target in targets)

    def _inbound_route(self, subject: str) -> tuple[Key[Any], Key[Any]] | None:
        tokens = subject.split(".")
        if tokens[0].startswith("$") or tokens[0] == "_INBOX":
            # The server's and other clients' own traffic (JetStream API calls, replies), which
            # a pattern starting with '*' hears: never a key, and no attack; not ours.
            logger.debug("NATS bridge %s: ignored system subject %r", self.id[:8], subject)
            return None
        key = Key(*tokens[len(self._prefix) :])
        try:
            pattern = self._topic_for(key)
        except LookupError:  # pragma: no cover - NATS routes only our subjects to us
            return None
        if any(token in ("*", ">") for token in tokens) or (
            key[0] == "Hub" and pattern[0] != "Hub"  # the hub's own events: never sent either
        ):
            self._rejected += 1
            self._report(
                subject_to_key(subject),
                subject,
                "invalid_subject",
                f"subject {subject!r} holds a wildcard token, or is one of the hub's own "
                "topics, which this bridge does not bridge",
            )
            return None
        if isinstance(pattern, Topic) and pattern.retain:
            # Delivered as the concrete retained topic: the hub retains it as it delivers it.
            key = Topic._make(key, pattern._validator, pattern.name, pattern.description, (), True)
        if len(self._inbound_routes) >= 4096:
            self._inbound_routes.clear()
        route = self._inbound_routes[subject] = (key, pattern)
        return route

    def _deliver(self, msg: Msg) -> Coroutine[Any, Any, None] | None:
        subject = msg.subject
        inbound = self._inbound_routes.get(subject)
        if inbound is None:
            inbound = self._inbound_route(subject)
            if inbound is None:
                return None
        key, pattern = inbound
        headers = msg.headers
        if headers:
            msg_id = headers.get(MSG_ID_HEADER)
            origin = headers.get(ORIGIN_HEADER, "")
            if origin == self.id:
                id_key = self._id_key
                if id_key is not None and msg_id is not None and _is_tagged(id_key, msg_id):
                    return None  # our own message, back from the stream (or echoed)
                self._rejected += 1
                self._report(
                    key,
                    subject,
                    "forged",
                    f"message claims this bridge's origin {origin!r} with an id it never "
                    f"sent ({msg_id!r}): not delivered",
                )
                return None
            if msg_id is not None:
                seen_key = (origin, msg_id)
                if len(origin) + len(msg_id) > _MAX_ID_CHARS:
                    # Any peer chooses these: the window holds a digest of long ones, or it
                    # would hold dedupe_window times max_payload bytes.
                    digest = hashlib.blake2b(f"{origin}\n{msg_id}".encode(), digest_size=16)
                    seen_key = ("#", digest.hexdigest())
                if seen_key in self._seen:
                    self._duplicates += 1
                    return None
                self._seen[seen_key] = None
                if len(self._seen) > self._dedupe_window:
                    self._seen.popitem(last=False)
            if TOMBSTONE_HEADER in headers:
                if not is_retained(pattern):
                    self._rejected += 1
                    self._report(
                        key,
                        subject,
                        "invalid_tombstone",
                        f"tombstone on key {tuple(key)!r}, which no retained topic of this "
                        "bridge covers: not applied",
                    )
                    return None
                self._core.clear_remote(key)
                return None
        source: Validator[Any] | None = None
        if isinstance(pattern, Topic):
            try:
                payload = pattern._validator.validate_json(msg.data)
            except PydanticValidationError as exc:
                self._rejected += 1
                reason = "invalid_json" if _is_json_error(exc) else "invalid_payload"
                self._report(key, subject, reason, str(exc).replace("\n", " "))
                return None
            source = pattern._validator
        else:
            try:
                payload = json.loads(msg.data)
            except (ValueError, RecursionError) as exc:  # nested deeper than the stack
                self._rejected += 1
                self._report(key, subject, "invalid_json", str(exc))
                return None
        core = self._core
        telemetry = core.telemetry
        try:
            # Not to bridges (no echo): a full bounded queue is waited for, as by apublish; a
            # full ``raise`` queue's refusal is counted and reported as a drop (reason
            # ``raise``). Nothing is lost silently.
            if telemetry is None:
                waiting = core.deliver(key, payload, source, local=True, wait=True)
            else:  # the publish's trace continues here (telemetry.instrument)
                waiting = telemetry.continued(
                    headers, lambda: core.deliver(key, payload, source, local=True, wait=True)
                )
        except ClosedError:
            return None
        if waiting is None:
            self._received += 1
        return waiting

    # -- reporting --------------------------------------------------------------------------

    async def _on_server_error(self, error: Exception) -> None:
        failure = self._connect_failure
        if failure is not None and not failure.done():
            failure.set_result(error)  # still starting: start() raises it
            return
        if self._down or self._closed or isinstance(error, _CONNECTION_LOST):
            # A lost connection, then each reconnect attempt failing until the server is back:
            # the outage is reported once when it starts and once when it ends.
            logger.debug("NATS bridge %s: %s", self.id[:8], self._safe(repr(error)))
            await self._on_disconnected()
            return
        text = self._safe(str(error) or type(error).__name__)
        match = re.search(r'(?:publish|subscription) to "([^"]+)"', text)
        subject = match.group(1) if match else ""
        key = subject_to_key(subject) if subject else Key("server")
        self._report(key, subject, "server", text)
        if subject and "permissions violation for publish" in text.lower():
            self._publish_denied(subject, text)

    async def _on_disconnected(self) -> None:
        if self._closed or self._down or self._nc is None or self._nc.is_closed:
            return
        self._down = True
        self._report(
            Key("server"),
            "",
            "disconnected",
            f"connection to the NATS server at {self._display} lost; reconnecting",
        )

    async def _on_reconnected(self) -> None:
        if not self._down:
            return
        self._down = False
        unsent, self._unsent_in_outage = self._unsent_in_outage, 0
        lost = f"; {unsent} message(s) published meanwhile were not sent" if unsent else ""
        self._report(
            Key("server"),
            "",
            "reconnected",
            f"reconnected to the NATS server at {self._display}{lost}",
        )

    def _report(self, key: Sequence[str], subject: str, reason: str, error: str) -> None:
        if reason in ("publish", "server", "unserialisable", "invalid_key"):
            self._errors += 1
        error = self._safe(error)
        level = logging.WARNING if reason == "reconnected" else logging.ERROR
        where = f" on subject {subject!r}" if subject else ""
        logger.log(level, "NATS bridge %s: %s%s: %s", self.id[:8], reason, where, error)
        # Through local delivery: no bridge sends a bridge's report out (no storm).
        self._core.reporter.bridge_error(key, subject, reason, error)


_CONNECTION_LOST = (
    OSError,
    nats.errors.UnexpectedEOF,
    nats.errors.StaleConnectionError,
    nats.errors.NoServersError,
)


def _is_json_error(exc: PydanticValidationError) -> bool:
    return any(error["type"] == "json_invalid" for error in exc.errors())
