"""Fixtures shared by the test suite."""

from __future__ import annotations

import bz2
import json
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from typedpubsub import Hub, Subscriber
from typedpubsub.testing.natsserver import NatsServer

ROOT = Path(__file__).resolve().parent.parent


def shared_dir() -> Path | None:
    """``../shared`` beside the project (or $TYPEDPUBSUB_SHARED), if it is there."""
    configured = os.environ.get("TYPEDPUBSUB_SHARED")
    path = (ROOT / configured) if configured else ROOT.parent / "shared"
    path = path.resolve()
    if path.is_dir():
        return path
    if configured:
        raise RuntimeError(f"TYPEDPUBSUB_SHARED={configured!r} does not exist at {path}")
    return None


def shared_file(*parts: str) -> Path:
    """A file of ../shared, or skip the test when ../shared is absent (a clone elsewhere)."""
    base = shared_dir()
    if base is None:
        pytest.skip("../shared is not beside this clone")
    path = base.joinpath(*parts)
    assert path.exists(), f"{path} is missing from ../shared"
    return path


_triples: list[tuple[list[str], list[str], bool]] = []


def recorded_triples() -> list[tuple[list[str], list[str], bool]]:
    """The 2M (published, subscribed, should_match) triples recorded in production."""
    if not _triples:
        path = shared_file("data", "real_recorded_published_keys.json.bz2")
        with bz2.open(path) as f:
            _triples.extend(json.load(f))
    return _triples


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    """A hub, closed (and its subscribers drained) after the test."""
    async with Hub() as h:
        yield h


@pytest.fixture
async def subscriber(hub: Hub) -> AsyncIterator[Subscriber]:
    """A subscriber on ``hub``, closed after the test."""
    async with Subscriber(hub, "tester") as s:
        yield s


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NatsServer]:
    """A nats-server with JetStream on a free loopback port, stopped by its pid after the test."""
    instance = NatsServer(tmp_path)
    instance.start()
    yield instance
    instance.stop()
