"""aiopubsub's README example runs unchanged on typedpubsub and prints the same lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import ROOT

SEED_EXAMPLE = """
import asyncio
import dataclasses
import decimal

import {module} as aiopubsub


@dataclasses.dataclass
class Trade:
        timestamp: float
        quantity: int
        price: decimal.Decimal


async def on_trade(key: aiopubsub.Key, trade: Trade) -> None:
        print(f'Processing trade = {{trade}}  with key = {{key}}.')


async def on_nyse_trade(key: aiopubsub.Key, trade: Trade) -> None:
        print(f'Processing trade = {{trade}}  with key = {{key}} that happened in NYSE')


async def main():
        # create an aiopubsub hub
        hub = aiopubsub.Hub()

        # create a sample of data to send
        trade = Trade(timestamp = 123.5, quantity = 56, price = decimal.Decimal('1639.43'))

        # subscriber listens on every trade and calls the `on_trade` function
        subscriber = aiopubsub.Subscriber(hub, 'trades')
        subscribe_key = aiopubsub.Key('*', 'trade', '*')
        subscriber.add_async_listener(subscribe_key, on_trade)

        # publisher has a NASDAQ prefix and sends the trade that happened on Google stock
        publisher = aiopubsub.Publisher(hub, prefix = aiopubsub.Key('NASDAQ'))
        publish_key = aiopubsub.Key('trade', 'GOOGL')
        publisher.publish(publish_key, trade)

        # sleep so the event loop can process the action
        await asyncio.sleep(0.001)

        # sample from another stock exchange
        trade_nyse = Trade(timestamp = 127.45, quantity = 67, price = decimal.Decimal('1639.44'))

        # subscribe only for the NYSE exchange
        subscribe_key_nyse = aiopubsub.Key('NYSE', 'trade', '*')
        subscriber.add_async_listener(subscribe_key_nyse, on_nyse_trade)

        # publish NYSE trade
        publisher_nyse = aiopubsub.Publisher(hub, prefix = aiopubsub.Key('NYSE'))
        publisher_nyse.publish(aiopubsub.Key('trade', 'GOOGL'), trade_nyse)

        # sleep so the event loop can process the action
        await asyncio.sleep(0.001)

        # clean the subscriber before the end of the program
        await subscriber.remove_all_listeners()

if __name__ == '__main__':
        asyncio.run(main())
"""

EXPECTED = (
    "Processing trade = Trade(timestamp=123.5, quantity=56, price=Decimal('1639.43'))  "
    "with key = ('NASDAQ', 'trade', 'GOOGL').\n"
    "Processing trade = Trade(timestamp=127.45, quantity=67, price=Decimal('1639.44'))  "
    "with key = ('NYSE', 'trade', 'GOOGL').\n"
    "Processing trade = Trade(timestamp=127.45, quantity=67, price=Decimal('1639.44'))  "
    "with key = ('NYSE', 'trade', 'GOOGL') that happened in NYSE\n"
)


def run_example(module: str, tmp_path: Path) -> str:
    script = tmp_path / f"seed_{module}.py"
    script.write_text(SEED_EXAMPLE.format(module=module))
    result = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def test_seed_example_prints_what_the_seed_documents(tmp_path: Path) -> None:
    """With only its import changed, the seed example prints the documented lines."""
    assert run_example("typedpubsub", tmp_path) == EXPECTED


def test_seed_example_prints_what_aiopubsub_prints(tmp_path: Path) -> None:
    """The same program prints exactly what aiopubsub 3.0.0 itself prints."""
    assert run_example("typedpubsub", tmp_path) == run_example("aiopubsub", tmp_path)
