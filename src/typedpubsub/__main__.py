"""The ``typedpubsub`` command line (also ``python -m typedpubsub``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._native import is_compiled
from ._version import __version__

__all__ = ["main"]

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="typedpubsub",
        description="typedpubsub: a typed publish/subscribe event bus for asyncio.",
    )
    compiled = "yes" if is_compiled() else "no"
    parser.add_argument(
        "--version", action="version", version=f"typedpubsub {__version__} (compiled: {compiled})"
    )
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
    _compat_command(commands)
    return parser


def _compat_command(commands: Any) -> None:
    from ._compat import MODES

    help_text = (
        "check that NEW topics are compatible with OLD ones: exit 0 if so, 1 if not, 2 on "
        "usage errors"
    )
    compat = commands.add_parser("compat", help=help_text, description=help_text)
    versions = "an AsyncAPI document or JSON Schema bundle (JSON file), or MODULE[:ATTR]"
    compat.add_argument(
        "old",
        nargs="+",
        metavar="OLD",
        help=f"{versions}; several, or a folder of .json "
        "files in name order (oldest first), for the transitive modes",
    )
    compat.add_argument("new", metavar="NEW", help=versions)
    compat.add_argument(
        "--mode", choices=MODES, default="backward", help="what to check (default backward)"
    )
    compat.add_argument("--json", action="store_true", help="print the report as JSON")


def _fail(message: str) -> int:
    print(f"typedpubsub: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _run(args: argparse.Namespace) -> int:
    from . import schema
    from ._hub import Hub

    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` does: modules of the current folder
    if args.command == "compat":
        return _compat(args)
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


def _versions(spec: str) -> list[tuple[str, object]]:
    from . import schema

    path = Path(spec)
    if path.is_dir():
        files = sorted(path.glob("*.json"))
        if not files:
            raise LookupError(f"folder {spec!r} holds no .json document")
    elif path.is_file() or spec.endswith(".json"):
        files = [path]
    else:
        return [(spec, schema.load_target(spec))]
    versions: list[tuple[str, object]] = []
    for file in files:
        try:
            versions.append((str(file), json.loads(file.read_text())))
        except OSError as exc:
            raise LookupError(f"cannot read {str(file)!r}: {exc.strerror}") from None
        except ValueError as exc:
            raise LookupError(f"{str(file)!r} is not JSON: {exc}") from None
    return versions


def _compat(args: argparse.Namespace) -> int:
    from ._compat import compare

    if Path(args.new).is_dir():
        return _fail(f"NEW must be one document, got the folder {args.new!r}")
    try:
        olds = [version for spec in args.old for version in _versions(spec)]
        ((_, new),) = _versions(args.new)
        report = compare(olds, new, mode=args.mode)
    except (LookupError, TypeError, ValueError) as exc:
        return _fail(str(exc))
    if args.json:
        sys.stdout.write(json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(report.text())
    return 0 if report.compatible else 1


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
