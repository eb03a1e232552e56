"""A publish through a topic delivers the same whether the plain loop or the typed one runs it."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from typedpubsub import Hub, Key, PayloadValidationError, Subscriber, Topic
from typedpubsub._hub import internal
from typedpubsub.testing import RecordingHub


@dataclasses.dataclass
class Price:
    value: int


@dataclasses.dataclass
class Quote:
    value: int


PATTERNS = [("p", "x"), ("p", "*"), ("*", "x"), ("q", "x")]
KEYS = [("p", "x"), ("q", "x"), ("p", "y")]
TYPES: dict[str, Any] = {"price": Price, "quote": Quote, "plain": None}

# A subscription: (pattern, listener type, whether it raises, which callback object it uses).
subscriptions = st.lists(
    st.tuples(
        st.sampled_from(range(len(PATTERNS))),
        st.sampled_from(sorted(TYPES)),
        st.booleans(),
        st.integers(0, 5),
    ),
    max_size=6,
)
# A publish: (through what, payload kind, key).
publishes = st.lists(
    st.tuples(
        st.sampled_from(["price", "quote", "plain"]),
        st.sampled_from(["price", "quote", "bad", "dict"]),
        st.sampled_from(range(len(KEYS))),
    ),
    min_size=1,
    max_size=6,
)


BAD: Any = "x"  # not an int


def _payload(kind: str) -> object:
    return {
        "price": Price(1),
        "quote": Quote(2),
        "bad": Price(BAD),  # an invalid instance
        "dict": {"value": 3},
    }[kind]


def _run(
    hub: Hub, subs: list[tuple[int, str, bool, int]], sends: list[tuple[str, str, int]]
) -> tuple[Any, ...]:
    """What every callback received (and whether as the published object), and the counters."""
    got: dict[int, list[tuple[tuple[str, ...], bool, str]]] = {}
    published: list[object] = []

    def callback(index: int, fails: bool) -> Callable[[Key[Any], Any], None]:
        def receive(key: Key[Any], message: Any) -> None:
            got.setdefault(index, []).append((tuple(key), message is published[-1], repr(message)))
            if fails:
                raise RuntimeError("listener fails")

        return receive

    callbacks: dict[int, Callable[[Key[Any], Any], None]] = {}
    subscriber = Subscriber(hub, "s")
    for pattern, kind, fails, which in subs:
        # The same callback object may be subscribed through several patterns.
        found = callbacks.setdefault(which, callback(which, fails))
        payload_type = TYPES[kind]
        key = (
            Key(*PATTERNS[pattern])
            if payload_type is None
            else Topic(PATTERNS[pattern], payload_type)
        )
        subscriber.add_sync_listener(key, found)
    refused = []
    for through, kind, key_index in sends:
        payload = _payload(kind)
        published.append(payload)
        payload_type = TYPES[through]
        key = (
            Key(*KEYS[key_index]) if payload_type is None else Topic(KEYS[key_index], payload_type)
        )
        try:
            hub.publish(key, payload)
        except PayloadValidationError as exc:
            refused.append(str(exc))
    stats = hub.statistics()
    listeners = [(s.keys, s.delivered, s.failed) for s in subscriber.statistics()]
    return got, refused, stats.published, stats.delivered, stats.failed, listeners


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(subs=subscriptions, sends=publishes)
def test_plain_loop_delivers_as_the_typed_loop(
    subs: list[tuple[int, str, bool, int]], sends: list[tuple[str, str, int]]
) -> None:
    """A hub delivers, refuses and counts as a RecordingHub, whose observer forces the typed loop."""
    logging.disable(logging.CRITICAL)  # failing listeners and refusals are logged by both
    try:
        assert _run(Hub(), subs, sends) == _run(RecordingHub(), subs, sends)
    finally:
        logging.disable(logging.NOTSET)


@pytest.mark.parametrize(
    ("subscribed", "publisher_takes_plain_loop"),
    [
        ([Topic(("p", "x"), Price)], True),
        ([Topic(("p", "x"), Price), Key("p", "*")], True),
        ([Topic(("p", "x"), Price), Topic(("p", "*"), Price)], True),
        ([Topic(("p", "x"), Price), Topic(("p", "*"), Quote)], False),
        ([Key("p", "x")], True),
    ],
)
def test_plain_loop_serves_publishers_whose_validator_every_typed_listener_shares(
    subscribed: list[Key[Any]], publisher_takes_plain_loop: bool
) -> None:
    """Only the publisher's own validator, shared by every typed listener, skips the typed loop."""
    hub = Hub()
    for key in subscribed:
        hub.add_subscriber(key, lambda key, message: None)
    route = internal(hub).routing.route(Key("p", "x"))
    source = Topic(("p", "x"), Price)._validator
    assert (not route.slow or route.slow is source) is publisher_takes_plain_loop
    if any(isinstance(key, Topic) for key in subscribed):
        assert route.slow  # an untyped publish is checked for the typed listeners
