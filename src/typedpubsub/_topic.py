"""Topics: keys bound to a payload type, and the validators behind them."""

from __future__ import annotations

import keyword
import logging
import reprlib
import threading
import types
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, cast

from pydantic import PydanticSchemaGenerationError, PydanticUserError, TypeAdapter
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import (
    InitErrorDetails,
    PydanticCustomError,
    SchemaError,
    SchemaValidator,
    core_schema,
)
from typing_extensions import LiteralString, TypeForm, TypeVar

from ._describe import describe
from ._key import WILDCARD, Key, PossibleKey
from .errors import InvalidKeyError, PayloadValidationError, UnsupportedPayloadTypeError

__all__ = ["Topic", "convert_for_listener", "format_validation_error"]

T = TypeVar("T", default=Any)


def _is_class(tp: object) -> bool:
    """Whether ``tp`` is a class; ``list[int]`` passes ``isinstance(tp, type)`` before 3.11."""
    return isinstance(tp, type) and not isinstance(tp, types.GenericAlias)


def type_name(tp: object) -> str:
    """A short, readable name for a payload type."""
    name = getattr(tp, "__qualname__", None) if _is_class(tp) else None
    return name if isinstance(name, str) else repr(tp).replace("typing.", "")


class _Pass:
    """Per-call validation context: whether the pass is strict, and whether anything changed."""

    __slots__ = ("changed", "strict")

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.changed = False


class Validator(Generic[T]):
    """Validates payloads into one payload type; shared by every topic of that type.

    pydantic accepts instances of dataclasses and models on an isinstance check alone, and a
    stdlib dataclass's constructor checks nothing. So, unless ``trust_instances``, every instance
    of a dataclass (stdlib or pydantic) or pydantic model found anywhere in the payload (in
    containers, unions, generic classes, fields) is revalidated field by field. A payload that
    passes a strict pass and comes out equal is returned as is (the same object); one that
    pydantic can only coerce is replaced by the coerced copy.

    :meth:`validate` raises pydantic's ``ValidationError`` and nothing else: an exception raised
    by a user's validator, or a payload nested too deeply, becomes one.
    """

    __slots__ = (
        "__weakref__",
        "_core",
        "_dicts_are_copied",
        "_fast",
        "_has_models",
        "_may_rewrite",
        "_trusted",
        "adapter",
        "payload_type",
        "trust_instances",
    )

    def __init__(self, payload_type: Any, trust_instances: bool) -> None:
        self.payload_type = payload_type
        self.trust_instances = trust_instances
        try:
            self.adapter: TypeAdapter[T] = TypeAdapter(payload_type)
            # TypeAdapter may defer building (an unresolved forward reference): build it now, so
            # that an unusable type is refused when the topic is made, not at the first publish.
            self.adapter.rebuild(raise_errors=True)
            # The adapter's own validator, called without TypeAdapter's Python wrapper.
            self._trusted = self.adapter.validator
            revalidating = _Revalidating(self.adapter.core_schema)
            self._core: SchemaValidator | None = (
                None if trust_instances else SchemaValidator(revalidating.schema)
            )
            self._has_models = revalidating.has_models
            self._may_rewrite = revalidating.may_rewrite
            self._fast = None if trust_instances else revalidating.fast_path()
            # A dict payload for a class other than a dict (a dataclass, a model) is always
            # validated into a new object.
            self._dicts_are_copied = _is_class(payload_type) and not issubclass(payload_type, dict)
        except (PydanticSchemaGenerationError, PydanticUserError, NameError, TypeError) as exc:
            raise UnsupportedPayloadTypeError(
                f"payload_type must be a type pydantic can validate, got {payload_type!r}: "
                f"{str(exc).splitlines()[0]}",
                payload_type,
            ) from None
        except SchemaError as exc:  # pragma: no cover - a core schema the revalidating copy broke
            raise UnsupportedPayloadTypeError(
                f"payload_type instances cannot be revalidated, got {payload_type!r} "
                f"(trust_instances=True skips revalidation): {str(exc).splitlines()[0]}",
                payload_type,
            ) from None

    def validate(self, message: object) -> T:
        """Return ``message`` as a valid payload, or raise pydantic's ``ValidationError``."""
        try:
            core = self._core
            if core is None:
                return cast(T, self._trusted.validate_python(message))
            fast = self._fast
            if fast is not None and type(message) is fast.cls and fast.unchanged(message):
                return cast(T, message)
            if self._dicts_are_copied and type(message) is dict:
                # The result cannot be the dict itself: skip the strict pass.
                return cast(T, core.validate_python(message, context=_Pass(False)))
            strict = _Pass(True) if self._has_models else None
            try:
                result = core.validate_python(message, strict=True, context=strict)
            except PydanticValidationError:
                return cast(T, core.validate_python(message, context=_Pass(False)))
            if result is message or not (
                (strict is not None and strict.changed)
                or (self._may_rewrite and not _same(result, message))
            ):
                # A strict pass accepts only values of the exact types, so without validators
                # that rewrite values it returns an equal copy: deliver the original.
                return cast(T, message)
            return cast(T, result)
        except PydanticValidationError:
            raise
        except Exception as exc:
            raise self._unexpected(exc) from exc

    def validate_json(self, data: bytes | str) -> T:
        """Parse and validate a JSON document (a new value: no instance to revalidate), or raise
        pydantic's ``ValidationError``."""
        try:
            return cast(T, self._trusted.validate_json(data))
        except PydanticValidationError:
            raise
        except Exception as exc:
            raise self._unexpected(exc) from exc

    def _unexpected(self, exc: Exception) -> PydanticValidationError:
        """A validator raised something other than a validation error: a refusal all the same."""
        if isinstance(exc, RecursionError):
            return _failure(self.payload_type, "too_deep", "payload is nested too deeply")
        try:
            text = str(exc)
        except Exception:  # a user's exception may fail to print; its class still tells
            text = "<unprintable>"
        return _failure(
            self.payload_type,
            "validator_error",
            f"validation raised {type(exc).__name__}: {_clip(text)}",
        )

    def __repr__(self) -> str:
        return f"Validator({type_name(self.payload_type)}, trust_instances={self.trust_instances})"


def _same(result: object, message: object) -> bool:
    try:
        return type(result) is type(message) and bool(result == message)
    except Exception:  # a user's __eq__ may fail; then deliver the validated copy
        return False


def _failure(payload_type: Any, kind: LiteralString, reason: str) -> PydanticValidationError:
    error = PydanticCustomError(kind, "{reason}", {"reason": reason})
    detail = InitErrorDetails(type=error, loc=(), input=None)
    return PydanticValidationError.from_exception_data(type_name(payload_type), [detail])


# Keys of a core schema node whose values are not schemas to walk.
_OPAQUE_KEYS = frozenset(
    {"cls", "config", "default", "function", "generic_origin", "metadata", "ref", "serialization"}
)


# Nodes whose output may differ from an input that passes them strictly: a validator's result,
# a TypedDict without the extra keys, a str parsed into a URL, UUID or JSON value, a lazily
# validated iterable. (A dataclass with __post_init__ too; other strict nodes accept only
# instances of their type and return an equal value.)
_REWRITING_KINDS = frozenset(
    {"call", "chain", "function-after", "function-before", "function-plain", "function-wrap"}
    | {"complex", "generator", "json", "multi-host-url", "typed-dict", "url", "uuid"}
)
_REWRITING_OPTIONS = frozenset(
    {"strip_whitespace", "to_lower", "to_upper"}
    | {"str_strip_whitespace", "str_to_lower", "str_to_upper"}
)


class _Revalidating:
    """A copy of a core schema that revalidates every dataclass and model instance it meets.

    pydantic-core reuses a complete class's own prebuilt validator (which accepts instances as
    they are) for a dataclass or model node, whatever the node says; a config-level
    ``revalidate_instances`` therefore stops at the first pydantic class. A ``generic_origin``
    turns that reuse off for dataclasses; a model node is replaced by a wrapper that validates
    the instance's fields with a copy of the model's field schema.

    ``has_models``: the wrappers need the per-call context. ``may_rewrite``: a strict pass may
    return something unequal to its input, so the result must be compared with it.
    """

    def __init__(self, schema: Any) -> None:
        self.has_models = False
        self.may_rewrite = False
        self._instance_checks: dict[int, _ModelFields] = {}
        self.schema = self._walk(schema)

    def fast_path(self) -> _FastPath | None:
        """The shortcut for an exact instance of the payload type's own class, if it has one."""
        node = self.schema
        definitions: list[Any] = []
        if isinstance(node, dict) and node.get("type") == "definitions":
            definitions = node["definitions"]
            node = node["schema"]
        if isinstance(node, dict) and node.get("type") == "definition-ref":
            ref = node["schema_ref"]
            node = next((found for found in definitions if found.get("ref") == ref), None)
        if not isinstance(node, dict):
            return None
        if node.get("type") == "dataclass" and not self.may_rewrite:
            return _DataclassFields.of(node, definitions, self.has_models)
        return self._instance_checks.get(id(node))

    def _walk(self, schema: Any) -> Any:
        definitions: list[Any] = []
        memo: dict[int, Any] = {}
        wrapped: dict[int, str] = {}

        def walk(node: Any) -> Any:
            if isinstance(node, list):
                return [walk(item) for item in node]
            if isinstance(node, tuple):  # a union choice with its tag
                return tuple(walk(item) for item in node)
            if not isinstance(node, dict):
                return node
            done = memo.get(id(node))
            if done is not None:
                return done
            copy: dict[str, Any] = {}
            memo[id(node)] = copy
            for key, value in node.items():
                copy[key] = value if key in _OPAQUE_KEYS else walk(value)
            kind = copy.get("type")
            if kind in _REWRITING_KINDS or _REWRITING_OPTIONS.intersection(
                {key for key, value in copy.items() if value is True}
                | {key for key, value in (copy.get("config") or {}).items() if value is True}
            ):
                self.may_rewrite = True
            if kind == "dataclass":
                copy["revalidate_instances"] = "always"
                copy.setdefault("generic_origin", copy["cls"])
                self.may_rewrite = self.may_rewrite or bool(copy.get("post_init"))
            elif kind == "model":
                wrapper, check = _model_wrapper(copy, definitions)
                memo[id(node)] = wrapper
                wrapped[id(wrapper)] = copy["cls"].__name__
                if check is not None:
                    self._instance_checks[id(wrapper)] = check
                self.has_models = True
                return wrapper
            elif kind == "named-tuple":
                # A tuple validated into a NamedTuple compares equal to it: mark the change.
                memo[id(node)] = wrapper = _retyping_wrapper(copy)
                wrapped[id(wrapper)] = copy["cls"].__name__
                self.has_models = True
                return wrapper
            elif kind == "union":
                # Errors of a union name its members: keep the model's name, not the wrapper's.
                copy["choices"] = [
                    (choice, wrapped[id(choice)]) if id(choice) in wrapped else choice
                    for choice in copy["choices"]
                ]
            return copy

        walked = walk(schema)
        if isinstance(walked, dict) and walked.get("type") == "definitions":
            definitions.extend(walked["definitions"])
        return walked


def _model_wrapper(node: dict[str, Any], definitions: list[Any]) -> tuple[Any, _ModelFields | None]:
    """A model node as a wrapper that validates instances and dicts with the model's fields,
    and (but for a root model) the fast path for an exact instance, which skips the wrapper."""
    cls = node["cls"]
    model = _ModelFields(node, definitions)

    def revalidate(value: Any, handler: Any, info: Any) -> Any:
        context = info.context
        # Only a strict pass forces strictness; otherwise the model's own config decides.
        strict = True if isinstance(context, _Pass) and context.strict else None
        if node.get("root_model"):
            # The field schema is the root's: an instance's root, or any other input, is
            # validated with it (the class's own validator would pass an instance as it is).
            own = isinstance(value, cls)
            if strict and not own:
                # As pydantic's exactness ranks it: in a union, another class's instance must
                # not pass as this one's root; the lax pass takes other inputs.
                raise PydanticCustomError(
                    "model_type", "Input should be an instance of {cls}", {"cls": cls.__name__}
                )
            root = model.validator().validate_python(
                value.root if own else value, strict=strict, context=context
            )
            if own and strict and type(value) is cls and _same(root, value.root):
                return value
            if isinstance(context, _Pass):
                context.changed = True
            return cls.model_construct(root)
        if isinstance(value, cls):
            return model.revalidate_instance(value, strict, context)
        if isinstance(value, dict) and not node.get("custom_init"):  # else __init__ must run
            fields, new_extra, fields_set = model.validator().validate_python(
                value, strict=strict, context=context
            )
            result = cls.model_construct(fields_set, **fields, **(new_extra or {}))
        else:
            result = handler(value)
        if isinstance(context, _Pass):
            # A dict (or other input) became a new instance. Only on success: a union tries
            # its members in turn, and a member that fails changes nothing.
            context.changed = True
        return result

    inner: Any = {key: value for key, value in node.items() if key != "ref"}
    wrapper: dict[str, Any] = dict(core_schema.with_info_wrap_validator_function(revalidate, inner))
    if "ref" in node:
        wrapper["ref"] = node["ref"]
    return wrapper, None if node.get("root_model") else model


class _FastPath:
    """A strict pass over an exact instance of the payload type's class, without the copy.

    ``unchanged(message)`` is true when the full strict pass would deliver ``message`` itself;
    false sends the message down the full path, which then decides and words any error. So a
    false answer is always safe: it is given for every failure, whatever raised it.
    """

    __slots__ = ("cls",)

    def __init__(self, cls: type) -> None:
        self.cls = cls

    def unchanged(self, message: Any) -> bool:
        raise NotImplementedError


class _ModelFields(_FastPath):
    """A model's field validator: the wrapper's revalidation of instances, and its fast path."""

    __slots__ = ("definitions", "fields", "node")

    def __init__(self, node: dict[str, Any], definitions: list[Any]) -> None:
        super().__init__(node["cls"])
        self.node = node
        self.definitions = definitions
        self.fields: SchemaValidator | None = None

    def validator(self) -> SchemaValidator:
        # Built on first use: the definitions it refers to are complete only after the walk.
        if self.fields is None:
            schema = self.node["schema"]
            if self.definitions:
                schema = {"type": "definitions", "schema": schema, "definitions": self.definitions}
            self.fields = SchemaValidator(cast(Any, schema), self.node.get("config"))
        return self.fields

    def revalidate_instance(self, value: Any, strict: bool | None, context: object) -> Any:
        """``value``, an instance of the class, if unchanged; otherwise a validated copy."""
        cls: Any = self.cls  # a pydantic model
        data = value.__dict__
        extra = value.__pydantic_extra__
        if extra:
            data = {**data, **extra}
        fields, new_extra, _ = self.validator().validate_python(
            data, strict=strict, context=context, by_alias=False, by_name=True
        )
        # Equal after a strict pass means unchanged (a lax pass may coerce to equal values:
        # Decimal("1.5") == 1.5); keep the instance then, a subclass's too (its own fields
        # are not this class's to check).
        own = value.__dict__
        if (
            strict
            and issubclass(type(value), cls)
            and (
                fields == own
                if type(value) is cls
                else fields == {k: own[k] for k in fields.keys() & own.keys()}
            )
            and (new_extra or None) == (extra or None)
        ):
            return value
        if isinstance(context, _Pass):
            context.changed = True
        return cls.model_construct(value.model_fields_set, **fields, **(new_extra or {}))

    def unchanged(self, message: Any) -> bool:
        # revalidate_instance's strict pass over an exact instance, written out: this is the
        # whole cost of a valid model payload beyond pydantic-core's own work.
        fields = self.fields
        if fields is None:
            fields = self.validator()
        data = message.__dict__
        extra = message.__pydantic_extra__
        if extra:
            data = {**data, **extra}
        try:
            valid, new_extra, _ = fields.validate_python(
                data, strict=True, context=_STRICT_UNREAD, by_alias=False, by_name=True
            )
            return bool(valid == message.__dict__ and (new_extra or None) == (extra or None))
        except Exception:
            return False


# The context of a strict pass whose ``changed`` is never read: the model fast path needs only
# whether the instance itself came back (a shared object: building one costs a Python call).
_STRICT_UNREAD = _Pass(True)


class _DataclassFields(_FastPath):
    """A dataclass instance's fields validated strictly, without the instance pydantic builds.

    pydantic revalidates an instance by reading each field with ``getattr`` into a dict,
    validating that dict with the class's field schema and building a new instance from it,
    which a valid payload then throws away. This reads the same fields the same way into a dict
    and validates it with the same schema, config, strictness and context: the same verdict,
    without the new instance (``__post_init__``, which could change it, takes the full path).
    """

    __slots__ = ("context", "fields", "read")

    def __init__(
        self, cls: type, fields: SchemaValidator, read: Callable[[Any], Any], context: bool
    ) -> None:
        super().__init__(cls)
        self.fields = fields
        self.read = read
        self.context = context

    @classmethod
    def of(
        cls, node: dict[str, Any], definitions: list[Any], context: bool
    ) -> _DataclassFields | None:
        """The fast path of a dataclass node (None if its field names are not identifiers)."""
        names = node.get("fields")
        if not isinstance(names, list) or not all(
            isinstance(name, str) and name.isidentifier() and not keyword.iskeyword(name)
            for name in names
        ):
            return None
        # Generated, as dataclasses generates __init__: a dict display of attribute reads costs
        # about half of a comprehension over getattr (0.27 against 0.47 us for three fields).
        source = "lambda m: {" + ", ".join(f"{name!r}: m.{name}" for name in names) + "}"
        read = eval(source, {"__builtins__": {}})
        schema: Any = node["schema"]
        if definitions:
            schema = {"type": "definitions", "schema": schema, "definitions": definitions}
        return cls(node["cls"], SchemaValidator(schema, node.get("config")), read, context)

    def unchanged(self, message: Any) -> bool:
        context = _Pass(True) if self.context else None
        try:
            self.fields.validate_python(self.read(message), strict=True, context=context)
        except Exception:
            return False
        # A nested model or named tuple that changed makes the full path build the copy.
        return context is None or not context.changed


def _retyping_wrapper(node: dict[str, Any]) -> Any:
    """A node as a wrapper that marks the pass changed when the output's type is not the input's."""

    def check(value: Any, handler: Any, info: Any) -> Any:
        result = handler(value)
        if type(result) is not type(value) and isinstance(info.context, _Pass):
            info.context.changed = True
        return result

    inner: Any = {key: value for key, value in node.items() if key != "ref"}
    wrapper: dict[str, Any] = dict(core_schema.with_info_wrap_validator_function(check, inner))
    if "ref" in node:
        wrapper["ref"] = node["ref"]
    return wrapper


_validators: weakref.WeakValueDictionary[tuple[object, bool], Validator[Any]] = (
    weakref.WeakValueDictionary()
)
_validators_lock = threading.Lock()


def validator_for(payload_type: object, trust_instances: bool) -> Validator[Any]:
    """The shared validator of ``payload_type``, built on first use.

    Validators are cached weakly: one lives as long as a topic uses it, so short-lived payload
    types (and their validators) are freed with their last topic. Unhashable types are not cached.
    """
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


_MAX_LISTED_ERRORS = 10
_MAX_SHOWN = 80
_reprs = reprlib.Repr()
_reprs.maxstring = _reprs.maxother = _MAX_SHOWN
_reprs.maxlevel = 4


def _short(value: object) -> str:
    """A repr of ``value`` of at most about 80 characters, whatever its size or depth."""
    try:
        text = _reprs.repr(value)
    except Exception:  # RecursionError or a failing __repr__
        text = f"<{type(value).__name__} object>"
    return _clip(text)


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _where(loc: Sequence[int | str]) -> str:
    """A path such as ``trades.0.price``; a very deep one keeps its two ends."""
    if not loc:
        return "(payload)"
    if len(loc) > 12:
        return f"{_where(loc[:4])}...({len(loc) - 8} more)...{_where(loc[-4:])}"
    return _clip(".".join(_part(part) for part in loc))


def _part(part: int | str) -> str:
    # An empty key, or one with a dot, would make the path ambiguous: quote it.
    return repr(part) if part == "" or "." in str(part) else str(part)


def format_validation_error(
    key: Sequence[str],
    topic: Topic[Any],
    error: PydanticValidationError,
    payload_type: Any = None,
    what: str = "payload",
) -> PayloadValidationError:
    """A :class:`PayloadValidationError` naming the full key and the failing fields.

    The message lists the first 10 errors, each input shortened; ``errors`` keeps them all.
    ``payload_type`` (default: the topic's) and ``what`` serve a request's reply.
    """
    try:
        errors = error.errors(include_url=False)
    except RecursionError:  # pragma: no cover - pydantic keeps inputs by reference
        errors = []
    problems = []
    for item in errors[:_MAX_LISTED_ERRORS]:
        where = _where(item["loc"])
        got = "" if item["type"] in _NO_INPUT else f" (got {_short(item['input'])})"
        problems.append(f"{where}: {item['msg']}{got}")
    count = len(errors)
    if count > _MAX_LISTED_ERRORS:
        problems.append(f"... and {count - _MAX_LISTED_ERRORS} more")
    where_from = []
    if topic.name:
        where_from.append(f"topic {topic.name!r}")
    if tuple(topic) != tuple(key):
        where_from.append(f"subscribed as {tuple(topic)!r}")
    origin = f" ({', '.join(where_from)})" if where_from else ""
    message = (
        f"{what} on key {tuple(key)!r} does not validate as "
        f"{type_name(topic.payload_type if payload_type is None else payload_type)}"
        f"{origin}, {count} error{'s' if count != 1 else ''}: " + "; ".join(problems)
    )
    return PayloadValidationError(message, tuple(key), topic, errors)


_NO_INPUT = frozenset({"too_deep", "validator_error"})


def convert_for_listener(
    topic: Topic[T], key: Sequence[str], message: object, source: Validator[Any] | None
) -> T:
    """``message`` as a valid payload of ``topic``, for a listener subscribed through it.

    ``source`` is the validator of the topic it was published through, if any: a payload of
    another type that does not validate as is gets a second chance as its dump. Raises
    :class:`PayloadValidationError` and nothing else.
    """
    validator = topic._validator
    try:
        return validator.validate(message)
    except PydanticValidationError as exc:
        if source is not None:
            try:
                return validator.validate(source.adapter.dump_python(message, warnings=False))
            except Exception:  # the dump or its validation failed: report the first error
                pass
        raise format_validation_error(key, topic, exc) from exc


def convert_or_error(
    topic: Topic[Any],
    key: Sequence[str],
    message: object,
    source: Validator[Any] | None,
    listener: str,
) -> tuple[bool, Any]:
    """``(True, payload)`` for ``listener``, subscribed through ``topic``, or ``(False, error)``.

    The error of an untyped publish (``source`` None) is logged here, naming the listener that
    does not get the message; the publisher hears of it as an exception.
    """
    try:
        return True, convert_for_listener(topic, key, message, source)
    except PayloadValidationError as error:
        if source is None:
            logging.getLogger("typedpubsub").error("not delivered to %s: %s", listener, error)
        return False, error


class Topic(Key[T]):
    """A key bound to a payload type: ``Topic(('*', 'trade', '*'), Trade)`` is a ``Topic[Trade]``.

    A topic is a :class:`Key` (equal and hash-equal to the plain tuple), so it works wherever a key
    does. Publishing through a topic validates the payload with pydantic before any delivery, and a
    listener subscribed through a topic only ever receives valid payloads.

    ``name``, ``description`` and ``parameters`` (one name per ``'*'``) are metadata for schema
    export. ``trust_instances=True`` accepts dataclass and model instances in the payload on an
    isinstance check, as pydantic does, without revalidating their fields (faster, but a stdlib
    dataclass constructor checks nothing). ``retain=True`` makes the hub keep the last payload
    published through the topic per concrete key, for :meth:`Hub.last` and for listeners that
    subscribe later through a retained topic (kept by ``fill``, prefixes and suffixes).
    """

    payload_type: TypeForm[T]
    name: str | None
    description: str | None
    parameters: tuple[str | None, ...]
    retain: bool
    _validator: Validator[T]

    def __new__(
        cls,
        key: PossibleKey,
        payload_type: TypeForm[T],
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        parameters: Sequence[str] | None = None,
        trust_instances: bool = False,
        retain: bool = False,
    ) -> Topic[T]:
        parts = Key.create_from(key)
        if not parts:
            raise InvalidKeyError(f"key must have at least one part, got {tuple(parts)!r}", parts)
        if "" in parts:
            raise InvalidKeyError(f"key parts must not be empty, got {tuple(parts)!r}", parts)
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be str or None, got {describe(name)}")
        if description is not None and not isinstance(description, str):
            raise TypeError(f"description must be str or None, got {describe(description)}")
        if not isinstance(trust_instances, bool):
            raise TypeError(f"trust_instances must be bool, got {describe(trust_instances)}")
        if not isinstance(retain, bool):
            raise TypeError(f"retain must be bool, got {describe(retain)}")
        wildcards = parts.count(WILDCARD)
        if parameters is None:
            names: tuple[str | None, ...] = (None,) * wildcards
        else:
            if isinstance(parameters, str) or not all(isinstance(p, str) for p in parameters):
                raise TypeError(f"parameters must be a sequence of str, got {describe(parameters)}")
            names = tuple(parameters)
            if len(names) != wildcards:
                raise ValueError(
                    f"parameters must name each of the {wildcards} wildcards of "
                    f"{tuple(parts)!r}, got {names!r}"
                )
            if len(set(names)) != len(names):
                raise ValueError(f"parameters must be distinct, got {names!r}")
        validator: Validator[T] = validator_for(payload_type, trust_instances)
        return cls._make(parts, validator, name, description, names, retain)

    @classmethod
    def _make(
        cls,
        parts: Iterable[str],
        validator: Validator[T],
        name: str | None,
        description: str | None,
        parameters: tuple[str | None, ...],
        retain: bool = False,
    ) -> Topic[T]:
        self = tuple.__new__(cls, parts)
        self._validator = validator
        self.payload_type = validator.payload_type
        self.name = name
        self.description = description
        self.parameters = parameters
        self.retain = retain
        return self

    @property
    def trust_instances(self) -> bool:
        """Whether dataclass and model instances are accepted without revalidation."""
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
            # An unnamed wildcard is part<N> (N its position), as in the schema export.
            names = [p or f"part{i}" for i, p in zip(wildcards, self.parameters, strict=True)]
            unknown = sorted(set(named) - set(names))
            if unknown:
                raise TypeError(
                    f"fill got unknown parameter names {unknown}, topic has {tuple(names)!r}"
                )
            values = tuple(named.get(p, WILDCARD) for p in names)
        elif len(values) != len(wildcards):
            raise TypeError(
                f"fill takes one value per wildcard of {tuple(self)!r} "
                f"({len(wildcards)}), got {len(values)}"
            )
        parts = list(self)
        kept: list[str | None] = []
        for index, value, param in zip(wildcards, values, self.parameters, strict=True):
            if not isinstance(value, str):
                raise TypeError(f"fill value must be str, got {describe(value)}")
            if value == WILDCARD:
                kept.append(param)
            elif not value:
                raise ValueError(f"fill value must not be empty for wildcard at position {index}")
            parts[index] = value
        return self._make(
            parts, self._validator, self.name, self.description, tuple(kept), self.retain
        )

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
            parts,
            self._validator,
            self.name,
            self.description,
            before + self.parameters + after,
            self.retain,
        )

    def __add__(self, other: Iterable[str], /) -> Topic[T]:  # type: ignore[override]  # pyright: ignore[reportIncompatibleMethodOverride]  # keeps the payload type
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
            self.retain,
        )

    def __repr__(self) -> str:
        extra = f", name={self.name!r}" if self.name else ""
        if self.retain:
            extra += ", retain=True"
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
    retain: bool = False,
) -> Topic[Any]:
    validator: Validator[Any] = validator_for(payload_type, trust_instances)
    return Topic._make(parts, validator, name, description, parameters, retain)


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
