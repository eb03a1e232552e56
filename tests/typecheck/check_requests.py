"""Static type checks of request/reply: never executed; mypy --strict and basedpyright check it.

Lines marked with an ignore must fail to type-check (see check_topics.py).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from typing_extensions import TypeForm, assert_type

from typedpubsub import Hub, Key, Publisher, RequestTopic, Subscriber, Topic


@dataclasses.dataclass
class Add:
    a: int
    b: int


@dataclasses.dataclass
class Sum:
    total: int


ADD = RequestTopic(("rpc", "*", "add"), Add, Sum)

assert_type(ADD, RequestTopic[Add, Sum])
assert_type(ADD.fill("s1"), RequestTopic[Add, Sum])
assert_type(ADD.fill(part1="s1"), RequestTopic[Add, Sum])
assert_type(Key("prefix") + ADD, RequestTopic[Add, Sum])
assert_type(ADD + Key("suffix"), RequestTopic[Add, Sum])
assert_type(ADD.payload_type, TypeForm[Add])
assert_type(ADD.response_type, TypeForm[Sum])
assert_type(ADD.validate({}), Add)
assert_type(ADD.validate_response({}), Sum)
assert_type(RequestTopic("k", int, str | None), RequestTopic[int, str | None])
topic_of_request: Topic[Add] = ADD  # a request topic is a topic of its request type
RequestTopic[Add, Sum]("k", Add, int)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
RequestTopic[Add, Sum]("k", int, Sum)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


async def add(key: Key, request: Add) -> Sum:
    return Sum(request.a + request.b)


def add_now(key: Key, request: Add) -> Sum:
    return Sum(request.a + request.b)


async def takes_anything(key: Key, request: object) -> Sum:
    return Sum(0)


async def wrong_request(key: Key, request: int) -> Sum:
    return Sum(request)


async def wrong_reply(key: Key, request: Add) -> int:
    return request.a


def wrong_sync_reply(key: Key, request: Add) -> str:
    return ""


async def ask_for_object(hub: Hub, topic: RequestTopic[Add, object]) -> None:
    assert_type(await hub.request(topic.fill("s1"), Add(1, 2)), object)


async def main() -> None:
    hub = Hub()
    subscriber = Subscriber(hub, "s")
    subscriber.add_responder(ADD, add)
    subscriber.add_responder(ADD, add_now)
    subscriber.add_responder(ADD, takes_anything)
    subscriber.add_responder(ADD, wrong_request)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    subscriber.add_responder(ADD, wrong_reply)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    subscriber.add_responder(ADD, wrong_sync_reply)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    subscriber.add_responder(Topic("k", Add), add)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    subscriber.remove_responder(ADD, add)

    reply = await hub.request(ADD.fill("s1"), Add(1, 2))
    assert_type(reply, Sum)
    print(await hub.request(ADD.fill("s1"), Add(1, 2)))  # an `object` context
    replies: list[object] = [await hub.request(ADD.fill("s1"), Add(1, 2))]
    await ask_for_object(hub, ADD)  # the reply type is covariant
    assert_type(await hub.request(ADD.fill("s1"), Add(1, 2), timeout=None), Sum)
    assert_type(await hub.request(RequestTopic("k", int, str), 1, timeout=0.5), str)
    await hub.request(ADD.fill("s1"), 3)  # type: ignore[misc]  # pyright: ignore[reportArgumentType]
    await hub.request(ADD.fill("s1"), Sum(3))  # type: ignore[misc]  # pyright: ignore[reportArgumentType]
    await hub.request(Topic("k", Add), Add(1, 2))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    await hub.request(ADD.fill("s1"), Add(1, 2), timeout="1")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    wrong: int = await hub.request(ADD.fill("s1"), Add(1, 2))  # type: ignore[arg-type]  # pyright: ignore[reportAssignmentType]

    publisher = Publisher(hub, Key("rpc"))
    assert_type(await publisher.request(RequestTopic(("s1", "add"), Add, Sum), Add(1, 2)), Sum)
    await publisher.request(RequestTopic(("s1", "add"), Add, Sum), 3)  # type: ignore[misc]  # pyright: ignore[reportArgumentType]
    del wrong, replies


untyped: RequestTopic = ADD  # a bare RequestTopic is RequestTopic[Any, Any]
assert_type(untyped, RequestTopic[Any, Any])
