"""Statistics records: frozen snapshots of counters the hub and listeners keep."""

from __future__ import annotations

import dataclasses

from ._key import Key

__all__ = ["HubStatistics", "ListenerStatistics"]


@dataclasses.dataclass(frozen=True)
class ListenerStatistics:
    """A snapshot of one listener's (or stream's, or subscription's) counters."""

    listener: str
    """The listener's label: callback name and subscriber id."""
    keys: frozenset[Key]
    """The key patterns it is subscribed to."""
    queued: int
    """Messages waiting in its queue now (always 0 for sync listeners)."""
    delivered: int
    """Messages handed to the callback that returned normally."""
    dropped: int
    """Messages dropped by its overflow policy (or refused by its full queue) or by a drain."""
    failed: int
    """Messages whose handling raised (or that did not validate into its topic type)."""
    peak_queue_size: int
    """The largest queue size seen."""
    max_queue_size: int
    """Its bound; 0 means unbounded."""


@dataclasses.dataclass(frozen=True)
class HubStatistics:
    """A snapshot of a hub's counters."""

    published: int
    """Publish calls that passed validation."""
    delivered: int
    """Messages listeners accepted (called, or queued): a message reaching three counts three.

    A message refused on arrival (by a full queue, or as invalid for a typed listener) is not
    delivered; one queued and dropped later counts here and in ``dropped``."""
    dropped: int
    """Messages dropped by bounded queues (including those a full queue refused) or drains."""
    failed: int
    """Listener failures, including payloads that did not validate for a typed listener."""
    subscriptions: int
    """(key pattern, callback) pairs currently subscribed."""
    cached_routes: int
    """Concrete keys whose route is cached now."""
    route_cache_size: int
    """The bound of that cache."""
    retained: int = 0
    """Concrete keys whose last value is retained now (published through retained topics)."""
    max_retained: int = 0
    """The bound of the retained values (``Hub(max_retained=...)``)."""


class Counters:
    """Mutable counters behind a :class:`ListenerStatistics` snapshot."""

    __slots__ = ("delivered", "dropped", "failed", "peak")

    def __init__(self) -> None:
        self.delivered = 0
        self.dropped = 0
        self.failed = 0
        self.peak = 0
