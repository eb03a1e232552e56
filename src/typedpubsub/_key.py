"""Keys: hierarchical tuples of str with ``*`` wildcards, and aiopubsub's matching rule."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Generic, cast, overload

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema
from typing_extensions import Self, TypeVar

from ._describe import describe
from .errors import InvalidKeyError, KeyPartTypeError

if TYPE_CHECKING:
    from ._request import RequestTopic
    from ._topic import Topic

__all__ = ["WILDCARD", "Key", "PossibleKey", "TupleKey", "escape_wildcards"]

T = TypeVar("T", default=Any)
U = TypeVar("U")
V = TypeVar("V")

WILDCARD = "*"

PossibleKey = str | Iterable[str]
"""What aiopubsub accepts where it builds a key: a str (one part) or an iterable of str."""

TupleKey = (
    tuple[str]
    | tuple[str, str]
    | tuple[str, str, str]
    | tuple[str, str, str, str]
    | tuple[str, str, str, str, str]
    | tuple[str, str, str, str, str, str]
    | tuple[str, str, str, str, str, str, str]
    | tuple[str, str, str, str, str, str, str, str]
)
"""A literal tuple of up to eight str parts, as a key for :class:`Publisher` methods.

Fixed-length tuples on purpose: a ``Topic`` is a ``tuple[str, ...]`` too, and a
``tuple[str, ...]`` alternative would let a wrongly typed publish through a topic type-check.
"""


class Key(tuple[str, ...], Generic[T]):
    """A hierarchical key: a tuple of str parts, where ``'*'`` is a wildcard.

    ``Key('a', 'b') == ('a', 'b')`` and both hash alike. The type parameter is the payload type
    a key carries; a plain ``Key(...)`` is ``Key[Any]`` and accepts any payload. :class:`Topic`
    binds a key to a payload type at run time.
    """

    __slots__ = ()

    def __new__(cls, *parts: str) -> Self:
        for part in parts:
            if type(part) is not str and not isinstance(part, str):
                raise KeyPartTypeError(
                    f"key part must be str, got {describe(part)} in {parts!r}", parts, part
                )
        return super().__new__(cls, parts)

    @classmethod
    def create_from(cls, x: PossibleKey) -> Key[Any]:
        """Build a key from a str (one part, never split into characters) or an iterable of str."""
        if isinstance(x, Key):
            return x
        if isinstance(x, str):
            return Key(x)
        given: object = x
        if isinstance(given, bytes | bytearray):
            raise KeyPartTypeError(
                f"key must be str or an iterable of str, got {describe(x)}", (x,), x
            )
        try:
            parts = tuple(x)
        except TypeError:
            raise KeyPartTypeError(
                f"key must be str or an iterable of str, got {describe(x)}", (x,), x
            ) from None
        return Key(*parts)

    @property
    def is_wildcard(self) -> bool:
        """Whether any part is the wildcard ``'*'``."""
        return WILDCARD in self

    def is_subset_of(self, another: Key[Any] | tuple[str, ...]) -> bool:
        """Whether every key matched by this one is matched by ``another`` (aiopubsub's rule).

        ``'*'`` in ``another`` matches exactly one part; a trailing ``'*'`` also matches any
        number of further parts. Without wildcards in ``another`` this is plain equality.
        """
        return is_subset(self, another)

    @overload  # type: ignore[override]  # tuple + tuple of anything; a key only joins str parts
    def __add__(self, other: RequestTopic[U, V], /) -> RequestTopic[U, V]: ...
    @overload
    def __add__(self, other: Topic[U], /) -> Topic[U]: ...
    @overload
    def __add__(self, other: Iterable[str], /) -> Key[T]: ...
    def __add__(self, other: Iterable[str], /) -> Key[Any]:  # pyright: ignore[reportIncompatibleMethodOverride]  # see the overload
        # Key + Topic never gets here: Topic.__radd__, a subclass's reflected method, wins.
        return Key(*self, *Key.create_from(other))

    def __radd__(self, other: Iterable[str], /) -> Key[Any]:
        return Key(*Key.create_from(other), *self)

    def __getnewargs__(self) -> tuple[str, ...]:
        return tuple(self)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        str_list = core_schema.list_schema(core_schema.str_schema())
        str_tuple = core_schema.tuple_variable_schema(core_schema.str_schema())
        from_json = core_schema.no_info_after_validator_function(_key_from_parts, str_list)
        from_python = core_schema.no_info_after_validator_function(
            _key_from_parts, core_schema.union_schema([str_tuple, str_list])
        )
        return core_schema.json_or_python_schema(
            json_schema=from_json,
            python_schema=core_schema.union_schema(
                [core_schema.is_instance_schema(Key), from_python]
            ),
            serialization=core_schema.plain_serializer_function_ser_schema(list),
        )


def _key_from_parts(parts: list[str] | tuple[str, ...]) -> Key[Any]:
    return Key(*parts)


def is_subset(key: tuple[str, ...], pattern: tuple[str, ...]) -> bool:
    """aiopubsub's ``Key.is_subset_of``, on plain tuples."""
    if WILDCARD not in pattern:
        return key == pattern
    if len(key) < len(pattern):
        return False
    if len(key) > len(pattern) and pattern[-1] != WILDCARD:
        return False
    return all(p == WILDCARD or k == p for k, p in zip(key, pattern, strict=False))


def overlaps(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Whether some concrete key is matched by both patterns ``a`` and ``b``."""
    a_open = bool(a) and a[-1] == WILDCARD
    b_open = bool(b) and b[-1] == WILDCARD
    if len(a) != len(b):
        shorter_open = a_open if len(a) < len(b) else b_open
        if not shorter_open:
            return False
    length = max(len(a), len(b))
    for i in range(length):
        pa = a[i] if i < len(a) else WILDCARD
        pb = b[i] if i < len(b) else WILDCARD
        if pa != WILDCARD and pb != WILDCARD and pa != pb:
            return False
    return True


def escape_wildcards(key: Iterable[str]) -> tuple[str, ...]:
    """Replace each ``'*'`` with ``'\\*'``, as the hub's meta messages do."""
    return tuple("\\*" if part == WILDCARD else part for part in key)


def check_publishable(key: object, parameter: str = "key") -> Key[Any]:
    """Return ``key`` as a :class:`Key` if a message may be published on it, else raise."""
    if not isinstance(key, Key):
        if isinstance(key, str) or not isinstance(key, tuple):
            raise KeyPartTypeError(
                f"{parameter} must be a Key or a tuple of str, got {describe(key)}", (key,), key
            )
        key = Key(*key)
    if not key:
        raise InvalidKeyError(f"{parameter} must have at least one part, got {tuple(key)!r}", key)
    if WILDCARD in key:
        raise InvalidKeyError(
            f"{parameter} must not contain the wildcard '*' when publishing, got {tuple(key)!r}",
            key,
        )
    return key


def check_pattern(key: object, parameter: str = "key") -> Key[Any]:
    """Return ``key`` as a :class:`Key` if it may be subscribed to, else raise."""
    if not isinstance(key, Key):
        key = Key.create_from(cast(Any, key))  # create_from checks the type at run time
    if not key:
        raise InvalidKeyError(f"{parameter} must have at least one part, got {tuple(key)!r}", key)
    return key
