"""OpenTelemetry tracing and metrics for a hub, across processes through NATS bridges.

Needs the extra: ``pip install 'typedpubsub[otel]'`` (opentelemetry-api; install the SDK, or any
implementation of the API, to export what is recorded). This module is never imported by
``typedpubsub`` itself, and a hub that is not instrumented never imports OpenTelemetry.

:func:`instrument` follows the OpenTelemetry messaging semantic conventions: a PRODUCER span
``send <key>`` per publish, a CONSUMER span ``process <key or pattern>`` per listener delivery
(child of the publish's span, and linked to it), the metrics
``messaging.client.sent.messages``, ``messaging.client.operation.duration``,
``messaging.client.consumed.messages`` and ``messaging.process.duration``. A NATS bridge of an
instrumented hub sends the trace context in the message headers (W3C ``traceparent``, through
the configured propagator), and one of an instrumented hub in another process continues it.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from opentelemetry import metrics, trace

from ._describe import describe
from ._hub import Hub, internal
from ._telemetry import SYSTEM, Telemetry
from ._version import __version__

__all__ = ["SYSTEM", "Instrumentation", "instrument"]

_SCHEMA_URL = "https://opentelemetry.io/schemas/1.37.0"


class Instrumentation:
    """The handle :func:`instrument` returns: :meth:`uninstrument` restores the hub."""

    def __init__(self, hub: Hub, telemetry: Telemetry) -> None:
        self._hub = hub
        self._telemetry = telemetry

    @property
    def hub(self) -> Hub:
        """The instrumented hub."""
        return self._hub

    @property
    def active(self) -> bool:
        """Whether the hub is still instrumented by this handle."""
        return self._telemetry.active

    def uninstrument(self) -> None:
        """Stop tracing and measuring the hub; its publish path is as before. Idempotent.

        Messages queued for async listeners before the call are delivered without spans.
        """
        if not self._telemetry.active:
            return
        self._telemetry.active = False
        hub = self._hub
        for name in ("publish", "apublish", "publish_threadsafe", "request"):
            hub.__dict__.pop(name, None)
        internal(hub).instrument(None)

    def __enter__(self) -> Instrumentation:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.uninstrument()

    def __repr__(self) -> str:
        state = "active" if self._telemetry.active else "uninstrumented"
        return f"<Instrumentation of {self._hub!r}, {state}>"


def instrument(
    hub: Hub,
    *,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
) -> Instrumentation:
    """Trace and measure ``hub``: spans and metrics per the messaging semantic conventions.

    ``tracer_provider`` and ``meter_provider`` default to the global ones of OpenTelemetry.
    Until :meth:`Instrumentation.uninstrument`, each publish is a PRODUCER span and each
    delivery to a listener a CONSUMER span in the publish's trace (for async listeners the
    context travels with the message through the listener's queue). A hub is instrumented by
    one handle at a time.
    """
    if not isinstance(hub, Hub):
        raise TypeError(f"hub must be a Hub, got {describe(hub)}")
    if tracer_provider is not None and not isinstance(tracer_provider, trace.TracerProvider):
        raise TypeError(
            f"tracer_provider must be a TracerProvider or None, got {describe(tracer_provider)}"
        )
    if meter_provider is not None and not isinstance(meter_provider, metrics.MeterProvider):
        raise TypeError(
            f"meter_provider must be a MeterProvider or None, got {describe(meter_provider)}"
        )
    core = internal(hub)
    if core.telemetry is not None:
        raise ValueError(
            f"hub must not be instrumented already, got {hub!r}; uninstrument it first"
        )
    tracer = trace.get_tracer(
        "typedpubsub", __version__, tracer_provider=tracer_provider, schema_url=_SCHEMA_URL
    )
    meter = metrics.get_meter(
        "typedpubsub", __version__, meter_provider=meter_provider, schema_url=_SCHEMA_URL
    )
    telemetry = Telemetry(tracer, meter, core.is_bridge)
    # Instance attributes shadow the class's methods: an uninstrumented hub's publish is the
    # class's own, with no check for telemetry per message.
    wrappers: dict[str, Any] = {
        "publish": telemetry.send(hub.publish),
        "apublish": telemetry.asend(hub.apublish),
        "publish_threadsafe": telemetry.send(hub.publish_threadsafe),
        "request": telemetry.arequest(hub.request),
    }
    hub.__dict__.update(wrappers)
    core.instrument(telemetry)
    return Instrumentation(hub, telemetry)
