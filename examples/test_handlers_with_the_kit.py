import asyncio
import dataclasses

import pytest

from typedpubsub import Hub, Key, Subscriber, Topic
from typedpubsub.testing import RecordingHub
from typedpubsub.testing.pytest_plugin import LinkedHubs


@dataclasses.dataclass
class Order:
    order_id: int
    quantity: int


@dataclasses.dataclass
class Confirmation:
    order_id: int


ORDERS = Topic(("shop", "order"), Order, name="orders")
CONFIRMATIONS = Topic(("shop", "confirmed"), Confirmation, name="confirmations")


def confirm(hub: Hub):  # the handler under test
    def on_order(key: Key, order: Order) -> None:
        if order.quantity > 0:
            hub.publish(CONFIRMATIONS, Confirmation(order.order_id))

    return on_order


async def test_handler_confirms_orders(recorder: RecordingHub) -> None:
    recorder.add_subscriber(ORDERS, confirm(recorder))
    recorder.publish(ORDERS, Order(1, quantity=2))
    recorder.publish(ORDERS, Order(2, quantity=0))
    recorder.assert_published(CONFIRMATIONS, Confirmation(1))
    recorder.assert_not_published(CONFIRMATIONS, lambda c: c.order_id == 2)
    assert recorder.count(ORDERS) == 2


async def test_wait_for_the_next_confirmation(hub: Hub) -> None:
    hub.add_subscriber(ORDERS, confirm(hub))
    waiting = asyncio.ensure_future(hub.wait_for(CONFIRMATIONS, timeout=10))
    await asyncio.sleep(0)  # let the waiter subscribe
    hub.publish(ORDERS, Order(3, quantity=1))
    key, confirmation = await waiting
    assert confirmation == Confirmation(3)


@pytest.mark.typedpubsub_listener_errors
async def test_a_failing_listener_is_expected_here(hub: Hub) -> None:
    async with Subscriber(hub, "s") as subscriber:

        async def broken(key: Key, order: Order) -> None:
            raise RuntimeError("out of stock")

        subscriber.add_async_listener(ORDERS, broken)
        hub.publish(ORDERS, Order(4, quantity=1))
    assert hub.statistics().failed == 1


async def test_in_process_and_through_nats(linked_hubs: LinkedHubs) -> None:
    publisher, listener = await linked_hubs.link(ORDERS)
    waiting = asyncio.ensure_future(listener.wait_for(ORDERS, timeout=30))
    await asyncio.sleep(0)
    publisher.publish(Key("shop", "order"), {"order_id": 5, "quantity": "7"})
    key, order = await waiting
    assert order == Order(5, quantity=7)
