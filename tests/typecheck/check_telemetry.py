"""Static type checks of typedpubsub.telemetry: never executed.

Lines marked with an ignore must fail to type-check (see check_topics.py).
"""

from __future__ import annotations

from opentelemetry import metrics, trace
from typing_extensions import assert_type

from typedpubsub import Hub
from typedpubsub.telemetry import SYSTEM, Instrumentation, instrument

hub = Hub()
handle = instrument(hub)
assert_type(handle, Instrumentation)
assert_type(handle.hub, Hub)
assert_type(handle.active, bool)
assert_type(handle.uninstrument(), None)
assert_type(SYSTEM, str)
instrument(
    hub,
    tracer_provider=trace.get_tracer_provider(),
    meter_provider=metrics.get_meter_provider(),
)
instrument(hub, tracer_provider=None, meter_provider=None)
with instrument(hub) as scoped:
    assert_type(scoped, Instrumentation)

instrument()  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
instrument("hub")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
instrument(hub, trace.get_tracer_provider())  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
instrument(hub, tracer_provider=trace.get_tracer("x"))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
instrument(hub, meter_provider=trace.get_tracer_provider())  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
handle.uninstrument(True)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
