"""The typedpubsub pytest plugin, loaded by pytest when the package is installed.

Fixtures: ``hub`` (a fresh :class:`Hub`, closed after the test; the test fails if a listener
raised, unless it is marked ``@pytest.mark.typedpubsub_listener_errors``), ``recorder`` (the
same for a :class:`RecordingHub`, with ``assert_published``, ``assert_not_published`` and
``count``), ``nats_server`` (a real nats-server with JetStream, for the session) and
``linked_hubs`` (parametrised ``local`` / ``nats``: the same test runs in process and across two
hubs joined through NATS bridges). The async fixtures need pytest-asyncio.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from .._hub import Hub, internal
from .._key import Key
from .._retain import DEFAULT_MAX_RETAINED
from . import RecordingHub
from .natsserver import NatsServer, binary

__all__ = [
    "MARKER",
    "LinkedHubs",
    "hub",
    "linked_hubs",
    "linked_hubs_mode",
    "nats_server",
    "pytest_configure",
    "pytest_runtest_call",
    "recorder",
]

MARKER = "typedpubsub_listener_errors"

_ErrorRecord = tuple[tuple[str, ...], str, BaseException]


class _WatchedHub(Hub):
    """A hub that keeps the listener errors it reports, for the fixtures' check."""

    def __init__(
        self, *, route_cache_size: int = 65_536, max_retained: int = DEFAULT_MAX_RETAINED
    ) -> None:
        self.test_listener_errors: list[_ErrorRecord] = []
        super().__init__(route_cache_size=route_cache_size, max_retained=max_retained)
        internal(self).reporter.watcher = self._keep_error

    def _keep_error(self, key: Sequence[str], listener: str, exc: BaseException) -> None:
        self.test_listener_errors.append((tuple(key), listener, exc))


class _WatchedRecordingHub(RecordingHub, _WatchedHub):
    """A :class:`RecordingHub` that keeps the listener errors it reports."""


def _failures(errors: list[_ErrorRecord]) -> str:
    return "; ".join(f"{name} on {key!r}: {exc!r}" for key, name, exc in errors)


def _check(node: pytest.Item | None, hubs: list[_WatchedHub], seen: dict[int, int]) -> None:
    """Fail unless the test expects listener errors; ``seen`` skips those already reported."""
    if node is not None and node.get_closest_marker(MARKER) is not None:
        return
    new: list[_ErrorRecord] = []
    for hub in hubs:
        new += hub.test_listener_errors[seen.get(id(hub), 0) :]
        seen[id(hub)] = len(hub.test_listener_errors)
    if new:
        pytest.fail(
            f"a listener raised during the test ({_failures(new)}); mark the test "
            f"@pytest.mark.{MARKER} if it expects listener errors",
            pytrace=False,
        )


_WATCHED = pytest.StashKey[list[_WatchedHub]]()
_SEEN = pytest.StashKey[dict[int, int]]()


def pytest_configure(config: pytest.Config) -> None:
    """Register the plugin's marker, so ``--strict-markers`` accepts it."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}: the test expects listeners to raise; the typedpubsub hub fixtures "
        "do not fail it for that",
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Fail a test, in its call phase, whose listeners raised on a fixture's hub."""
    result = yield
    hubs = item.stash.get(_WATCHED, [])
    if hubs:
        _check(item, hubs, item.stash.setdefault(_SEEN, {}))
    return result


def _watch(request: pytest.FixtureRequest, hub: _WatchedHub) -> None:
    item = request.node
    if isinstance(item, pytest.Item):
        item.stash.setdefault(_WATCHED, []).append(hub)


def _after(request: pytest.FixtureRequest, hub: _WatchedHub) -> None:
    """After the hub closed: fail (in teardown) for errors raised while it drained."""
    item = request.node
    if isinstance(item, pytest.Item):
        _check(item, [hub], item.stash.setdefault(_SEEN, {}))


class LinkedHubs:
    """A publishing hub and a listening hub: one hub in process, or two joined through NATS.

    ``await linked.link(*topics)`` returns ``(publisher_hub, listener_hub)``; in ``nats`` mode
    it first joins both hubs with a :class:`~typedpubsub.nats.NatsBridge` for ``topics``.
    """

    def __init__(self, mode: str, url: str | None) -> None:
        self.mode = mode
        self.url = url
        self.publisher: _WatchedHub = _WatchedHub()
        self.listener: _WatchedHub = self.publisher if mode == "local" else _WatchedHub()
        self._bridges: list[Any] = []

    async def link(self, *topics: Key[Any]) -> tuple[Hub, Hub]:
        """Join the two hubs for ``topics`` (nothing to do in process); return both."""
        if self.mode == "nats":
            from ..nats import NatsBridge

            for hub in (self.publisher, self.listener):
                bridge = NatsBridge(hub, topics, servers=self.url or "")
                await bridge.__aenter__()
                self._bridges.append(bridge)
        return self.publisher, self.listener

    async def aclose(self) -> None:
        """Close the bridges, then the hubs."""
        for bridge in reversed(self._bridges):
            await bridge.__aexit__(None, None, None)
        self._bridges.clear()
        await self.publisher.aclose()
        await self.listener.aclose()


def _nats_missing() -> str | None:
    """Why a nats-server fixture cannot run here, or None."""
    if importlib.util.find_spec("nats") is None:
        return "nats-py is not installed (pip install 'typedpubsub[test]' or nats-py)"
    try:
        binary()
    except RuntimeError as exc:
        return str(exc)
    return None


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A real nats-server with JetStream on a free loopback port, for the whole session."""
    reason = _nats_missing()
    if reason is not None:
        pytest.skip(reason)
    server = NatsServer(Path(tmp_path_factory.mktemp("nats-server")))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _async_fixture(function: Callable[..., Any]) -> Any:
    """Mark an async fixture for pytest-asyncio in both its strict and auto modes."""
    if importlib.util.find_spec("pytest_asyncio") is None:

        @pytest.fixture(name=function.__name__)
        def missing() -> None:
            pytest.skip("the typedpubsub fixtures need pytest-asyncio")

        return missing
    import pytest_asyncio

    return pytest_asyncio.fixture(function)


@_async_fixture
async def hub(request: pytest.FixtureRequest) -> AsyncIterator[Hub]:
    """A fresh hub, closed (drained) after the test; the test fails if a listener raised."""
    instance = _WatchedHub()
    _watch(request, instance)
    try:
        yield instance
    finally:
        await instance.aclose()
    _after(request, instance)


@_async_fixture
async def recorder(request: pytest.FixtureRequest) -> AsyncIterator[RecordingHub]:
    """A fresh :class:`RecordingHub`, closed after the test; fails it if a listener raised."""
    instance = _WatchedRecordingHub()
    _watch(request, instance)
    try:
        yield instance
    finally:
        await instance.aclose()
    _after(request, instance)


@pytest.fixture(params=["local", "nats"])
def linked_hubs_mode(request: pytest.FixtureRequest) -> str:
    """``local`` (one hub) or ``nats`` (two hubs joined through a real nats-server)."""
    mode: str = request.param
    return mode


@_async_fixture
async def linked_hubs(
    request: pytest.FixtureRequest, linked_hubs_mode: str
) -> AsyncIterator[LinkedHubs]:
    """Run a test in process and through NATS: ``await linked_hubs.link(*topics)``."""
    url = None
    if linked_hubs_mode == "nats":
        url = request.getfixturevalue("nats_server").url
    linked = LinkedHubs(linked_hubs_mode, url)
    for watched in {id(h): h for h in (linked.publisher, linked.listener)}.values():
        _watch(request, watched)
    try:
        yield linked
    finally:
        await asyncio.wait_for(linked.aclose(), 60)
    _after(request, linked.publisher)
    if linked.listener is not linked.publisher:
        _after(request, linked.listener)
