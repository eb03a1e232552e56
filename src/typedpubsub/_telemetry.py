"""OpenTelemetry spans and metrics for one hub, per the messaging semantic conventions.

Imported only by :func:`typedpubsub.telemetry.instrument`: an uninstrumented hub never imports
OpenTelemetry. The hub's core holds it (``HubCore.telemetry``, None unless instrumented):
routes built meanwhile call :meth:`Telemetry.wrap_targets` (so deliveries are traced with no
per-message check on an uninstrumented hub); an async listener's consumer processes the
:class:`Queued` items they put in its inbox; NATS bridges call :meth:`Telemetry.inject` when
sending and :meth:`Telemetry.continued` when delivering what arrived.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.metrics import Meter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from ._callbacks import check_result
from ._key import WILDCARD

T = TypeVar("T")

if TYPE_CHECKING:
    from ._inbox import Inbox
    from ._router import Target

__all__ = ["SYSTEM", "Telemetry"]

SYSTEM: str = "typedpubsub"
"""The ``messaging.system`` of every span and metric (not one of the registered values)."""

# Attribute and metric names of the messaging semantic conventions (v1.3x, "Development").
_SYSTEM = "messaging.system"
_OPERATION_NAME = "messaging.operation.name"
_OPERATION_TYPE = "messaging.operation.type"
_DESTINATION = "messaging.destination.name"
_TEMPLATE = "messaging.destination.template"
_ERROR_TYPE = "error.type"

_NAMES_CACHE = 4096


def error_type(exc: BaseException) -> str:
    """``error.type`` of an exception: its class's qualified name, module first unless builtin."""
    cls = type(exc)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def _fail(span: trace.Span, exc: BaseException) -> str:
    kind = error_type(exc)
    span.set_attribute(_ERROR_TYPE, kind)
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
    return kind


_RESERVED_HEADER_PREFIXES = ("nats-", "typedpubsub-")
"""Header names (lower-cased) a propagator may not write: NATS's and the bridge's own."""


class Telemetry:
    """The tracer, the instruments and the wrappers of one instrumented hub."""

    def __init__(
        self, tracer: trace.Tracer, meter: Meter, bridges: Callable[[object], bool]
    ) -> None:
        self.tracer = tracer
        self.active = True
        self._is_bridge = bridges
        self._names: dict[object, str] = {}
        self.sent = meter.create_counter(
            "messaging.client.sent.messages",
            unit="{message}",
            description="Number of messages producer attempted to send to the broker.",
        )
        self.consumed = meter.create_counter(
            "messaging.client.consumed.messages",
            unit="{message}",
            description="Number of messages that were delivered to the application.",
        )
        self.operation_duration = meter.create_histogram(
            "messaging.client.operation.duration",
            unit="s",
            description="Duration of messaging operation initiated by a producer or consumer "
            "client.",
        )
        self.process_duration = meter.create_histogram(
            "messaging.process.duration", unit="s", description="Duration of processing operation."
        )

    # -- names ------------------------------------------------------------------------------

    def destination(self, key: object) -> str:
        """``messaging.destination.name``: the key's parts joined by ``.``."""
        try:
            name = self._names.get(key)
        except TypeError:  # an unhashable key: the hub refuses it, the span says so
            return _join(key)
        if name is None:
            if len(self._names) >= _NAMES_CACHE:
                self._names.clear()
            name = self._names[key] = _join(key)
        return name

    # -- producer ---------------------------------------------------------------------------

    def send(self, publish: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
        """``publish`` (or ``publish_threadsafe``) in a PRODUCER span, the current one meanwhile."""

        def traced_publish(key: Any, message: Any) -> None:
            with self._sending(key):
                publish(key, message)

        return traced_publish

    def asend(
        self, apublish: Callable[[Any, Any], Awaitable[None]]
    ) -> Callable[[Any, Any], Coroutine[Any, Any, None]]:
        """``apublish`` in a PRODUCER span, the current one meanwhile."""

        async def traced_apublish(key: Any, message: Any) -> None:
            with self._sending(key):
                await apublish(key, message)

        return traced_apublish

    def request(self, request: Callable[..., Any]) -> Callable[..., Coroutine[Any, Any, Any]]:
        """A hub's ``request`` in a PRODUCER span, the current one until the reply is back."""

        async def traced_request(key: Any, *args: Any, **kwargs: Any) -> Any:
            with self._sending(key):
                return await request(key, *args, **kwargs)

        return traced_request

    @contextlib.contextmanager
    def _sending(self, key: Any) -> Iterator[None]:
        """The PRODUCER span of one publish or request on ``key``, counted when it ends."""
        name = self.destination(key)
        attributes = _attributes("send", name, None)
        start = time.perf_counter()
        with self.tracer.start_as_current_span(
            f"send {name}",
            kind=SpanKind.PRODUCER,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield
            except Exception as exc:
                attributes = {**attributes, _ERROR_TYPE: _fail(span, exc)}
                raise
            finally:
                self._count_send(attributes, start)

    def _count_send(self, attributes: dict[str, str], start: float) -> None:
        self.sent.add(1, attributes)
        self.operation_duration.record(time.perf_counter() - start, attributes)

    # -- consumers --------------------------------------------------------------------------

    def wrap_targets(self, targets: tuple[Target, ...]) -> tuple[Callable[[Any, Any], object], ...]:
        """What a route calls for ``targets``: each delivery traced (bridges' sends excepted)."""
        return tuple(self._wrap(target) for target in targets)

    def _wrap(self, target: Target) -> Callable[[Any, Any], object]:
        callback = target.callback
        if self._is_bridge(callback):
            return callback  # it sends the trace context in the message's headers instead
        template = self.template(tuple(target.key))
        inbox = target.inbox
        if inbox is not None and callback == inbox.put:
            return self._queue(inbox, callback, template)
        return self._call(callback, template)

    def _call(
        self, callback: Callable[[Any, Any], object], template: str | None
    ) -> Callable[[Any, Any], None]:
        def traced_listener(key: Any, message: Any) -> None:
            parent = otel_context.get_current()
            self.process(key, parent, template, lambda: _checked(callback(key, message)))

        return traced_listener

    def _queue(
        self, inbox: Inbox, put: Callable[[Any, Any], object], template: str | None
    ) -> Callable[[Any, Any], None]:
        items = inbox.items

        def traced_put(key: Any, message: Any) -> None:
            last = items[-1] if items else None
            put(key, message)
            if items and items[-1] is not last:  # queued (not refused by a full queue)
                items[-1] = Queued(items[-1], self, otel_context.get_current(), template)

        return traced_put

    def _start_process(
        self, key: Any, parent: otel_context.Context, template: str | None
    ) -> tuple[trace.Span, dict[str, str]]:
        name = self.destination(key)
        attributes = _attributes("process", name, template)
        producer = trace.get_current_span(parent).get_span_context()
        links = [Link(producer)] if producer.is_valid else None
        span = self.tracer.start_span(
            f"process {template or name}",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes=attributes,
            links=links,
        )
        return span, attributes

    def template(self, pattern: tuple[str, ...]) -> str | None:
        """``messaging.destination.template`` of a subscription's pattern (one with wildcards)."""
        return ".".join(pattern) if WILDCARD in pattern else None

    def process(
        self,
        key: Any,
        parent: otel_context.Context | None,
        template: str | None,
        run: Callable[[], T],
    ) -> T:
        """Run ``run()`` in a CONSUMER span, child of and linked to ``parent``'s span.

        ``parent`` None: the current context's. Returns what ``run()`` returned.
        """
        if parent is None:
            parent = otel_context.get_current()
        span, attributes = self._start_process(key, parent, template)
        start = time.perf_counter()
        with trace.use_span(
            span, end_on_exit=True, record_exception=False, set_status_on_exception=False
        ):
            try:
                return run()
            except Exception as exc:
                attributes = {**attributes, _ERROR_TYPE: _fail(span, exc)}
                raise
            finally:
                self._count_process(attributes, start)

    async def aprocess(
        self,
        key: Any,
        parent: otel_context.Context | None,
        template: str | None,
        run: Callable[[], Awaitable[T]],
    ) -> T:
        """Await ``run()`` in a CONSUMER span, child of and linked to ``parent``'s span.

        ``parent`` None: the current context's (e.g. a responder's handler, in the context
        :meth:`continued` made current). Returns what ``run()`` returned.
        """
        if parent is None:
            parent = otel_context.get_current()
        span, attributes = self._start_process(key, parent, template)
        start = time.perf_counter()
        with trace.use_span(
            span, end_on_exit=True, record_exception=False, set_status_on_exception=False
        ):
            try:
                return await run()
            except Exception as exc:
                attributes = {**attributes, _ERROR_TYPE: _fail(span, exc)}
                raise
            finally:
                self._count_process(attributes, start)

    def _count_process(self, attributes: dict[str, str], start: float) -> None:
        self.consumed.add(1, attributes)
        self.process_duration.record(time.perf_counter() - start, attributes)

    # -- across processes -------------------------------------------------------------------

    def inject(self) -> dict[str, str] | None:
        """Headers carrying the current trace context (W3C ``traceparent``...), if there is one."""
        carrier: dict[str, str] = {}
        try:
            propagate.inject(carrier)
        except Exception:  # a propagator of the application's choice failing: send untraced
            return None
        # Fields named like NATS's or the bridge's own headers are not the propagator's to set
        # (a message id, a timeout, a tombstone): they are left out.
        fields = {
            name: value
            for name, value in carrier.items()
            if not name.lower().startswith(_RESERVED_HEADER_PREFIXES)
        }
        return fields or None

    def remote_context(self, headers: Mapping[str, str] | None) -> otel_context.Context | None:
        """The trace context a message's headers carry; None when they carry none usable."""
        if not headers:
            return None
        try:
            return propagate.extract(headers)
        except Exception:  # a propagator of the application's choice failing on hostile input
            return None

    def continued(
        self,
        headers: Mapping[str, str] | None,
        deliver: Callable[[], Coroutine[Any, Any, None] | None],
    ) -> Coroutine[Any, Any, None] | None:
        """``deliver()`` a message that arrived with ``headers``, in the trace they carry.

        What ``deliver`` returns (a delivery that waits for room) runs in that trace too.
        """
        remote = self.remote_context(headers)
        if remote is None:
            return deliver()
        token = otel_context.attach(remote)
        try:
            waiting = deliver()
        finally:
            otel_context.detach(token)
        return None if waiting is None else _within(remote, waiting)

    async def answered(self, headers: Mapping[str, str] | None, work: Awaitable[T]) -> T:
        """Await ``work`` (answering a request that arrived with ``headers``) in their trace."""
        remote = self.remote_context(headers)
        if remote is None:
            return await work
        token = otel_context.attach(remote)
        try:
            return await work
        finally:
            otel_context.detach(token)

    def inject_into(self, headers: dict[str, str] | None) -> dict[str, str] | None:
        """``headers`` with the current trace context added (a new dict), if there is one.

        Our own headers win: a propagator's field of the same name cannot replace them.
        """
        carrier = self.inject()
        return headers if carrier is None else {**carrier, **(headers or {})}


class Queued(tuple[Any, Any]):
    """A ``(key, message)`` queued for an async listener with the trace context of its publish."""

    telemetry: Telemetry
    context: otel_context.Context
    template: str | None

    def __new__(
        cls,
        item: tuple[Any, Any],
        telemetry: Telemetry,
        context: otel_context.Context,
        template: str | None,
    ) -> Queued:
        self = tuple.__new__(cls, item)
        self.telemetry = telemetry
        self.context = context
        self.template = template
        return self

    async def process(self, callback: Callable[[Any, Any], Awaitable[object]]) -> None:
        """Await ``callback(key, message)`` in a CONSUMER span (plainly once uninstrumented)."""
        key, message = self
        telemetry = self.telemetry
        if not telemetry.active:
            await callback(key, message)
            return
        await telemetry.aprocess(key, self.context, self.template, lambda: callback(key, message))


async def _within(context: otel_context.Context, waiting: Coroutine[Any, Any, None]) -> None:
    token = otel_context.attach(context)
    try:
        await waiting
    finally:
        otel_context.detach(token)


def _attributes(operation: str, name: str, template: str | None) -> dict[str, str]:
    attributes = {
        _SYSTEM: SYSTEM,
        _OPERATION_NAME: operation,
        _OPERATION_TYPE: operation,
        _DESTINATION: name,
    }
    if template is not None:
        attributes[_TEMPLATE] = template
    return attributes


def _join(key: object) -> str:
    if isinstance(key, tuple) and all(isinstance(part, str) for part in key):
        return ".".join(key)
    return "(invalid key)"


def _checked(result: object) -> None:
    if result is not None:
        check_result(result)
