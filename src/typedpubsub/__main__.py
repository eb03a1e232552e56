"""The ``typedpubsub`` command line (also ``python -m typedpubsub``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._version import __version__

__all__ = ["main"]

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="typedpubsub",
        description="typedpubsub: a typed publish/subscribe event bus for asyncio.",
    )
    parser.add_argument("--version", action="version", version=f"typedpubsub {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def target_command(name: str, help_text: str) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=help_text, description=help_text)
        command.add_argument(
            "target",
            metavar="MODULE[:ATTR]",
            help="a module (every module-level Topic), or an attribute of it: a topic, a "
            "collection or mapping of topics, or an object with a 'topics' attribute",
        )
        command.add_argument("-o", "--output", metavar="FILE", help="write to FILE, not stdout")
        return command

    schema = target_command("schema", "print a JSON Schema bundle of the topics")
    asyncapi = target_command("asyncapi", "print an AsyncAPI 3.0.0 document of the topics")
    for command in (schema, asyncapi):
        command.add_argument("--title", help="document title")
        command.add_argument("--include-meta", action="store_true", help="add the hub's own topics")
    asyncapi.add_argument("--doc-version", default="0.1.0", help="info.version (default 0.1.0)")
    asyncapi.add_argument(
        "--server",
        action="append",
        default=[],
        metavar="ID=URL",
        help="a NATS server entry, e.g. local=nats://localhost:4222 (repeatable)",
    )
    asyncapi.add_argument(
        "--send", action="append", default=[], metavar="TOPIC", help="topic the app sends"
    )
    asyncapi.add_argument(
        "--receive", action="append", default=[], metavar="TOPIC", help="topic the app receives"
    )
    target_command("graph", "print a Mermaid diagram of the topics' key tree, or of a live Hub")
    return parser


def _fail(message: str) -> int:
    print(f"typedpubsub: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _run(args: argparse.Namespace) -> int:
    from . import schema
    from ._hub import Hub

    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` does: modules of the current folder
    try:
        target = schema.load_target(args.target)
    except LookupError as exc:
        return _fail(str(exc))
    if args.command == "graph" and isinstance(target, Hub):
        text = schema.mermaid_hub(target)
    else:
        try:
            topics = schema.collect_topics(target)
        except (TypeError, ValueError) as exc:
            return _fail(str(exc))
        if not topics and not getattr(args, "include_meta", False):
            return _fail(f"{args.target!r} defines no Topic")
        try:
            text = _render(args, topics)
        except ValueError as exc:
            return _fail(str(exc))
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def _render(args: argparse.Namespace, topics: dict[str, Any]) -> str:
    from . import schema

    if args.command == "graph":
        return schema.mermaid_topics(topics)
    if args.command == "schema":
        document = schema.json_schema(
            topics, title=args.title or f"{args.target} topics", include_meta=args.include_meta
        )
    else:
        servers = {}
        for entry in args.server:
            ident, sep, url = entry.partition("=")
            if not sep or not ident or not url:
                raise ValueError(f"--server takes ID=URL, got {entry!r}")
            servers[ident] = url
        operations: dict[str, schema.Action] = {name: "send" for name in args.send}
        operations.update({name: "receive" for name in args.receive})
        document = schema.asyncapi(
            topics,
            title=args.title or f"{args.target} topics",
            version=args.doc_version,
            servers=servers,
            operations=operations,
            include_meta=args.include_meta,
        )
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # a command is required: say how to use it, as argparse does
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return _run(args)


if __name__ == "__main__":
    sys.exit(main())
