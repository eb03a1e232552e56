"""Routing: a trie over key parts with ``*`` branches; lookup cost grows with key length only."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ._key import WILDCARD

__all__ = ["Router", "Target"]


class Target:
    """One subscription: a callback under a key pattern, with what the hub needs to deliver."""

    __slots__ = ("callback", "inbox", "key", "label", "seq", "stats", "unread", "validator")

    def __init__(
        self,
        key: tuple[str, ...],
        callback: Callable[[Any, Any], object],
        seq: int,
        validator: Any,
        unread: Callable[[], int] | None,
        inbox: Any,
        stats: Any,
        label: str,
    ) -> None:
        self.key = key
        self.callback = callback
        self.seq = seq
        self.validator = validator
        self.unread = unread
        self.inbox = inbox
        self.stats = stats
        self.label = label


class _Node:
    __slots__ = ("children", "exact", "star", "tail")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.star: _Node | None = None
        # Patterns ending at this node; `tail` holds those ending with '*' (only on star nodes),
        # which also match keys longer than the pattern.
        self.exact: dict[object, Target] = {}
        self.tail: dict[object, Target] = {}

    def is_empty(self) -> bool:
        return not (self.children or self.star or self.exact or self.tail)


class Router:
    """Maps key patterns to targets; ``match`` finds every target a concrete key reaches."""

    __slots__ = ("_root", "count")

    def __init__(self) -> None:
        self._root = _Node()
        self.count = 0

    def _bucket(self, node: _Node, pattern: tuple[str, ...]) -> dict[object, Target]:
        return node.tail if pattern and pattern[-1] == WILDCARD else node.exact

    def add(self, target: Target) -> int | None:
        """Add ``target``; how many targets its exact pattern has then, None if it is there."""
        node = self._root
        for part in target.key:
            if part == WILDCARD:
                if node.star is None:
                    node.star = _Node()
                node = node.star
            else:
                child = node.children.get(part)
                if child is None:
                    child = node.children[part] = _Node()
                node = child
        bucket = self._bucket(node, target.key)
        if target.callback in bucket:
            # A repeat: the path existed already, so nothing was created to prune.
            return None
        bucket[target.callback] = target
        self.count += 1
        return len(bucket)

    def remove(self, pattern: tuple[str, ...], callback: object) -> tuple[Target, int] | None:
        """Remove a target; it and how many its exact pattern has left, None if none was there."""
        path: list[tuple[_Node, str]] = []
        node = self._root
        for part in pattern:
            nxt = node.star if part == WILDCARD else node.children.get(part)
            if nxt is None:
                return None
            path.append((node, part))
            node = nxt
        bucket = self._bucket(node, pattern)
        target = bucket.pop(callback, None)
        if target is None:
            return None
        self.count -= 1
        remaining = len(bucket)
        # Prune the branch so that memory does not keep patterns nobody subscribes to.
        while path and node.is_empty():
            parent, part = path.pop()
            if part == WILDCARD:
                parent.star = None
            else:
                del parent.children[part]
            node = parent
        return target, remaining

    def may_match_first(self, part: str) -> bool:
        """Whether some pattern could match a key whose first part is ``part``."""
        root = self._root
        return root.star is not None or part in root.children

    def get(self, pattern: tuple[str, ...], callback: object) -> Target | None:
        """The target of ``callback`` under exactly ``pattern``, None if there is none."""
        node: _Node | None = self._root
        for part in pattern:
            assert node is not None
            node = node.star if part == WILDCARD else node.children.get(part)
            if node is None:
                return None
        assert node is not None
        return self._bucket(node, pattern).get(callback)

    def match(self, key: tuple[str, ...]) -> list[Target]:
        """Targets whose pattern matches ``key``, in subscription order, one per callback."""
        found: list[Target] = []
        size = len(key)
        stack = [(self._root, 0)]
        while stack:
            node, depth = stack.pop()
            if node.tail:
                found.extend(node.tail.values())
            if depth == size:
                if node.exact:
                    found.extend(node.exact.values())
                continue
            child = node.children.get(key[depth])
            if child is not None:
                stack.append((child, depth + 1))
            if node.star is not None:
                stack.append((node.star, depth + 1))
        if len(found) > 1:
            found.sort(key=_by_seq)
            seen: set[object] = set()
            unique = []
            for target in found:
                if target.callback not in seen:
                    seen.add(target.callback)
                    unique.append(target)
            found = unique
        return found

    def __iter__(self) -> Iterator[Target]:
        stack = [self._root]
        while stack:
            node = stack.pop()
            yield from node.exact.values()
            yield from node.tail.values()
            stack.extend(node.children.values())
            if node.star is not None:
                stack.append(node.star)


def _by_seq(target: Target) -> int:
    return target.seq
