"""Topics: keys bound to a payload type, and the validators behind them."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Sequence
from typing import Any, Generic, cast, overload

from pydantic import ConfigDict, PydanticSchemaGenerationError, PydanticUserError, TypeAdapter
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import InitErrorDetails
from typing_extensions import TypedDict, TypeVar

from ._key import WILDCARD, Key, PossibleKey, _describe
from .errors import InvalidKeyError, PayloadValidationError, UnsupportedPayloadTypeError

__all__ = ["Topic"]

T = TypeVar("T", default=Any)


def _is_stdlib_dataclass(tp: object) -> bool:
    return (
        isinstance(tp, type)
        and dataclasses.is_dataclass(tp)
        and not hasattr(tp, "__pydantic_validator__")
    )


def type_name(tp: object) -> str:
    """A short, readable name for a payload type."""
    name = getattr(tp, "__qualname__", None) if isinstance(tp, type) else None
    return name if isinstance(name, str) else repr(tp).replace("typing.", "")


class Validator(Generic[T]):
    """Validates payloads into one payload type; shared by every topic of that type.

    A stdlib dataclass checks nothing in its constructor and pydantic accepts its instances on an
    isinstance check alone, so by default an instance is revalidated field by field (nested
    dataclasses too). A valid instance is returned as is; one that pydantic can only coerce is
    replaced by the coerced copy. ``trust_instances=True`` skips that revalidation.
    """

    __slots__ = ("_instance_check", "_revalidator", "adapter", "payload_type", "trust_instances")

    def __init__(self, payload_type: Any, trust_instances: bool) -> None:
        self.payload_type = payload_type
        self.trust_instances = trust_instances
        try:
            self.adapter: TypeAdapter[T] = TypeAdapter(payload_type)
        except (PydanticSchemaGenerationError, PydanticUserError, TypeError) as exc:
            raise UnsupportedPayloadTypeError(
                f"payload_type must be a type pydantic can validate, got {payload_type!r}: "
                f"{str(exc).splitlines()[0]}",
                payload_type,
            ) from None
        self._revalidator: TypeAdapter[dict[str, T]] | None = None
        self._instance_check: type | None = None
        if _is_stdlib_dataclass(payload_type) and not trust_instances:
            self._instance_check = payload_type
            self._revalidator = _revalidating_adapter(payload_type)

    def validate(self, message: object) -> T:
        """Return ``message`` as a valid payload, or raise pydantic's ``ValidationError``."""
        if self._instance_check is not None and type(message) is self._instance_check:
            assert self._revalidator is not None
            try:
                self._revalidator.validate_python({"v": message}, strict=True)
            except PydanticValidationError:
                try:
                    return self._revalidator.validate_python({"v": message})["v"]
                except PydanticValidationError as exc:
                    raise _unwrapped(exc, self.payload_type) from None
            return cast(T, message)  # checked field by field just above
        return self.adapter.validate_python(message)

    def __repr__(self) -> str:
        return f"Validator({type_name(self.payload_type)}, trust_instances={self.trust_instances})"


def _revalidating_adapter(payload_type: type) -> TypeAdapter[dict[str, Any]]:
    # A TypedDict wrapper is how a config (revalidate_instances) reaches a stdlib dataclass,
    # which pydantic will not let a TypeAdapter configure directly.
    make_typeddict: Any = TypedDict
    wrapper = make_typeddict("_Revalidate", {"v": payload_type})
    wrapper.__pydantic_config__ = ConfigDict(revalidate_instances="always")
    return TypeAdapter[dict[str, Any]](wrapper)


def _unwrapped(exc: PydanticValidationError, payload_type: Any) -> PydanticValidationError:
    """The errors of the revalidating wrapper, located in the payload rather than the wrapper."""
    details: list[InitErrorDetails] = []
    for error in exc.errors(include_url=False):
        detail = InitErrorDetails(type=error["type"], loc=error["loc"][1:], input=error["input"])
        if "ctx" in error:
            detail["ctx"] = error["ctx"]
        details.append(detail)
    return PydanticValidationError.from_exception_data(type_name(payload_type), details)


_validators: dict[tuple[object, bool], Validator[Any]] = {}
_validators_lock = threading.Lock()


def validator_for(payload_type: object, trust_instances: bool) -> Validator[Any]:
    """The shared validator of ``payload_type``, built on first use."""
    try:
        cache_key = (payload_type, trust_instances)
        hash(cache_key)
    except TypeError:
        return Validator(payload_type, trust_instances)
    with _validators_lock:
        found = _validators.get(cache_key)
        if found is None:
            found = _validators[cache_key] = Validator(payload_type, trust_instances)
        return found


def format_validation_error(
    key: Sequence[str], topic: Topic[Any], error: PydanticValidationError
) -> PayloadValidationError:
    """A :class:`PayloadValidationError` naming the full key and every failing field."""
    problems = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"]) or "(payload)"
        problems.append(f"{where}: {item['msg']} (got {item['input']!r})")
    where_from = []
    if topic.name:
        where_from.append(f"topic {topic.name!r}")
    if tuple(topic) != tuple(key):
        where_from.append(f"subscribed as {tuple(topic)!r}")
    origin = f" ({', '.join(where_from)})" if where_from else ""
    count = len(problems)
    message = (
        f"payload on key {tuple(key)!r} does not validate as {type_name(topic.payload_type)}"
        f"{origin}, {count} error{'s' if count != 1 else ''}: " + "; ".join(problems)
    )
    return PayloadValidationError(message, tuple(key), topic, error.errors(include_url=False))


class Topic(Key[T]):
    """A key bound to a payload type: ``Topic(('*', 'trade', '*'), Trade)`` is a ``Topic[Trade]``.

    A topic is a :class:`Key` (equal and hash-equal to the plain tuple), so it works wherever a key
    does. Publishing through a topic validates the payload with pydantic before any delivery, and a
    listener subscribed through a topic only ever receives valid payloads.

    ``name``, ``description`` and ``parameters`` (one name per ``'*'``) are metadata for schema
    export. ``trust_instances=True`` accepts instances of a stdlib dataclass payload type without
    revalidating their fields (faster, but a dataclass constructor checks nothing).
    """

    payload_type: Any
    name: str | None
    description: str | None
    parameters: tuple[str | None, ...]
    _validator: Validator[T]

    @overload
    def __new__(
        cls,
        key: PossibleKey,
        payload_type: type[T],
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        parameters: Sequence[str] | None = None,
        trust_instances: bool = False,
    ) -> Topic[T]: ...
    @overload
    def __new__(
        cls,
        key: PossibleKey,
        payload_type: Any,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        parameters: Sequence[str] | None = None,
        trust_instances: bool = False,
    ) -> Topic[T]: ...
    def __new__(
        cls,
        key: PossibleKey,
        payload_type: Any,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        parameters: Sequence[str] | None = None,
        trust_instances: bool = False,
    ) -> Topic[T]:
        parts = Key.create_from(key)
        if not parts:
            raise InvalidKeyError(f"key must have at least one part, got {tuple(parts)!r}", parts)
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be str or None, got {_describe(name)}")
        if description is not None and not isinstance(description, str):
            raise TypeError(f"description must be str or None, got {_describe(description)}")
        if not isinstance(trust_instances, bool):
            raise TypeError(f"trust_instances must be bool, got {_describe(trust_instances)}")
        wildcards = parts.count(WILDCARD)
        if parameters is None:
            names: tuple[str | None, ...] = (None,) * wildcards
        else:
            if isinstance(parameters, str) or not all(isinstance(p, str) for p in parameters):
                raise TypeError(f"parameters must be a sequence of str, got {parameters!r}")
            names = tuple(parameters)
            if len(names) != wildcards:
                raise ValueError(
                    f"parameters must name each of the {wildcards} wildcards of "
                    f"{tuple(parts)!r}, got {names!r}"
                )
            if len(set(names)) != len(names):
                raise ValueError(f"parameters must be distinct, got {names!r}")
        validator: Validator[T] = validator_for(payload_type, trust_instances)
        return cls._make(parts, validator, name, description, names)

    @classmethod
    def _make(
        cls,
        parts: Iterable[str],
        validator: Validator[T],
        name: str | None,
        description: str | None,
        parameters: tuple[str | None, ...],
    ) -> Topic[T]:
        self = tuple.__new__(cls, parts)
        self._validator = validator
        self.payload_type = validator.payload_type
        self.name = name
        self.description = description
        self.parameters = parameters
        return self

    @property
    def trust_instances(self) -> bool:
        """Whether stdlib dataclass instances are accepted without revalidation."""
        return self._validator.trust_instances

    @property
    def adapter(self) -> Any:
        """The pydantic ``TypeAdapter`` of the payload type (for JSON and JSON Schema)."""
        return self._validator.adapter

    def validate(self, message: object) -> T:
        """Return ``message`` as a valid ``T``; raise :class:`PayloadValidationError` otherwise."""
        try:
            return self._validator.validate(message)
        except PydanticValidationError as exc:
            raise format_validation_error(self, self, exc) from exc

    def fill(self, *values: str, **named: str) -> Topic[T]:
        """Replace the wildcards, in order or by parameter name, to get a concrete topic."""
        if values and named:
            raise TypeError("fill takes wildcard values either by position or by name, not both")
        wildcards = [i for i, part in enumerate(self) if part == WILDCARD]
        if named:
            unknown = sorted(set(named) - {p for p in self.parameters if p is not None})
            if unknown:
                raise TypeError(
                    f"fill got unknown parameter names {unknown}, topic has {self.parameters!r}"
                )
            values = tuple(named.get(p, WILDCARD) if p else WILDCARD for p in self.parameters)
        elif len(values) != len(wildcards):
            raise TypeError(
                f"fill takes one value per wildcard of {tuple(self)!r} "
                f"({len(wildcards)}), got {len(values)}"
            )
        parts = list(self)
        kept: list[str | None] = []
        for index, value, param in zip(wildcards, values, self.parameters, strict=True):
            if not isinstance(value, str):
                raise TypeError(f"fill value must be str, got {_describe(value)}")
            if value == WILDCARD:
                kept.append(param)
            elif not value:
                raise ValueError(f"fill value must not be empty for wildcard at position {index}")
            parts[index] = value
        return self._make(parts, self._validator, self.name, self.description, tuple(kept))

    def _derive(self, parts: Key[Any]) -> Topic[T]:
        """The same topic type over ``parts``, which contain this topic's parts contiguously."""
        for start in range(len(parts) - len(self) + 1):
            if parts[start : start + len(self)] == tuple(self):
                break
        else:  # pragma: no cover - callers always embed self
            raise AssertionError("derived key does not contain the topic")
        before = (None,) * parts[:start].count(WILDCARD)
        after = (None,) * parts[start + len(self) :].count(WILDCARD)
        return self._make(
            parts, self._validator, self.name, self.description, before + self.parameters + after
        )

    def __add__(self, other: Iterable[str], /) -> Topic[T]:  # type: ignore[override]  # keeps the payload type
        if isinstance(other, Topic):
            raise TypeError(
                f"cannot join two topics ({tuple(self)!r} and {tuple(other)!r}): "
                "add a plain Key to a topic instead"
            )
        return self._derive(Key(*self, *Key.create_from(other)))

    def __radd__(self, other: Iterable[str], /) -> Topic[T]:
        return self._derive(Key(*Key.create_from(other), *self))

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild_topic, (
            tuple(self),
            self.payload_type,
            self.name,
            self.description,
            self.parameters,
            self.trust_instances,
        )

    def __repr__(self) -> str:
        extra = f", name={self.name!r}" if self.name else ""
        return f"Topic({tuple(self)!r}, {type_name(self.payload_type)}{extra})"

    def __str__(self) -> str:
        # Listeners print the key they receive; keep aiopubsub's tuple look.
        return repr(tuple(self))


def _rebuild_topic(
    parts: tuple[str, ...],
    payload_type: Any,
    name: str | None,
    description: str | None,
    parameters: tuple[str | None, ...],
    trust_instances: bool,
) -> Topic[Any]:
    validator: Validator[Any] = validator_for(payload_type, trust_instances)
    return Topic._make(parts, validator, name, description, parameters)


def check_distinct_topics(topics: Iterable[object]) -> None:
    """Raise ``ValueError`` if two topics bind one key to different payload types."""
    seen: dict[tuple[str, ...], Topic[Any]] = {}
    for topic in topics:
        if not isinstance(topic, Topic):
            continue
        first = seen.setdefault(tuple(topic), topic)
        if first.payload_type != topic.payload_type:
            raise ValueError(
                f"topics must not bind one key to two payload types: {tuple(topic)!r} has "
                f"{type_name(first.payload_type)} and {type_name(topic.payload_type)}"
            )
