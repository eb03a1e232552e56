"""Keys: construction, aiopubsub's matching rule, and the router against references."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from typedpubsub import Hub, Key
from typedpubsub._key import is_subset, overlaps
from typedpubsub._router import Router, Target
from typedpubsub.errors import InvalidKeyError, KeyPartTypeError, PubSubError

from .conftest import recorded_triples
from .helpers import Recorder


def test_key_is_a_tuple_of_str() -> None:
    """A key equals, and hashes like, the plain tuple of its parts."""
    key = Key("a", "b")
    assert key == ("a", "b")
    assert hash(key) == hash(("a", "b"))
    mapping: dict[tuple[str, ...], int] = {key: 1}
    assert mapping[("a", "b")] == 1
    assert repr(key) == "('a', 'b')"
    assert str(key) == "('a', 'b')"
    assert isinstance(key, tuple)


def test_key_parts_must_be_str() -> None:
    """A non-str part is a TypeError naming the part and the key."""
    with pytest.raises(
        KeyPartTypeError, match=r"^key part must be str, got 3 \(int\) in \('a', 3\)$"
    ):
        Key("a", 3)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    with pytest.raises(TypeError):
        Key(None)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    assert issubclass(KeyPartTypeError, PubSubError)


def test_is_wildcard() -> None:
    """Ported from aiopubsub: a key with any '*' part is a wildcard."""
    assert not Key("a").is_wildcard
    assert not Key("a", "b", "c").is_wildcard
    assert Key("*").is_wildcard
    assert Key("a", "b", "*").is_wildcard
    assert Key("a", "*", "c").is_wildcard
    assert Key("*", "b", "c").is_wildcard
    assert Key("*", "b", "*").is_wildcard
    assert not Key("a*").is_wildcard


def test_is_subset_of() -> None:
    """Ported from aiopubsub: exact keys match by equality; a trailing '*' matches deeper keys."""
    exact = Key("a", "b")
    assert not Key("a").is_subset_of(exact)
    assert not Key("a", "x").is_subset_of(exact)
    assert Key("a", "b").is_subset_of(exact)

    wild = Key("a", "b", "*")
    assert not Key("a").is_subset_of(wild)
    assert not Key("a", "x").is_subset_of(wild)
    assert not Key("a", "b").is_subset_of(wild)
    assert Key("a", "b", "c").is_subset_of(wild)
    assert Key("a", "b", "*").is_subset_of(wild)
    assert Key("a", "b", "c", "d").is_subset_of(wild)
    assert Key("a", "b", "c", "d", "*").is_subset_of(wild)


def test_is_subset_of_wildcard_in_the_middle() -> None:
    """Ported from aiopubsub: a '*' in the middle matches exactly one part."""
    wild = Key("a", "b", "*", "d")
    assert not Key("a", "b", "c").is_subset_of(wild)
    assert not Key("a", "b", "c", "d", "e").is_subset_of(wild)
    assert not Key("a", "b", "c", "x").is_subset_of(wild)
    assert Key("a", "b", "c", "d").is_subset_of(wild)
    assert Key("a", "b", "*", "d").is_subset_of(wild)


def test_add_returns_a_key() -> None:
    """Ported from aiopubsub: ``+`` joins parts into a Key, from either side."""
    added = Key("1") + Key("2")
    assert added == Key("1", "2")
    assert type(added) is Key
    assert type(Key("1") + ("2",)) is Key
    assert type(("0",) + Key("1")) is Key
    assert ("0",) + Key("1") == ("0", "1")


def test_create_from() -> None:
    """Ported from aiopubsub: a str is one part; an iterable gives one part per item."""
    assert Key.create_from(("a", "b")) == Key("a", "b")
    assert Key.create_from(["a", "b"]) == Key("a", "b")
    assert Key.create_from("ab") == Key("ab")
    assert type(Key.create_from("ab")) is Key
    with pytest.raises(KeyPartTypeError, match=r"^key must be str or an iterable of str, got 3"):
        Key.create_from(3)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    with pytest.raises(
        KeyPartTypeError, match=r"^key must be str or an iterable of str, got b'ab'"
    ):
        Key.create_from(b"ab")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


def test_key_pickles() -> None:
    """A key survives pickling as a Key."""
    key = Key("a", "*")
    again = pickle.loads(pickle.dumps(key))
    assert again == key
    assert type(again) is Key


def test_overlaps() -> None:
    """Two patterns overlap when some concrete key matches both."""
    assert overlaps(("*",), ("a", "b"))
    assert overlaps(("a", "*"), ("*", "b"))
    assert not overlaps(("a", "b"), ("a", "c"))
    assert not overlaps(("a", "*", "c"), ("a", "b"))
    assert overlaps(("a", "*"), ("a", "b", "c"))
    assert not overlaps(("a", "b"), ("a", "b", "*"))


def test_every_recorded_triple_matches_like_aiopubsub() -> None:
    """Matching agrees with aiopubsub 3.0 on all 2M triples recorded in production."""
    triples = recorded_triples()
    assert len(triples) == 2_024_283
    assert sum(1 for *_, expected in triples if expected) == 7_065
    keys: dict[tuple[str, ...], Key] = {}

    def key_of(parts: list[str]) -> Key:
        plain = tuple(parts)
        found = keys.get(plain)
        if found is None:
            found = keys[plain] = Key(*plain)
        return found

    wrong = [
        (published, subscribed, expected)
        for published, subscribed, expected in triples
        if key_of(published).is_subset_of(key_of(subscribed)) is not expected
    ]
    assert wrong == []


def test_router_reproduces_every_recorded_match() -> None:
    """Routing the recorded keys through the trie gives exactly the recorded matching pairs."""
    triples = recorded_triples()
    router = Router()
    subscribed = sorted({tuple(s) for _, s, _ in triples})
    for seq, pattern in enumerate(subscribed):
        callback = Recorder().sync  # a distinct callback per pattern
        router.add(Target(pattern, callback, seq, None, None, None, None, str(pattern)))
    expected: dict[tuple[str, ...], set[tuple[str, ...]]] = {}
    for published_parts, pattern_parts, should_match in triples:
        matches = expected.setdefault(tuple(published_parts), set())
        if should_match:
            matches.add(tuple(pattern_parts))
    assert len(expected) == 502
    assert sum(len(m) for m in expected.values()) == 231  # distinct matching pairs
    for published, matches in expected.items():
        assert {t.key for t in router.match(published)} == matches, published


parts = st.sampled_from(["a", "b", "c", "*"])
patterns = st.lists(parts, min_size=1, max_size=4).map(tuple)
concrete = st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=5).map(tuple)


@settings(max_examples=300, deadline=None)
@given(subscriptions=st.lists(patterns, max_size=12), published=st.lists(concrete, max_size=12))
def test_routing_equals_brute_force(
    subscriptions: list[tuple[str, ...]], published: list[tuple[str, ...]]
) -> None:
    """For random patterns and keys, the hub reaches exactly the brute-force matches."""
    hub = Hub()
    received: list[tuple[tuple[str, ...], tuple[str, ...]]] = []

    def listener_for(pattern: tuple[str, ...]) -> Any:
        def listener(key: Key, message: object) -> None:
            received.append((pattern, tuple(key)))

        return listener

    unique = list(dict.fromkeys(subscriptions))
    for pattern in unique:
        hub.add_subscriber(Key(*pattern), listener_for(pattern))
    for key in published:
        received.clear()
        hub.publish(Key(*key), None)
        assert sorted(received) == sorted((p, key) for p in unique if is_subset(key, p))
        assert hub.has_subscribers(Key(*key)) == any(is_subset(key, p) for p in unique)


@settings(max_examples=300, deadline=None)
@given(a=patterns, b=patterns, key=concrete)
def test_overlaps_is_consistent_with_matching(
    a: tuple[str, ...], b: tuple[str, ...], key: tuple[str, ...]
) -> None:
    """A key matched by two patterns proves that they overlap."""
    if is_subset(key, a) and is_subset(key, b):
        assert overlaps(a, b)
    assert overlaps(a, b) == overlaps(b, a)


def test_publishing_needs_a_concrete_nonempty_key() -> None:
    """Wildcards and empty keys are refused with a ValueError naming the key."""
    hub = Hub()
    with pytest.raises(
        InvalidKeyError,
        match=r"^key must not contain the wildcard '\*' when publishing, got \('a', '\*'\)$",
    ):
        hub.publish(Key("a", "*"), 1)
    with pytest.raises(ValueError, match=r"^key must have at least one part, got \(\)$"):
        hub.publish(Key(), 1)
    with pytest.raises(
        TypeError, match=r"^key must be a Key or a tuple of str, got 'abc' \(str\)$"
    ):
        hub.publish("abc", 1)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    with pytest.raises(TypeError, match=r"^key part must be str"):
        hub.publish(("a", 1), 1)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
