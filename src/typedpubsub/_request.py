"""Request/reply: request topics, responders, and the requests in flight on a hub."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Generic, Protocol, Union, cast

from pydantic import ValidationError as PydanticValidationError
from typing_extensions import TypeForm, TypeVar

from ._callbacks import (
    check_listener_types,
    check_reply_type,
    check_result,
    is_async_callable,
)
from ._describe import callback_label, describe
from ._key import Key, PossibleKey, check_pattern, check_publishable, is_subset
from ._router import Router, Target
from ._topic import (
    Topic,
    Validator,
    convert_for_listener,
    format_validation_error,
    type_name,
    validator_for,
)
from .errors import (
    ClosedError,
    ListenerNotFoundError,
    NoResponderError,
    RequestTimeoutError,
    ResponderError,
)

if TYPE_CHECKING:
    from ._hub import HubCore

__all__ = [
    "DEFAULT_TIMEOUT",
    "Answerable",
    "Forward",
    "Handler",
    "RequestTopic",
    "Requests",
    "check_timeout",
    "parse_reply",
]

Req = TypeVar("Req", default=Any)
Resp = TypeVar("Resp", default=Any)
# Covariant in the class: only produced (a RequestTopic[A, Sum] is a RequestTopic[A, object]),
# which lets mypy type `print(await hub.request(...))` (an `object` context); add_responder
# binds it exactly through Answerable instead.
Resp_co = TypeVar("Resp_co", covariant=True, default=Any)

logger = logging.getLogger("typedpubsub")

DEFAULT_TIMEOUT = 10.0
"""Seconds a request waits for its reply unless told otherwise."""

# A sync handler returns the reply; an async one returns an awaitable of it.
Handler = Union[Callable[[Key, Req], Awaitable[Resp]], Callable[[Key, Req], Resp]]  # noqa: UP007 - a runtime alias on 3.10 needs Union
# A bridge's way to send a request on: (topic, key, validated payload, timeout) -> reply.
Forward = Callable[["RequestTopic[Any, Any]", Key, Any, "float | None"], Coroutine[Any, Any, Any]]


class Answerable(Protocol[Req, Resp]):
    """What add_responder takes: mutable attributes make both types exact (invariant)."""

    payload_type: TypeForm[Req]
    response_type: TypeForm[Resp]


class RequestTopic(Topic[Req], Generic[Req, Resp_co]):
    """A topic whose messages are requests answered by a reply of ``response_type``.

    ``RequestTopic(('rpc', 'add'), AddRequest, Sum)`` is a ``RequestTopic[AddRequest, Sum]``:
    a :class:`Topic` of its request type (listeners subscribed through it observe requests),
    whose ``hub.request(...)`` returns a validated ``Sum``. Wildcards, :meth:`fill` and key
    prefixes keep both types. Both types follow the rules of :class:`Topic`.
    """

    response_type: TypeForm[Resp_co]
    _response: Validator[Any]

    def __new__(
        cls,
        key: PossibleKey,
        request_type: TypeForm[Req],
        response_type: TypeForm[Resp_co],
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        parameters: Sequence[str] | None = None,
        trust_instances: bool = False,
    ) -> RequestTopic[Req, Resp_co]:
        topic = Topic.__new__(
            cls,
            key,
            request_type,
            name=name,
            description=description,
            parameters=parameters,
            trust_instances=trust_instances,
        )
        response: Validator[Any] = validator_for(response_type, trust_instances)
        return cast("RequestTopic[Req, Resp_co]", topic)._with_response(response)

    def _with_response(self, response: Validator[Any]) -> RequestTopic[Req, Resp_co]:
        self._response = response
        self.response_type = response.payload_type
        return self

    @property
    def response_adapter(self) -> Any:
        """The pydantic ``TypeAdapter`` of the response type (for JSON and JSON Schema)."""
        return self._response.adapter

    def validate_response(self, reply: object) -> Resp_co:
        """Return ``reply`` as a valid ``Resp``; raise :class:`PayloadValidationError` otherwise."""
        try:
            return cast("Resp_co", self._response.validate(reply))
        except PydanticValidationError as exc:
            raise format_validation_error(self, self, exc, self.response_type, "reply") from exc

    def fill(self, *values: str, **named: str) -> RequestTopic[Req, Resp_co]:
        """Replace the wildcards, in order or by parameter name, to get a concrete topic."""
        topic = cast("RequestTopic[Req, Resp_co]", super().fill(*values, **named))
        return topic._with_response(self._response)

    def _derive(self, parts: Key[Any]) -> RequestTopic[Req, Resp_co]:
        topic = cast("RequestTopic[Req, Resp_co]", super()._derive(parts))
        return topic._with_response(self._response)

    def __add__(self, other: Iterable[str], /) -> RequestTopic[Req, Resp_co]:  # type: ignore[override]  # keeps both types, as Topic's does
        return cast("RequestTopic[Req, Resp_co]", super().__add__(other))

    def __radd__(self, other: Iterable[str], /) -> RequestTopic[Req, Resp_co]:
        return cast("RequestTopic[Req, Resp_co]", super().__radd__(other))

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild_request_topic, (
            tuple(self),
            self.payload_type,
            self.response_type,
            self.name,
            self.description,
            self.parameters,
            self.trust_instances,
        )

    def __repr__(self) -> str:
        extra = f", name={self.name!r}" if self.name else ""
        return (
            f"RequestTopic({tuple(self)!r}, {type_name(self.payload_type)}, "
            f"{type_name(self.response_type)}{extra})"
        )


def _rebuild_request_topic(
    parts: tuple[str, ...],
    request_type: Any,
    response_type: Any,
    name: str | None,
    description: str | None,
    parameters: tuple[str | None, ...],
    trust_instances: bool,
) -> RequestTopic[Any, Any]:
    topic = RequestTopic(parts, request_type, response_type, trust_instances=trust_instances)
    topic.name, topic.description, topic.parameters = name, description, parameters
    return topic


def check_timeout(timeout: object) -> float | None:
    """``timeout`` as seconds to wait (None: for ever), or ``TypeError``/``ValueError``."""
    if timeout is None:
        return None
    if type(timeout) not in (int, float):
        raise TypeError(f"timeout must be a number or None, got {describe(timeout)}")
    seconds = float(cast("float", timeout))
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"timeout must be > 0 and finite, got {timeout!r}")
    return seconds


def parse_reply(topic: RequestTopic[Any, Resp], key: Sequence[str], data: bytes) -> Resp:
    """A JSON reply as a valid ``Resp`` of ``topic``, or :class:`PayloadValidationError`."""
    try:
        return cast("Resp", topic._response.validate_json(data))
    except PydanticValidationError as exc:
        raise format_validation_error(key, topic, exc, topic.response_type, "reply") from exc


class _Responder:
    """A handler answering requests on a pattern, with the router target it is found by.

    Not a subclass of :class:`Target`: that class may be compiled (mypyc), and an interpreted
    class cannot inherit from a compiled one.
    """

    __slots__ = ("callback", "is_async", "label", "target", "topic")

    def __init__(self, topic: RequestTopic[Any, Any], handler: Any, seq: int, label: str) -> None:
        self.target = Target(topic, handler, seq, topic._validator, None, None, None, label)
        self.topic = topic
        self.callback = handler
        self.label = label
        self.is_async = is_async_callable(handler)


class Requests:
    """The responders of one hub, the bridges that forward its requests, and those in flight.

    The hub's package-internal collaborator for request/reply: :class:`Hub` and
    :class:`Subscriber` delegate to it, bridges register as forwarders and answer remote
    requests through :meth:`answer`.
    """

    def __init__(self, core: HubCore) -> None:
        self._core = core
        self._router = Router()
        self._responders: dict[Target, _Responder] = {}  # by their router targets
        self._seq = 0
        self._forwarders: list[tuple[Key[Any], Forward]] = []
        self._watchers: list[Callable[[], None]] = []
        self._pending: set[asyncio.Task[Any]] = set()
        # The responder per requested key, until responders change (Router.match walks the
        # trie: about a third of a request's own time without it).
        self._found: dict[tuple[str, ...], _Responder | None] = {}
        self._closed = False

    # -- responders -------------------------------------------------------------------------

    def add(self, topic: object, handler: object, label: str) -> bool:
        """Register ``handler`` for ``topic``; False (and a warning) if it already is."""
        if self._closed:
            raise ClosedError("hub is closed; create a new Hub")
        if not isinstance(topic, RequestTopic):
            raise TypeError(f"topic must be a RequestTopic, got {describe(topic)}")
        if not callable(handler):
            raise TypeError(f"handler must be callable, got {describe(handler)}")
        pattern = cast("RequestTopic[Any, Any]", check_pattern(topic, "topic"))
        check_listener_types(handler, (pattern,))
        check_reply_type(handler, pattern.response_type, pattern)
        if self._router.get(pattern, handler) is not None:
            logger.warning("responder %s is already on key %r; not added again", label, pattern)
            return False
        self._seq += 1
        responder = _Responder(pattern, handler, self._seq, label)
        self._router.add(responder.target)
        self._responders[responder.target] = responder
        self._changed()
        return True

    def remove(self, topic: object, handler: object) -> None:
        """Unregister ``handler`` from ``topic``; requests it is answering still complete."""
        pattern = check_pattern(topic, "topic")
        removed = self._router.remove(pattern, handler)
        if removed is None:
            raise ListenerNotFoundError(
                f"no responder {callback_label(handler)} on key {tuple(pattern)!r}; pass the "
                "topic and handler given to add_responder"
            )
        del self._responders[removed[0]]
        self._changed()

    def patterns(self) -> list[Key[Any]]:
        """The patterns local responders answer, in registration order."""
        return [self._responders[t].topic for t in sorted(self._router, key=lambda t: t.seq)]

    def watch(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` whenever a responder is added or removed (bridges subscribe)."""
        self._watchers.append(callback)

    def unwatch(self, callback: Callable[[], None]) -> None:
        if callback in self._watchers:
            self._watchers.remove(callback)

    def _changed(self) -> None:
        self._found.clear()
        for watcher in list(self._watchers):
            watcher()

    def _find(self, key: tuple[str, ...]) -> _Responder | None:
        # The first responder registered whose pattern matches answers (Router.match: in
        # registration order).
        found = self._found
        try:
            return found[key]
        except KeyError:
            pass
        targets = self._router.match(key)
        responder = self._responders[targets[0]] if targets else None
        if len(found) >= _FOUND_CACHE:
            found.clear()
        found[key] = responder
        return responder

    # -- forwarders (bridges) ---------------------------------------------------------------

    def add_forwarder(self, pattern: Key[Any], forward: Forward) -> None:
        """Send requests on keys matching ``pattern`` through ``forward`` when none is local."""
        self._forwarders.append((pattern, forward))

    def remove_forwarder(self, forward: Forward) -> None:
        self._forwarders = [(p, f) for p, f in self._forwarders if f != forward]

    # -- requests ---------------------------------------------------------------------------

    async def request(
        self, topic: RequestTopic[Any, Resp], payload: object, timeout: object
    ) -> Resp:
        """Validate, let listeners observe, and ask the first responder (or a bridge)."""
        if not isinstance(topic, RequestTopic):
            raise TypeError(f"topic must be a RequestTopic, got {describe(topic)}")
        seconds = check_timeout(timeout)
        key = check_publishable(topic, "topic")
        self._check_open()
        request = topic.validate(payload)
        left = await self._observe(key, request, topic._validator, seconds)
        responder = self._find(key)
        if responder is None:
            for pattern, forward in self._forwarders:
                if is_subset(key, pattern):
                    # The bridge bounds it with the timeout (and reports it the same way).
                    forwarded = forward(topic, key, request, seconds)
                    return cast("Resp", await self._in_task(forwarded, key, None))
            raise NoResponderError(f"no responder for key {tuple(key)!r}", tuple(key))
        reply = await self._run(responder, key, request, topic._validator, left, seconds)
        if responder.topic._response is topic._response:
            return cast("Resp", reply)
        source = responder.topic._response
        try:
            return cast("Resp", topic._response.validate(reply))
        except PydanticValidationError as exc:
            try:  # another reply type on the same key: its dump gets a second chance
                dump = source.adapter.dump_python(reply, warnings=False)
                return cast("Resp", topic._response.validate(dump))
            except Exception:
                raise format_validation_error(
                    key, topic, exc, topic.response_type, "reply"
                ) from exc

    async def answer(
        self, key: Key[Any], payload: object, source: Validator[Any] | None, timeout: float | None
    ) -> tuple[Any, RequestTopic[Any, Any]]:
        """Answer a request that arrived through a bridge with a local responder only.

        Returns the reply (valid for the responder's topic) and that topic; raises
        :class:`NoResponderError`, :class:`ResponderError` or :class:`RequestTimeoutError`.
        """
        self._check_open()
        left = await self._observe(key, payload, source, timeout)
        responder = self._find(key)
        if responder is None:
            raise NoResponderError(f"no responder for key {tuple(key)!r}", tuple(key))
        reply = await self._run(responder, key, payload, source, left, timeout)
        return reply, responder.topic

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError("hub is closed; create a new Hub to send requests")

    async def _observe(
        self, key: Key[Any], request: object, source: Validator[Any] | None, timeout: float | None
    ) -> float | None:
        """Deliver the request to the key's listeners; what is left of ``timeout`` after it."""
        # Listeners of the key get the request as a message; never a bridge's outbound one,
        # which would send it out as a publish.
        waiting = self._core.deliver(key, request, source, local=True, wait=True)
        if waiting is None:
            return timeout
        # A full 'block' queue makes it wait for room: within the request's timeout.
        loop = asyncio.get_running_loop()
        start = loop.time()
        await self._in_task(waiting, key, timeout)
        if timeout is None:
            return None
        return max(timeout - (loop.time() - start), _LEAST_LEFT)

    async def _run(
        self,
        responder: _Responder,
        key: Key[Any],
        request: object,
        source: Validator[Any] | None,
        timeout: float | None,
        stated: float | None,
    ) -> Any:
        """Ask ``responder``, within ``timeout`` (what is left of the ``stated`` one)."""
        topic = responder.topic
        if topic._validator is not source:
            request = convert_for_listener(topic, key, request, source)
        if not responder.is_async:
            telemetry = self._core.telemetry
            try:
                if telemetry is None:
                    reply = responder.callback(key, request)
                else:  # a CONSUMER span (telemetry.instrument)
                    reply = telemetry.process(
                        key,
                        None,
                        telemetry.template(tuple(topic)),
                        lambda: responder.callback(key, request),
                    )
                if not isinstance(reply, Awaitable):
                    check_result(reply)
            except Exception as exc:
                raise self._failed(responder, key, exc) from None
            if not isinstance(reply, Awaitable):
                return self._checked(responder, key, reply)
            # A plain function returning an awaitable (Handler's async form allows it).
            work = self._call(responder, key, request, reply)
            return await self._in_task(work, key, timeout, stated)
        return await self._in_task(self._call(responder, key, request), key, timeout, stated)

    async def _in_task(
        self,
        work: Coroutine[Any, Any, Any],
        key: Key[Any],
        timeout: float | None,
        stated: float | None = None,
    ) -> Any:
        """Run ``work`` (a handler, or a bridge forwarding) in a task that close() cancels."""
        loop = asyncio.get_running_loop()
        task = loop.create_task(work)
        pending = self._pending
        pending.add(task)
        task.add_done_callback(pending.discard)
        # Awaited directly (asyncio.wait costs a loop turn more per request); the timer and
        # close() cancel the handler's task, which ends the await with CancelledError, and
        # cancelling the requester cancels the task it awaits.
        expired: list[bool] = []
        timer = None if timeout is None else loop.call_later(timeout, _expire, task, expired)
        try:
            return await task
        except asyncio.CancelledError:
            if expired:
                stated = timeout if stated is None else stated
                raise RequestTimeoutError(
                    f"no reply on key {tuple(key)!r} within {stated} s", tuple(key), stated
                ) from None
            if self._closed and task.cancelled():
                raise ClosedError(
                    f"hub closed while the request on {tuple(key)!r} was pending"
                ) from None
            raise  # the requester was cancelled (and with it the handler's task)
        finally:
            if timer is not None:
                timer.cancel()

    async def _call(
        self,
        responder: _Responder,
        key: Key[Any],
        request: object,
        started: Awaitable[Any] | None = None,
    ) -> Any:
        telemetry = self._core.telemetry
        try:
            if started is None and telemetry is not None:  # a CONSUMER span (telemetry.instrument)
                reply = await telemetry.aprocess(
                    key,
                    None,
                    telemetry.template(tuple(responder.topic)),
                    lambda: cast("Awaitable[Any]", responder.callback(key, request)),
                )
            else:
                if started is None:
                    started = cast("Awaitable[Any]", responder.callback(key, request))
                reply = await started
        except asyncio.CancelledError as exc:
            if _cancel_requested():
                raise  # timeout, close or the requester's cancellation: _in_task says which
            raise self._failed(responder, key, exc) from None  # the handler raised it itself
        except Exception as exc:
            raise self._failed(responder, key, exc) from None
        return self._checked(responder, key, reply)

    def _checked(self, responder: _Responder, key: Key[Any], reply: object) -> Any:
        """The reply, valid for the responder's own topic; an invalid one is its failure."""
        topic = responder.topic
        try:
            return topic._response.validate(reply)
        except PydanticValidationError as exc:
            error = format_validation_error(key, topic, exc, topic.response_type, "reply")
            raise self._failed(responder, key, error) from None

    def _failed(self, responder: _Responder, key: Key[Any], exc: BaseException) -> ResponderError:
        """Report a responder's failure as a listener's, and the error the requester gets."""
        self._core.reporter.listener_error(key, responder.label, exc)
        return responder_error(key, type(exc).__name__, _text(exc), responder.label)

    def close(self) -> None:
        """Fail every request in flight with :class:`ClosedError`; refuse new ones."""
        self._closed = True
        for task in list(self._pending):
            task.cancel()


_FOUND_CACHE = 4096
_LEAST_LEFT = 1e-3  # seconds a responder still gets after observers took the whole timeout


def _cancel_requested() -> bool:
    """Whether the current task was asked to cancel; always True before Python 3.11."""
    cancelling = getattr(asyncio.current_task(), "cancelling", None)
    return cancelling is None or bool(cancelling())


def _expire(task: asyncio.Task[Any], expired: list[bool]) -> None:
    if not task.done():
        expired.append(True)
        task.cancel()


def responder_error(
    key: Sequence[str], error_type: str, error_message: str, where: str = ""
) -> ResponderError:
    """The :class:`ResponderError` a requester gets for a responder's failure."""
    who = f"responder {where}" if where else "responder"
    return ResponderError(
        f"{who} on key {tuple(key)!r} raised {error_type}: {error_message}",
        tuple(key),
        error_type,
        error_message,
    )


def _text(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # a user's exception may fail to print; the report must not fail
        return f"<unprintable {type(exc).__name__}>"
