"""The listener module: the consumer task's lifecycle (start, drain, abort)."""

from __future__ import annotations

import asyncio

from typedpubsub import Hub, Key, Subscriber

from .helpers import eventually


def _listener_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if "typedpubsub listener" in t.get_name()]


async def test_removing_an_idle_listener_ends_its_task_before_returning(hub: Hub) -> None:
    """An idle listener (queue empty, no message being handled) is removed with its task
    ended when remove_listener returns, whether its task ever got a message or not."""
    got: list[int] = []

    async def keep(key: Key, message: int) -> None:
        got.append(message)

    async with Subscriber(hub, "idle") as subscriber:
        subscriber.add_async_listener(Key("fresh"), keep)
        await asyncio.wait_for(subscriber.remove_listener(Key("fresh"), keep), 5)
        assert _listener_tasks() == []
        subscriber.add_async_listener(Key("used"), keep)
        hub.publish(Key("used"), 1)
        await eventually(lambda: got == [1])
        await asyncio.wait_for(subscriber.remove_listener(Key("used"), keep), 5)
        assert _listener_tasks() == []
        assert not hub.has_subscribers(Key("used"))


async def test_cancelling_a_removal_with_a_timeout_leaves_no_half_state(hub: Hub) -> None:
    """A removal given a timeout and cancelled while it waits aborts the listener: gone,
    its queue counted as dropped."""
    release = asyncio.Event()

    async def stuck(key: Key, message: int) -> None:
        await release.wait()

    async with Subscriber(hub, "stuck") as subscriber:
        subscriber.add_async_listener(Key("n"), stuck)
        for i in range(3):
            hub.publish(Key("n"), i)
        await eventually(lambda: subscriber.statistics()[0].queued == 2)
        remover = asyncio.create_task(subscriber.remove_listener(Key("n"), stuck, timeout=60))
        await asyncio.sleep(0)
        remover.cancel()
        await asyncio.wait([remover], timeout=5)
        assert remover.cancelled()
        assert subscriber.statistics() == ()
        await eventually(lambda: _listener_tasks() == [])
        assert hub.statistics().dropped == 2


async def test_a_task_cancelled_before_its_first_step_does_not_hang_a_removal(hub: Hub) -> None:
    """remove_listener returns even when the listener's task was cancelled before it ran."""

    async def never(key: Key, message: object) -> None: ...

    async with Subscriber(hub, "early") as subscriber:
        subscriber.add_async_listener(Key("e"), never)
        (task,) = _listener_tasks()
        task.cancel()
        await asyncio.wait_for(subscriber.remove_all_listeners(), 5)
        assert _listener_tasks() == []
