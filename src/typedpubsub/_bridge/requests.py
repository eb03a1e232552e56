"""Request/reply across NATS for a bridge: serve remote requests, forward local ones.

A request is a core NATS request (a reply inbox, nats-py's ``request``) carrying the request's
JSON; the reply is the reply's JSON, or, when it failed, an error: the header
``Typedpubsub-Error`` says which kind, ``Typedpubsub-Error-Type`` the exception's type name, and
the body its message as UTF-8 text. A process subscribes to a request subject (in the queue
group ``queue_group``, default ``typedpubsub``) only while a local responder covers it, so a
request nobody can answer gets NATS's no-responders status at once.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticSerializationError

from .._key import WILDCARD, Key, is_subset, overlaps
from .._request import DEFAULT_TIMEOUT, RequestTopic, parse_reply, responder_error
from ..errors import (
    ClosedError,
    NoResponderError,
    PayloadValidationError,
    RequestTimeoutError,
    ResponderError,
)
from .headers import ERROR_HEADER, ERROR_TYPE_HEADER, TIMEOUT_HEADER

if TYPE_CHECKING:
    from .._hub import HubCore

__all__ = ["DEFAULT_QUEUE_GROUP", "RequestBridge"]

logger = logging.getLogger("typedpubsub.nats")

DEFAULT_QUEUE_GROUP = "typedpubsub"
"""Queue group of request subscriptions when the bridge has none: one process answers each."""

_MAX_ERROR_BYTES = 4096  # an error message longer than this is cut, on both sides
_MAX_TIMEOUT = 3600.0  # a remote requester cannot make a handler run longer than this
_TYPE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,127}")
_KINDS = ("responder", "no_responder", "timeout")
_FOREVER = 365 * 86_400.0  # nats-py takes a number: a year stands for no timeout

Report = Callable[[Sequence[str], str, str, str], None]


def _clip(text: str) -> str:
    data = text.encode("utf-8", "replace")
    if len(data) <= _MAX_ERROR_BYTES:
        return text
    return data[: _MAX_ERROR_BYTES - 3].decode("utf-8", "ignore") + "..."


class RequestBridge:
    """The request/reply half of a :class:`NatsBridge` for its request topics."""

    def __init__(
        self,
        core: HubCore,
        topics: Sequence[RequestTopic[Any, Any]],
        subject_of: Callable[[Sequence[str]], str],
        pattern_subject_of: Callable[[Sequence[str]], str],
        prefix: tuple[str, ...],
        queue_group: str | None,
        label: str,
        report: Report,
        max_reply_bytes: int | None = None,
    ) -> None:
        self._core = core
        self.topics = tuple(topics)
        self._subject_of = subject_of
        self._pattern_subject_of = pattern_subject_of
        self._prefix = prefix
        self._queue_group = queue_group or DEFAULT_QUEUE_GROUP
        self._label = label
        self._report = report
        self._max_reply_bytes = max_reply_bytes
        self._nc: Client | None = None
        self._subscriptions: dict[str, Any] = {}
        self._serving: set[asyncio.Task[None]] = set()
        self._asking: set[asyncio.Future[Msg]] = set()
        self._syncing: asyncio.Task[None] | None = None
        self._dirty = False
        self._closed = False
        self.sent = 0
        self.served = 0
        self.rejected = 0

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called (read after awaits, where it may have changed)."""
        return self._closed

    async def start(self, nc: Client) -> None:
        """Forward local requests without a local responder; serve what local ones cover."""
        if not self.topics:
            return
        self._nc = nc
        requests = self._core.requests
        for topic in self.topics:
            requests.add_forwarder(topic, self._forward)
        requests.watch(self._changed)
        await self._sync()

    async def aclose(self) -> None:
        """Stop serving and forwarding; requests being served are cancelled."""
        if self._closed or self._nc is None:
            self._closed = True
            return
        self._closed = True
        requests = self._core.requests
        requests.unwatch(self._changed)
        requests.remove_forwarder(self._forward)
        if self._syncing is not None:
            self._syncing.cancel()
            await asyncio.wait({self._syncing})
        for subscription in self._subscriptions.values():
            try:
                await subscription.unsubscribe()
            except Exception as exc:  # a dead connection: the server forgets it anyway
                logger.debug("unsubscribe failed at close: %r", exc)
        self._subscriptions.clear()
        for asking in list(self._asking):
            asking.cancel()
        tasks = list(self._serving)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    # -- subscriptions follow the local responders ------------------------------------------

    def _changed(self) -> None:
        self._dirty = True
        if self._closed or (self._syncing is not None and not self._syncing.done()):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - responders are added in the loop
            return
        self._syncing = loop.create_task(self._sync_loop())

    async def _sync_loop(self) -> None:
        while self._dirty and not self._closed:
            await self._sync()

    def _wanted(self) -> dict[str, RequestTopic[Any, Any]]:
        """Subject to subscribe -> the bridged topic it serves, for the local responders."""
        wanted: dict[str, RequestTopic[Any, Any]] = {}
        patterns = self._core.requests.patterns()
        for topic in self.topics:
            for pattern in patterns:
                if is_subset(tuple(pattern), tuple(topic)):
                    parts: Sequence[str] = pattern
                elif overlaps(pattern, topic):
                    parts = topic
                else:
                    continue
                wanted.setdefault(self._pattern_subject_of((*self._prefix, *parts)), topic)
        return wanted

    async def _sync(self) -> None:
        self._dirty = False
        nc = self._nc
        if nc is None or self._closed:
            return
        wanted = self._wanted()
        for subject in [s for s in self._subscriptions if s not in wanted]:
            # Drained, not dropped: a request already on its way is answered (no_responder),
            # where an unsubscribed one would leave its requester waiting for the timeout.
            await self._subscriptions.pop(subject).drain()
        for subject, topic in wanted.items():
            if subject not in self._subscriptions:

                async def on_request(msg: Msg, topic: RequestTopic[Any, Any] = topic) -> None:
                    self._on_request(msg, topic)

                self._subscriptions[subject] = await nc.subscribe(
                    subject, queue=self._queue_group, cb=on_request
                )
        # As in NatsBridge._subscribe: the second PING goes out behind the SUBs.
        await nc.flush()
        await nc.flush()

    # -- forwarding local requests ----------------------------------------------------------

    async def _forward(
        self, topic: RequestTopic[Any, Any], key: Key[Any], payload: Any, timeout: float | None
    ) -> Any:
        nc = self._nc
        if nc is None or self._closed or nc.is_closed:
            raise ClosedError(f"{self._label} is closed; no request is sent across NATS")
        subject = self._subject_of((*self._prefix, *key))
        try:
            data = topic.adapter.dump_json(payload)
        except PydanticSerializationError as exc:
            raise ValueError(
                f"request on key {tuple(key)!r} cannot be sent as JSON: {exc}"
            ) from None
        headers = {TIMEOUT_HEADER: repr(timeout)} if timeout is not None else None
        telemetry = self._core.telemetry
        trace_headers = telemetry.inject() if telemetry is not None else None
        if trace_headers:  # an instrumented hub's request carries its trace context
            headers = {**(headers or {}), **trace_headers}
        # In a task that aclose() cancels: nats-py leaves a request waiting for its timeout
        # when the connection closes.
        asking = asyncio.ensure_future(
            nc.request(
                subject, data, timeout=_FOREVER if timeout is None else timeout, headers=headers
            )
        )
        self._asking.add(asking)
        try:
            msg = await asking
        except asyncio.CancelledError:
            if asking.cancelled() and self.closed:
                raise ClosedError(f"{self._label} closed while the request was pending") from None
            raise
        except nats.errors.NoRespondersError:
            raise NoResponderError(
                f"no responder for key {tuple(key)!r}, here or across NATS", tuple(key)
            ) from None
        except nats.errors.TimeoutError:
            raise RequestTimeoutError(
                f"no reply on key {tuple(key)!r} within {timeout} s", tuple(key), timeout
            ) from None
        except (nats.errors.ConnectionClosedError, nats.errors.ConnectionDrainingError):
            raise ClosedError(f"{self._label} closed while the request was pending") from None
        finally:
            self._asking.discard(asking)
        self.sent += 1
        return self._reply(topic, key, msg)

    def _reply(self, topic: RequestTopic[Any, Any], key: Key[Any], msg: Msg) -> Any:
        """The reply of ``msg``, or the error it carries; a malformed one is refused clearly."""
        data = msg.data
        limit = self._max_reply_bytes
        if limit is not None and len(data) > limit:
            raise self._malformed(topic, key, f"is {len(data)} bytes, more than {limit}")
        headers = msg.headers or {}
        kind = headers.get(ERROR_HEADER)
        if kind is None:
            return parse_reply(topic, key, data)
        if kind not in _KINDS:
            raise self._malformed(topic, key, f"carries an unknown {ERROR_HEADER} {kind[:40]!r}")
        text = _clip(data.decode("utf-8", "replace"))
        if kind == "no_responder":
            raise NoResponderError(
                f"no responder for key {tuple(key)!r}: the process that took the request has "
                "none any more",
                tuple(key),
            )
        if kind == "timeout":
            raise RequestTimeoutError(
                f"no reply on key {tuple(key)!r}: the responder across NATS timed out ({text})",
                tuple(key),
                None,
            )
        error_type = headers.get(ERROR_TYPE_HEADER, "")
        if not _TYPE_NAME.fullmatch(error_type):
            raise self._malformed(
                topic, key, f"carries a malformed {ERROR_TYPE_HEADER} {error_type[:40]!r}"
            )
        raise responder_error(key, error_type, text, "across NATS")

    def _malformed(
        self, topic: RequestTopic[Any, Any], key: Key[Any], what: str
    ) -> PayloadValidationError:
        return PayloadValidationError(f"reply on key {tuple(key)!r} {what}", tuple(key), topic, [])

    # -- serving remote requests ------------------------------------------------------------

    def _on_request(self, msg: Msg, topic: RequestTopic[Any, Any]) -> None:
        # nats-py awaits one callback at a time per subscription: each request gets its task,
        # so a slow responder does not hold up the others.
        if self._closed:
            return
        task = asyncio.get_running_loop().create_task(self._serve(msg, topic))
        self._serving.add(task)
        task.add_done_callback(self._serving.discard)

    async def _serve(self, msg: Msg, topic: RequestTopic[Any, Any]) -> None:
        subject = msg.subject
        tokens = subject.split(".")[len(self._prefix) :]
        key = Key(*tokens)
        if not msg.reply or WILDCARD in tokens or not tokens:
            self.rejected += 1
            self._report(key, subject, "invalid_request", "request without a reply subject")
            return
        timeout = self._timeout(msg)
        telemetry = self._core.telemetry
        if telemetry is not None:  # this task answers in the requester's trace
            telemetry.adopt(msg.headers)
        try:
            payload = topic._validator.validate_json(msg.data)
        except PydanticValidationError as exc:
            self.rejected += 1
            error = str(exc).replace("\n", " ")
            self._report(key, subject, "invalid_request", error)
            await self._respond(msg, b"", "responder", "PayloadValidationError", error)
            return
        try:
            reply, responder_topic = await self._core.requests.answer(
                key, payload, topic._validator, timeout
            )
            data = responder_topic.response_adapter.dump_json(reply)
        except (NoResponderError, ClosedError):
            await self._respond(msg, b"", "no_responder", "", "no responder")
        except RequestTimeoutError as exc:
            await self._respond(msg, b"", "timeout", "", str(exc))
        except ResponderError as exc:
            await self._respond(msg, b"", "responder", exc.error_type, exc.error_message)
        except (PayloadValidationError, PydanticSerializationError) as exc:
            await self._respond(msg, b"", "responder", type(exc).__name__, str(exc))
        else:
            self.served += 1
            await self._respond(msg, data, None, "", "")

    def _timeout(self, msg: Msg) -> float:
        """The requester's timeout (its header), within reason; the default without one."""
        try:
            value = float((msg.headers or {}).get(TIMEOUT_HEADER, DEFAULT_TIMEOUT))
        except ValueError:
            return DEFAULT_TIMEOUT
        if not value > 0:
            return DEFAULT_TIMEOUT
        return min(value, _MAX_TIMEOUT)

    async def _respond(
        self, msg: Msg, data: bytes, kind: str | None, error_type: str, text: str
    ) -> None:
        headers = None
        if kind is not None:
            headers = {ERROR_HEADER: kind}
            if error_type:
                headers[ERROR_TYPE_HEADER] = error_type
            data = _clip(text).encode()
        nc = self._nc
        if nc is None or nc.is_closed:
            return
        try:
            await nc.publish(msg.reply, data, headers=headers)
        except Exception as exc:  # the requester times out; the reason is logged here
            self._report(
                Key(*msg.subject.split(".")), msg.subject, "publish", f"reply not sent: {exc}"
            )
