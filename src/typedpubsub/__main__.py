"""The ``typedpubsub`` command line (also ``python -m typedpubsub``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._version import __version__

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="typedpubsub",
        description="typedpubsub: a typed publish/subscribe event bus for asyncio.",
    )
    parser.add_argument("--version", action="version", version=f"typedpubsub {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    parser.error(f"unknown command {args.command!r}")  # pragma: no cover - argparse rejects first


if __name__ == "__main__":
    sys.exit(main())
