"""Mermaid flowcharts: the key tree of topics, and what a live hub connects."""

from __future__ import annotations

from collections.abc import Iterable

from .._hub import Hub, topology
from .._key import WILDCARD, overlaps
from .._topic import type_name
from ._jsonschema import TopicsArg, topic_names

__all__ = ["draw_hub", "mermaid_hub", "mermaid_topics"]


def _mermaid_text(text: str) -> str:
    return '"' + text.replace('"', "#quot;") + '"'


def mermaid_topics(topics: TopicsArg) -> str:
    """A Mermaid flowchart of the key tree, each topic's node labelled with its payload type."""
    named = topic_names(topics)
    lines = ["flowchart LR", '    root(("key"))']
    ids: dict[tuple[str, ...], str] = {(): "root"}
    for name, topic in named.items():
        for depth in range(1, len(topic) + 1):
            path = tuple(topic[:depth])
            if path not in ids:
                ids[path] = f"k{len(ids)}"
                lines.append(f"    {ids[path]}[{_mermaid_text(path[-1])}]")
                lines.append(f"    {ids[path[:-1]]} --> {ids[path]}")
        node = f"t{len(ids)}"
        ids[("\0topic", name)] = node
        label = f"{name}: {type_name(topic.payload_type)}"
        lines.append(f"    {node}[/{_mermaid_text(label)}/]")
        lines.append(f"    {ids[tuple(topic)]} -.- {node}")
    return "\n".join(lines) + "\n"


def mermaid_hub(hub: Hub) -> str:
    """A Mermaid flowchart of a live hub: publishers' prefixes, subscribed patterns, listeners."""
    return draw_hub(*topology(hub))


def draw_hub(
    subscriptions: Iterable[tuple[Iterable[str], str]], publishers: Iterable[Iterable[str]]
) -> str:
    """The flowchart of :func:`mermaid_hub` from what it draws: ``(pattern, listener label)``
    per subscription, in subscription order, and the key prefix of each publisher."""
    lines = ["flowchart LR"]
    subscribed = [(tuple(pattern), label) for pattern, label in subscriptions]
    patterns = sorted({pattern for pattern, _ in subscribed})
    pattern_ids = {p: f"p{i}" for i, p in enumerate(patterns)}
    for pattern, ident in pattern_ids.items():
        lines.append(f"    {ident}{{{{{_mermaid_text('.'.join(pattern))}}}}}")
    prefixes = sorted({tuple(prefix) for prefix in publishers})
    for i, prefix in enumerate(prefixes):
        lines.append(f"    pub{i}[{_mermaid_text('publisher ' + '.'.join(prefix) + '.*')}]")
        for pattern in patterns:
            if overlaps((*prefix, WILDCARD), pattern) or (prefix and prefix == pattern):
                lines.append(f"    pub{i} --> {pattern_ids[pattern]}")
    listeners = sorted({label for _, label in subscribed})
    listener_ids = {label: f"l{i}" for i, label in enumerate(listeners)}
    for label, ident in listener_ids.items():
        lines.append(f"    {ident}([{_mermaid_text(label)}])")
    for pattern, label in subscribed:
        lines.append(f"    {pattern_ids[pattern]} --> {listener_ids[label]}")
    return "\n".join(lines) + "\n"
