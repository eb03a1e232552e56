"""The compatibility gate: is a new version of a topic contract safe against an old one?

Both versions are AsyncAPI documents or JSON Schema bundles written by :mod:`typedpubsub.schema`
(or topic collections, exported first). Changes are classified by what pydantic will do with the
JSON one side writes when the other side reads it:

- backward: consumers with NEW read what producers with OLD wrote;
- forward: consumers with OLD read what producers with NEW write;
- full: both; the ``-transitive`` modes check against every OLD version, not just one.

A change that breaks backward reading narrows what is accepted (``narrowing``), one that breaks
forward reading widens what is written (``widening``), one that breaks both is ``incompatible``.
Producers are taken to write what their type dumps: the fields it declares, and undeclared ones
only when the model allows extras (``additionalProperties: true``). Readers apply pydantic's lax
JSON rules: undeclared fields are ignored unless the model forbids them (``additionalProperties:
false``), an integer is accepted where a number is read, a boolean where a number is read, a
float with no fraction where an integer is read, a decimal string where a float is read, a number
(a Unix timestamp) where a datetime is read.

What the gate cannot prove harmless, it calls breaking: a changed regex pattern or string format,
a union option that only several new options cover together. A breaking change comes with a
counterexample when one of the writer's boundary values shows it (checked against both schemas).
"""

from __future__ import annotations

import datetime
import itertools
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

from ._describe import describe
from ._key import WILDCARD, is_subset
from ._topic import Topic

__all__ = [
    "Change",
    "Classification",
    "CompatibilityMode",
    "CompatibilityReport",
    "Counterexample",
    "Direction",
    "Mode",
    "check_mode",
    "compare",
    "compare_documents",
    "compatibility",
]

Mode = Literal[
    "backward",
    "forward",
    "full",
    "backward-transitive",
    "forward-transitive",
    "full-transitive",
]
CompatibilityMode = Mode
MODES: tuple[str, ...] = get_args(Mode)
Direction = Literal["backward", "forward"]
Classification = Literal["compatible", "narrowing", "widening", "incompatible"]

_BREAKS: dict[Direction, frozenset[str]] = {
    "backward": frozenset({"narrowing", "incompatible"}),
    "forward": frozenset({"widening", "incompatible"}),
}
_EXPLAINED: dict[str, str] = {
    "narrowing": "NEW consumers refuse some of what OLD producers write",
    "widening": "OLD consumers refuse some of what NEW producers write",
    "incompatible": "each side refuses some of what the other writes",
}
# Keywords that only describe: they never change what pydantic accepts.
_ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "default",
        "examples",
        "deprecated",
        "readOnly",
        "writeOnly",
        "$comment",
    }
)
_BOOL_STRINGS = frozenset({"0", "off", "f", "false", "n", "no", "1", "on", "t", "true", "y", "yes"})
_NO_EXAMPLE = object()
_EARLIEST_STAMP, _LATEST_STAMP = -62_135_596_800_000, 253_402_300_799_999


@dataclass(frozen=True)
class Counterexample:
    """A message one side writes and the other refuses.

    ``direction`` is ``"backward"`` when OLD's schema allows it and NEW's type refuses it,
    ``"forward"`` for the reverse. ``payload`` is the JSON document, or ``key`` the concrete key
    (for a changed key pattern).
    """

    direction: Direction
    payload: Any = None
    key: tuple[str, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        """The counterexample as JSON-ready data."""
        if self.key is not None:
            return {"direction": self.direction, "key": list(self.key)}
        return {"direction": self.direction, "payload": self.payload}


@dataclass(frozen=True)
class Change:
    """One difference between OLD and NEW, where it is, and what it breaks."""

    topic: str
    pointer: str
    classification: Classification
    reason: str
    counterexamples: tuple[Counterexample, ...] = ()
    against: str = "old"

    def breaks(self, direction: Direction) -> bool:
        """Whether the change breaks reading in ``direction``."""
        return self.classification in _BREAKS[direction]

    def to_json(self) -> dict[str, Any]:
        """The change as JSON-ready data."""
        return {
            "against": self.against,
            "topic": self.topic,
            "pointer": self.pointer,
            "classification": self.classification,
            "reason": self.reason,
            "counterexamples": [c.to_json() for c in self.counterexamples],
        }


@dataclass(frozen=True)
class CompatibilityReport:
    """Every change between the OLD versions and NEW, and the verdict for ``mode``."""

    mode: Mode
    changes: tuple[Change, ...] = field(default=())

    @property
    def directions(self) -> tuple[Direction, ...]:
        """The directions ``mode`` checks."""
        base = self.mode.removesuffix("-transitive")
        return ("backward", "forward") if base == "full" else (cast(Direction, base),)

    @property
    def breaking(self) -> tuple[Change, ...]:
        """The changes that break a direction ``mode`` checks."""
        return tuple(c for c in self.changes if any(c.breaks(d) for d in self.directions))

    @property
    def compatible(self) -> bool:
        """Whether NEW is compatible with OLD under ``mode``."""
        return not self.breaking

    def __bool__(self) -> bool:
        return self.compatible

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "mode": self.mode,
            "compatible": self.compatible,
            "breaking": len(self.breaking),
            "changes": [c.to_json() for c in self.changes],
        }

    def text(self) -> str:
        """A readable report: the verdict, then each topic's changes with counterexamples."""
        verdict = "compatible" if self.compatible else "NOT compatible"
        lines = [
            f"{self.mode}: {verdict} ({len(self.breaking)} breaking of {len(self.changes)} changes)"
        ]
        heading = None
        for change in self.changes:
            title = f"topic {change.topic}"
            if change.against != "old":
                title += f" (against {change.against})"
            if title != heading:
                lines.append(title)
                heading = title
            lines.append(f"  {change.classification:<12} {change.pointer}")
            if change.classification == "compatible":
                lines.append(f"    {change.reason}")
            else:
                lines.append(f"    {change.reason}: {_EXPLAINED[change.classification]}")
            for example in change.counterexamples:
                side = (
                    "OLD writes, NEW refuses"
                    if example.direction == "backward"
                    else ("NEW writes, OLD refuses")
                )
                shown = list(example.key) if example.key is not None else example.payload
                what = "key" if example.key is not None else "payload"
                lines.append(f"    counterexample {what} ({side}): {_dumps(shown)}")
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.text()


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


# --- documents --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Contract:
    """One topic of a document: where it is, its key, parameters, payload and root."""

    pointer: str
    key: tuple[str, ...]
    parameters: tuple[str, ...]
    payload_type: str
    payload_pointer: str
    root: Mapping[str, Any]


def _contracts(document: Mapping[str, Any]) -> dict[str, _Contract]:
    """The topics of an AsyncAPI document or a JSON Schema bundle, by channel identifier."""
    from .schema._asyncapi import component_id as _component_id

    result: dict[str, _Contract] = {}
    if "asyncapi" in document:
        for ident, channel in dict(document.get("channels") or {}).items():
            address = str(channel.get("address") or "")
            messages = list(dict(channel.get("messages") or {}).items())
            if not messages:
                continue
            message = _resolve(messages[0][1], document)
            pointer = "#/components/messages/" + _escape(messages[0][0]) + "/payload"
            if "$ref" in messages[0][1]:
                pointer = str(messages[0][1]["$ref"]) + "/payload"
            result[str(ident)] = _Contract(
                pointer=f"#/channels/{_escape(str(ident))}",
                key=_key_of(address),
                parameters=tuple(re.findall(r"\{([^}]*)\}", address)),
                payload_type=str(message.get("title", "")),
                payload_pointer=pointer,
                root=document,
            )
    elif isinstance(document.get("topics"), Mapping):
        for name, entry in dict(document["topics"]).items():
            address = str(entry.get("address", ""))
            ident = _component_id(str(name))
            pointer = f"#/topics/{_escape(str(name))}"
            result[ident] = _Contract(
                pointer=pointer,
                key=tuple(entry.get("key") or _key_of(address)),
                parameters=tuple(re.findall(r"\{([^}]*)\}", address)),
                payload_type=str(entry.get("payloadType", "")),
                payload_pointer=pointer + "/payload",
                root=document,
            )
    else:
        raise ValueError(
            "document must be an AsyncAPI document or a JSON Schema bundle written by "
            f"typedpubsub, got one with keys {sorted(document)[:5]}"
        )
    return result


def _key_of(address: str) -> tuple[str, ...]:
    return tuple(WILDCARD if re.fullmatch(r"\{[^}]*\}", p) else p for p in address.split("."))


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _deref(schema: Any, root: Mapping[str, Any]) -> tuple[Any, str]:
    """The schema a ``$ref`` chain ends at, and the last ``$ref`` followed ("" if none)."""
    last = ""
    for _ in range(64):
        if not (isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str)):
            return schema, last
        last = str(schema["$ref"])
        node: Any = root
        for token in last.removeprefix("#/").split("/") if last != "#" else []:
            node = node[token.replace("~1", "/").replace("~0", "~")]
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**node, **rest} if rest else node
    raise ValueError(f"$ref chain too long at {last!r}")


def _resolve(schema: Any, root: Mapping[str, Any]) -> Any:
    return _deref(schema, root)[0]


# --- what a reader accepts, what a writer may write --------------------------------------------


def _accepts(
    schema: Any, value: Any, root: Mapping[str, Any], *, lax: bool, depth: int = 0
) -> bool:
    """Whether ``value`` is valid against ``schema``: strictly (JSON Schema, for a writer) or
    as pydantic's lax JSON validation reads it (for a reader)."""
    if depth > 50:
        return True
    schema = _resolve(schema, root)
    if schema is True or schema == {}:
        return True
    if schema is False or not isinstance(schema, Mapping):
        return False
    if isinstance(value, bool) and lax and _is_decimal_union(schema):
        return False  # unlike int and float, Decimal refuses booleans
    for combinator in ("anyOf", "oneOf"):
        if combinator in schema:
            return any(
                _accepts(option, value, root, lax=lax, depth=depth + 1)
                for option in schema[combinator]
            )
    if "allOf" in schema:
        return all(_accepts(s, value, root, lax=lax, depth=depth + 1) for s in schema["allOf"])
    if "const" in schema:
        return _same(value, schema["const"], lax)
    if "enum" in schema:
        return any(_same(value, option, lax) for option in schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return any(
            _accepts({**schema, "type": k}, value, root, lax=lax, depth=depth + 1) for k in kind
        )
    if kind is None:
        return True
    if kind == "null":
        return value is None
    if kind == "boolean":
        if isinstance(value, bool):
            return True
        if not lax:
            return False
        if isinstance(value, int | float):
            return value in (0, 1)
        return isinstance(value, str) and value.strip().lower() in _BOOL_STRINGS
    if kind in ("integer", "number"):
        number = _number(value, integer=kind == "integer", lax=lax)
        return number is not None and _in_bounds(number, schema)
    if kind == "string":
        stamp = None if isinstance(value, bool) else _number(value, integer=False, lax=lax)
        if lax and stamp is not None and schema.get("format") == "date-time":
            # pydantic reads a number (or numeric string) as Unix seconds, or ms, up to year 9999
            return _EARLIEST_STAMP <= stamp <= _LATEST_STAMP
        return isinstance(value, str) and _string_ok(value, schema)
    if kind == "array":
        if not isinstance(value, list):
            return False
        if not schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", math.inf):
            return False
        prefix = list(schema.get("prefixItems", []))
        for index, item in enumerate(value):
            sub = prefix[index] if index < len(prefix) else schema.get("items", {})
            if not _accepts(sub, item, root, lax=lax, depth=depth + 1):
                return False
        return True
    if kind == "object":
        if not isinstance(value, dict):
            return False
        properties: Mapping[str, Any] = schema.get("properties", {})
        if any(name not in value for name in schema.get("required", [])):
            return False
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            sub = properties.get(name, extra)
            if name not in properties and lax and "additionalProperties" not in schema:
                continue
            if not _accepts(sub, item, root, lax=lax, depth=depth + 1):
                return False
        return True
    return False


def _same(value: Any, option: Any, lax: bool) -> bool:
    if isinstance(option, str) or isinstance(value, str):
        return type(value) is type(option) and value == option
    if not lax and (isinstance(value, bool) != isinstance(option, bool)):
        return False
    return bool(value == option)


def _number(value: Any, *, integer: bool, lax: bool) -> float | int | None:
    if isinstance(value, bool):
        return int(value) if lax else None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if integer and not value.is_integer():
            return None
        return value
    if lax and isinstance(value, str):
        try:
            parsed = float(value.strip())
        except ValueError:
            return None
        if integer:
            if not parsed.is_integer() or "e" in value.lower():
                return None
            return int(parsed)
        return parsed
    return None


def _bounds(schema: Mapping[str, Any]) -> tuple[float, bool, float, bool]:
    """(low, low inclusive, high, high inclusive) of a numeric schema."""
    if schema.get("type") == "boolean":
        return 0, True, 1, True  # as a number, lax mode reads a boolean as 0 or 1
    low, low_in = float("-inf"), True
    high, high_in = float("inf"), True
    if "minimum" in schema:
        low, low_in = schema["minimum"], True
    if "exclusiveMinimum" in schema and schema["exclusiveMinimum"] >= low:
        low, low_in = schema["exclusiveMinimum"], False
    if "maximum" in schema:
        high, high_in = schema["maximum"], True
    if "exclusiveMaximum" in schema and schema["exclusiveMaximum"] <= high:
        high, high_in = schema["exclusiveMaximum"], False
    if schema.get("type") == "integer":
        if math.isfinite(low) and (not low_in or not float(low).is_integer()):
            low, low_in = math.floor(low) + 1, True
        if math.isfinite(high) and (not high_in or not float(high).is_integer()):
            high, high_in = math.ceil(high) - 1, True
    return low, low_in, high, high_in


def _in_bounds(number: float, schema: Mapping[str, Any]) -> bool:
    low, low_in, high, high_in = _bounds(schema)
    if number < low or (number == low and not low_in):
        return False
    if number > high or (number == high and not high_in):
        return False
    step = schema.get("multipleOf")
    return step is None or _multiple(number, step)


def _multiple(number: float, step: float) -> bool:
    quotient = number / step
    return math.isfinite(quotient) and abs(quotient - round(quotient)) < 1e-9


def _string_ok(value: str, schema: Mapping[str, Any]) -> bool:
    if not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", math.inf):
        return False
    if "pattern" in schema and re.search(schema["pattern"], value) is None:
        return False
    fmt = schema.get("format")
    if fmt == "date-time":
        try:
            datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return False
    return True


def _candidates(schema: Any, root: Mapping[str, Any], depth: int = 0) -> Iterator[Any]:
    """Values a writer may write under ``schema``, boundary values first (not all are valid:
    the caller filters them)."""
    schema = _resolve(schema, root)
    if depth > 8 or not isinstance(schema, Mapping):
        yield None
        return
    for combinator in ("anyOf", "oneOf"):
        for option in schema.get(combinator, []):
            yield from _candidates(option, root, depth + 1)
    if "const" in schema:
        yield schema["const"]
    yield from schema.get("enum", [])
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    for kind in kinds:
        if kind == "null":
            yield None
        elif kind == "boolean":
            yield from (True, False)
        elif kind in ("integer", "number"):
            yield from _numbers(schema, integer=kind == "integer")
        elif kind == "string":
            yield from _strings(schema)
        elif kind == "array":
            item = _example(schema.get("items", {}), root, depth + 1)
            size = max(schema.get("minItems", 0), 1)
            for length in (schema.get("minItems", 0), size, schema.get("maxItems", size) + 1):
                if isinstance(length, int) and 0 <= length <= 10_000:
                    yield [item] * length
        elif kind == "object":
            yield _minimal_object(schema, root, depth + 1)
    if not kinds or kinds == [None]:
        yield from ("x", 0, 0.5, None, True, [], {})


def _numbers(schema: Mapping[str, Any], *, integer: bool) -> Iterator[float]:
    low, _, high, _ = _bounds(schema)
    step = schema.get("multipleOf")
    values: list[float] = [0, 1, -1, 2, 0.5, 1.5, -0.5, 3, 10, 1000, -1000, 0.25, 0.1, 1e20, -1e20]
    for bound in (low, high):
        if math.isfinite(bound):
            values += [bound, bound - 1, bound + 1, bound - 0.5, bound + 0.5]
    if math.isfinite(low) and math.isfinite(high):
        values.append((low + high) / 2)
    if step:
        values += [step, step * 2, step / 2, -step]
    for value in values:
        if integer:
            if float(value).is_integer():
                yield int(value)
        else:
            yield value


def _strings(schema: Mapping[str, Any]) -> Iterator[str]:
    if schema.get("format") == "date-time":
        yield "2026-01-01T00:00:00Z"
    values = ["x", "", "1", "1.5", "true", "abc", "2026-01-01T00:00:00Z", "A", "-1", "0"]
    values += ["0.5", "1000", "-1000", "1e300", "-1e300"]  # decimal strings, read as numbers
    low = schema.get("minLength", 0)
    high = schema.get("maxLength")
    # long ones too, for a reader's maxLength (the writer's own bounds filter them)
    for length in (low, low + 1, high, (high or 0) + 1, max(low - 1, 0), 12, 300):
        if isinstance(length, int) and 0 <= length <= 10_000:
            values += ["x" * length, "1" * length]
    yield from values


def _example(schema: Any, root: Mapping[str, Any], depth: int = 0) -> Any:
    """A value valid against ``schema`` (strictly), or None when none is found."""
    for value in _candidates(schema, root, depth):
        if _accepts(schema, value, root, lax=False):
            return value
    return None


def _minimal_object(schema: Mapping[str, Any], root: Mapping[str, Any], depth: int = 0) -> Any:
    properties: Mapping[str, Any] = schema.get("properties", {})
    return {
        name: _example(properties.get(name, {}), root, depth + 1)
        for name in schema.get("required", [])
        if isinstance(name, str)
    }


# --- comparing two schemas ------------------------------------------------------------------


@dataclass(frozen=True)
class _Finding:
    pointer: str
    reason: str
    broken: bool
    example: Any = _NO_EXAMPLE


@dataclass
class _Pair:
    """One direction of a comparison: what the writer writes, what the reader accepts."""

    writer_root: Mapping[str, Any]
    reader_root: Mapping[str, Any]
    old_is_writer: bool
    active: set[tuple[str, str]] = field(default_factory=set)

    def old_new(self, writer: Any, reader: Any) -> tuple[Any, Any]:
        return (writer, reader) if self.old_is_writer else (reader, writer)

    def counterexample(self, writer: Any, reader: Any) -> Any:
        """A value the writer may write and the reader refuses, found among the writer's
        boundary values, or ``_NO_EXAMPLE``."""
        for value in _candidates(writer, self.writer_root):
            if _accepts(writer, value, self.writer_root, lax=False) and not _accepts(
                reader, value, self.reader_root, lax=True
            ):
                return value
        return _NO_EXAMPLE

    def fits(self, writer: Any, reader: Any, pointer: str) -> list[_Finding]:
        """What the writer may write that the reader refuses (and the harmless differences),
        at ``pointer`` in NEW's document."""
        writer, w_ref = _deref(writer, self.writer_root)
        reader, r_ref = _deref(reader, self.reader_root)
        new_ref = r_ref if self.old_is_writer else w_ref
        pointer = new_ref or pointer
        visit = (w_ref, r_ref)
        if w_ref and r_ref:
            if visit in self.active:
                return []  # a recursive type: assume what is being proved further up
            self.active.add(visit)
        try:
            return self._fits(writer, reader, pointer)
        finally:
            self.active.discard(visit)

    def _fits(self, writer: Any, reader: Any, pointer: str) -> list[_Finding]:
        if reader is False:
            return [_Finding(pointer, "schema changed to refuse everything", True)]
        if not isinstance(reader, Mapping) or not _significant(reader):
            return []
        if not isinstance(writer, Mapping):
            writer = {}
        w_options = _options(writer)
        r_options = _options(reader)
        if len(w_options) > 1 or len(r_options) > 1:
            return self._union(reader, w_options, r_options, pointer)
        return self._single(writer, reader, pointer)

    def _union(
        self,
        reader: Mapping[str, Any],
        w_options: list[tuple[int | None, Any]],
        r_options: list[tuple[int | None, Any]],
        pointer: str,
    ) -> list[_Finding]:
        findings: list[_Finding] = []
        r_kinds = [_kind(_deref(o, self.reader_root)[0]) for _, o in r_options]
        w_kinds = [_kind(_deref(o, self.writer_root)[0]) for _, o in w_options]

        def at(w_index: int | None, r_index: int | None) -> str:
            index = r_index if self.old_is_writer else w_index
            return pointer if index is None else f"{pointer}/anyOf/{index}"

        for (w_index, option), kind in zip(w_options, w_kinds, strict=True):
            # the same kind first: its differences are the ones worth reporting
            order = sorted(range(len(r_options)), key=lambda i: r_kinds[i] != kind)
            attempts: list[tuple[int, list[_Finding]]] = []
            for i in order:
                r_index, candidate = r_options[i]
                if kind == "boolean" and r_kinds[i] != kind and _is_decimal_union(reader):
                    continue  # unlike int and float, Decimal refuses booleans
                result = self.fits(option, candidate, at(w_index, r_index))
                if not any(f.broken for f in result):
                    if r_kinds[i] == kind or not attempts:
                        findings += result
                    break
                attempts.append((i, result))
            else:
                same = [a for a in attempts if r_kinds[a[0]] == kind]
                if same:
                    findings += min(same, key=lambda a: sum(f.broken for f in a[1]))[1]
                else:
                    what = "removed" if self.old_is_writer else "added"
                    example = self.counterexample(option, reader)
                    findings.append(_Finding(pointer, f"{kind} option {what}", True, example))
        for kind in r_kinds:
            if kind not in w_kinds:
                what = "added" if self.old_is_writer else "removed"
                findings.append(_Finding(pointer, f"{kind} option {what}", False))
        return findings

    def _single(
        self, writer: Mapping[str, Any], reader: Mapping[str, Any], pointer: str
    ) -> list[_Finding]:
        w_kind, r_kind = _kind(writer), _kind(reader)
        old_kind, new_kind = self.old_new(w_kind, r_kind)
        if _enumerated(writer) is not None or _enumerated(reader) is not None:
            return self._values(writer, reader, pointer)
        if w_kind != r_kind:
            lax = (w_kind, r_kind) in {
                ("integer", "number"),
                ("boolean", "integer"),
                ("boolean", "number"),
            }
            if w_kind == "number" and r_kind == "integer" and _integral_step(writer):
                lax = True
            if w_kind == "string" and r_kind == "number" and _is_decimal(writer):
                lax = True  # pydantic reads a decimal string as a float
            reason = f"type changed from {old_kind} to {new_kind}"
            if w_kind in ("integer", "number") and reader.get("format") == "date-time":
                low, _, high, _ = _bounds(writer)  # read as timestamps, if within their range
                fits = r_kind == "string" and _EARLIEST_STAMP <= low and high <= _LATEST_STAMP
                example = _NO_EXAMPLE if fits else self.counterexample(writer, reader)
                return [_Finding(pointer, reason, not fits, example)]
            if lax:
                bounds = self._numeric(writer, reader, pointer)
                return [_Finding(pointer, reason, False), *bounds]
            return [_Finding(pointer, reason, True, self.counterexample(writer, reader))]
        if r_kind in ("integer", "number"):
            return self._numeric(writer, reader, pointer)
        if r_kind == "string":
            return self._string(writer, reader, pointer)
        if r_kind == "array":
            return self._array(writer, reader, pointer)
        if r_kind == "object":
            return self._object(writer, reader, pointer)
        return []

    def _values(
        self, writer: Mapping[str, Any], reader: Mapping[str, Any], pointer: str
    ) -> list[_Finding]:
        findings = []
        w_values = _enumerated(writer)
        r_values = _enumerated(reader)
        if w_values is not None and r_values is not None:
            for value in w_values:
                if not any(_same(value, r, True) for r in r_values):
                    what = "removed" if self.old_is_writer else "added"
                    findings.append(_Finding(pointer, f"value {_dumps(value)} {what}", True, value))
            for value in r_values:
                if not any(_same(value, w, True) for w in w_values):
                    what = "added" if self.old_is_writer else "removed"
                    findings.append(_Finding(pointer, f"value {_dumps(value)} {what}", False))
            return findings
        old, new = self.old_new(writer, reader)
        reason = f"type changed from {_describe(old)} to {_describe(new)}"
        if w_values is not None:
            refused = [v for v in w_values if not _accepts(reader, v, self.reader_root, lax=True)]
            example = refused[0] if refused else _NO_EXAMPLE
            return [_Finding(pointer, reason, bool(refused), example)]
        return [_Finding(pointer, reason, True, self.counterexample(writer, reader))]

    def _numeric(
        self, writer: Mapping[str, Any], reader: Mapping[str, Any], pointer: str
    ) -> list[_Finding]:
        findings = []
        old, new = self.old_new(writer, reader)
        w_low, w_low_in, w_high, w_high_in = _bounds(writer)
        r_low, r_low_in, r_high, r_high_in = _bounds(reader)
        for keys, broken in (
            (
                ("minimum", "exclusiveMinimum"),
                w_low < r_low or (w_low == r_low and w_low_in and not r_low_in),
            ),
            (
                ("maximum", "exclusiveMaximum"),
                w_high > r_high or (w_high == r_high and w_high_in and not r_high_in),
            ),
            (("multipleOf",), _step_breaks(writer.get("multipleOf"), reader.get("multipleOf"))),
        ):
            changed = [k for k in keys if old.get(k) != new.get(k)]
            if changed or broken:
                reason = ", ".join(
                    f"{k} changed from {_show(old.get(k))} to {_show(new.get(k))}"
                    for k in changed or keys
                )
                example = self.counterexample(writer, reader) if broken else _NO_EXAMPLE
                findings.append(_Finding(pointer, reason, broken, example))
        return findings

    def _string(
        self, writer: Mapping[str, Any], reader: Mapping[str, Any], pointer: str
    ) -> list[_Finding]:
        findings = []
        old, new = self.old_new(writer, reader)
        checks = (
            # a decimal string has at least one digit
            (
                "minLength",
                _min_length(writer) < reader.get("minLength", 0),
            ),
            (
                "maxLength",
                writer.get("maxLength", math.inf) > reader.get("maxLength", math.inf),
            ),
            ("pattern", "pattern" in reader and writer.get("pattern") != reader["pattern"]),
            ("format", "format" in reader and writer.get("format") != reader["format"]),
        )
        for key, broken in checks:
            if old.get(key) != new.get(key):
                reason = f"{key} changed from {_show(old.get(key))} to {_show(new.get(key))}"
                example = self.counterexample(writer, reader) if broken else _NO_EXAMPLE
                findings.append(_Finding(pointer, reason, broken, example))
        return findings

    def _array(
        self, writer: Mapping[str, Any], reader: Mapping[str, Any], pointer: str
    ) -> list[_Finding]:
        findings = []
        old, new = self.old_new(writer, reader)
        for key, broken in (
            ("minItems", writer.get("minItems", 0) < reader.get("minItems", 0)),
            ("maxItems", writer.get("maxItems", math.inf) > reader.get("maxItems", math.inf)),
        ):
            if old.get(key) != new.get(key):
                reason = f"{key} changed from {_show(old.get(key))} to {_show(new.get(key))}"
                example = self.counterexample(writer, reader) if broken else _NO_EXAMPLE
                findings.append(_Finding(pointer, reason, broken, example))
        w_prefix = list(writer.get("prefixItems", []))
        r_prefix = list(reader.get("prefixItems", []))
        if w_prefix or r_prefix:
            if len(w_prefix) != len(r_prefix):
                old_len, new_len = self.old_new(len(w_prefix), len(r_prefix))
                reason = f"tuple length changed from {old_len} to {new_len}"
                findings.append(
                    _Finding(pointer, reason, True, self.counterexample(writer, reader))
                )
                return findings
            w_items = [
                self.fits(w, r, f"{pointer}/prefixItems/{i}")
                for i, (w, r) in enumerate(zip(w_prefix, r_prefix, strict=True))
            ]
            for index, sub in enumerate(w_items):
                base = [_example(s, self.writer_root) for s in w_prefix]
                for finding in sub:
                    findings.append(
                        _wrap(finding, lambda v, i=index, b=base: [*b[:i], v, *b[i + 1 :]])
                    )
            return findings
        if "items" in writer or "items" in reader:
            size = max(writer.get("minItems", 0), 1)
            for finding in self.fits(
                writer.get("items", {}), reader.get("items", {}), pointer + "/items"
            ):
                findings.append(_wrap(finding, lambda v, n=size: [v] * n))
        return findings

    def _object(
        self, writer: Mapping[str, Any], reader: Mapping[str, Any], pointer: str
    ) -> list[_Finding]:
        findings: list[_Finding] = []
        w_props: Mapping[str, Any] = writer.get("properties", {})
        r_props: Mapping[str, Any] = reader.get("properties", {})
        w_required = set(writer.get("required", []))
        r_required = set(reader.get("required", []))
        w_extra = writer.get("additionalProperties")  # None: pydantic's default, ignore extras
        r_extra = reader.get("additionalProperties")
        base = _minimal_object(writer, self.writer_root)

        def put(name: str) -> Any:
            return lambda value: {**base, name: value}

        for name in sorted(set(w_props) | set(r_props)):
            at = f"{pointer}/properties/{_escape(name)}"
            in_old, in_new = self.old_new(name in w_props, name in r_props)
            if name in w_props and name in r_props:
                for finding in self.fits(w_props[name], r_props[name], at):
                    findings.append(_wrap(finding, put(name)))
                old_req, new_req = self.old_new(name in w_required, name in r_required)
                if old_req != new_req:
                    reason = f"field {name!r} " + ("now required" if new_req else "now optional")
                    broken = name in r_required and name not in w_required
                    findings.append(_Finding(at, reason, broken, base if broken else _NO_EXAMPLE))
                continue
            if name in r_props:
                # the writer does not declare it: it writes it only as an allowed extra
                added = "added" if in_new and not in_old else "removed"
                required = name in r_required
                reason = f"field {name!r} {added}" + (", required" if required else ", optional")
                if required:
                    findings.append(_Finding(at, reason, True, base))
                elif w_extra is not None and w_extra is not False:
                    sub = self.fits(
                        w_extra if isinstance(w_extra, Mapping) else {}, r_props[name], at
                    )
                    broken = any(f.broken for f in sub)
                    example = (
                        self.counterexample({} if w_extra is True else w_extra, r_props[name])
                        if broken
                        else _NO_EXAMPLE
                    )
                    wrapped = example if example is _NO_EXAMPLE else {**base, name: example}
                    findings.append(_Finding(at, reason, broken, wrapped))
                else:
                    findings.append(_Finding(at, reason, False))
                continue
            # the reader does not declare it: an extra field to the reader
            added = "added" if in_new and not in_old else "removed"
            required = name in w_required
            reason = f"field {name!r} {added}" + (", required" if required else ", optional")
            if r_extra is False:
                value = _example(w_props[name], self.writer_root)
                findings.append(_Finding(at, reason, True, {**base, name: value}))
            elif isinstance(r_extra, Mapping):  # read as a dict's value
                values = [_wrap(f, put(name)) for f in self.fits(w_props[name], r_extra, at)]
                findings += [f for f in values if f.broken] or [_Finding(at, reason, False)]
            else:
                findings.append(_Finding(at, reason, False))
        old_extra, new_extra = self.old_new(w_extra, r_extra)
        if isinstance(w_extra, Mapping) and isinstance(r_extra, Mapping):
            # a dict's values: compare them, under a key the writer does not declare
            name = next(n for n in ("key", "key_", "_key") if n not in w_props)
            at = f"{pointer}/additionalProperties"
            findings += [_wrap(f, put(name)) for f in self.fits(w_extra, r_extra, at)]
        elif old_extra != new_extra:
            reason = f"extra fields changed from {_extras(old_extra)} to {_extras(new_extra)}"
            at = f"{pointer}/additionalProperties"
            writes_extras = w_extra is not None and w_extra is not False
            if r_extra is False and writes_extras:
                value = _example(w_extra, self.writer_root) if isinstance(w_extra, Mapping) else 0
                name = next(n for n in ("extra", "extra_", "_extra") if n not in w_props)
                findings.append(_Finding(at, reason, True, {**base, name: value}))
            elif isinstance(r_extra, Mapping) and writes_extras:
                sub = self.fits(w_extra if isinstance(w_extra, Mapping) else {}, r_extra, at)
                findings.append(_Finding(at, reason, any(f.broken for f in sub)))
                findings += [f for f in sub if f.broken]
            else:
                findings.append(_Finding(at, reason, False))
        return findings


def _wrap(finding: _Finding, build: Any) -> _Finding:
    if finding.example is _NO_EXAMPLE:
        return finding
    return _Finding(finding.pointer, finding.reason, finding.broken, build(finding.example))


def _significant(schema: Mapping[str, Any]) -> bool:
    return any(key not in _ANNOTATIONS for key in schema)


def _options(schema: Mapping[str, Any]) -> list[Any]:
    for combinator in ("anyOf", "oneOf"):
        if combinator in schema:
            return list(enumerate(schema[combinator]))
    kind = schema.get("type")
    if isinstance(kind, list):
        return [(None, {**schema, "type": k}) for k in kind]
    return [(None, schema)]


def _kind(schema: Any) -> str:
    if not isinstance(schema, Mapping) or not _significant(schema):
        return "any"
    if "enum" in schema or "const" in schema:
        values = _enumerated(schema) or []
        kinds = {_value_kind(v) for v in values}
        return kinds.pop() if len(kinds) == 1 else "enum"
    if "anyOf" in schema or "oneOf" in schema:
        return "union"
    return str(schema.get("type", "any"))


def _value_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _enumerated(schema: Mapping[str, Any]) -> list[Any] | None:
    if "const" in schema:
        return [schema["const"]]
    if "enum" in schema:
        return list(schema["enum"])
    return None


def _describe(schema: Mapping[str, Any]) -> str:
    values = _enumerated(schema)
    return _kind(schema) if values is None else "one of " + _dumps(values)


def _is_decimal(schema: Mapping[str, Any]) -> bool:
    from .schema._jsonschema import DECIMAL_PATTERN as _DECIMAL_PATTERN

    return schema.get("pattern") == _DECIMAL_PATTERN and set(schema) <= {"type", "pattern"}


def _is_decimal_union(schema: Any) -> bool:
    """Whether the schema is pydantic's for a Decimal: a number or a decimal string."""
    options = schema.get("anyOf") if isinstance(schema, Mapping) else None
    if not isinstance(options, list):
        return False
    options = [o for o in options if isinstance(o, Mapping)]
    return any(o.get("type") == "number" for o in options) and any(_is_decimal(o) for o in options)


def _min_length(schema: Mapping[str, Any]) -> int:
    """The shortest string the schema allows: a decimal has a digit, an RFC 3339 date-time
    ``YYYY-MM-DDTHH:MM:SSZ`` has 20 characters."""
    implied = 20 if schema.get("format") == "date-time" else int(_is_decimal(schema))
    return max(int(schema.get("minLength", 0)), implied)


def _integral_step(schema: Mapping[str, Any]) -> bool:
    step = schema.get("multipleOf")
    return step is not None and float(step).is_integer()


def _step_breaks(writer: float | None, reader: float | None) -> bool:
    if reader is None:
        return False
    return writer is None or not _multiple(writer, reader)


def _show(value: Any) -> str:
    return "none" if value is None else _dumps(value)


def _extras(value: Any) -> str:
    if value is None:
        return "ignored"
    if value is True:
        return "allowed"
    if value is False:
        return "forbidden"
    return "typed"


# --- topics and documents ---------------------------------------------------------------------


def _key_example(writer: tuple[str, ...], reader: tuple[str, ...]) -> tuple[str, ...] | None:
    """A concrete key the writer's pattern matches and the reader's does not, if any.

    Matching only compares parts with the reader's literals and counts parts, so filling each
    wildcard with a fresh part or with the reader's literal at that place, at every length up
    to one past the reader's, tries every case.
    """
    open_ended = bool(writer) and writer[-1] == WILDCARD
    longest = max(len(writer), len(reader)) + 1 if open_ended else len(writer)
    for length in range(len(writer), longest + 1):
        choices: list[list[str]] = []
        for index in range(length):
            part = writer[index] if index < len(writer) else WILDCARD
            if part != WILDCARD:
                choices.append([part])
                continue
            literal = reader[index] if index < len(reader) else WILDCARD
            choices.append(["_"] if literal == WILDCARD else ["_", literal])
        for key in itertools.product(*choices):
            if is_subset(key, writer) and not is_subset(key, reader):
                return key
    return None


def _compare_topic(name: str, old: _Contract, new: _Contract, against: str) -> list[Change]:
    changes: list[Change] = []
    if old.key != new.key:
        backward = _key_example(old.key, new.key)
        forward = _key_example(new.key, old.key)
        examples = []
        if backward is not None:
            examples.append(Counterexample("backward", key=backward))
        if forward is not None:
            examples.append(Counterexample("forward", key=forward))
        reason = f"key changed from {list(old.key)} to {list(new.key)}"
        changes.append(
            _change(
                name,
                f"{new.pointer}/key" if "/topics/" in new.pointer else new.pointer + "/address",
                reason,
                backward is not None,
                forward is not None,
                examples,
                against,
            )
        )
    if old.parameters != new.parameters and old.key == new.key:
        reason = (
            f"parameters renamed from {list(old.parameters)} to {list(new.parameters)}; "
            "the key matches the same messages"
        )
        changes.append(
            _change(name, new.pointer + "/parameters", reason, False, False, [], against)
        )
    if old.payload_type != new.payload_type:
        reason = f"payload type renamed from {old.payload_type!r} to {new.payload_type!r}"
        changes.append(_change(name, new.pointer, reason, False, False, [], against))
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    both: tuple[Direction, ...] = ("backward", "forward")
    for direction in both:
        old_is_writer = direction == "backward"
        writer, reader = (old, new) if old_is_writer else (new, old)
        pair = _Pair(writer.root, reader.root, old_is_writer)
        w_schema = {"$ref": writer.payload_pointer}
        r_schema = {"$ref": reader.payload_pointer}
        for finding in pair.fits(w_schema, r_schema, new.payload_pointer):
            slot = merged.setdefault(
                (finding.pointer, finding.reason),
                {"backward": False, "forward": False, "examples": []},
            )
            if not finding.broken:
                continue
            slot[direction] = True
            example = finding.example
            if example is not _NO_EXAMPLE and not any(
                e.direction == direction for e in slot["examples"]
            ):
                if _accepts(w_schema, example, writer.root, lax=False) and not _accepts(
                    r_schema, example, reader.root, lax=True
                ):
                    slot["examples"].append(Counterexample(direction, example))
    for (pointer, reason), slot in merged.items():
        changes.append(
            _change(
                name, pointer, reason, slot["backward"], slot["forward"], slot["examples"], against
            )
        )
    return changes


def _change(
    topic: str,
    pointer: str,
    reason: str,
    backward: bool,
    forward: bool,
    examples: Sequence[Counterexample],
    against: str,
) -> Change:
    classification: Classification = (
        "incompatible"
        if backward and forward
        else "narrowing"
        if backward
        else "widening"
        if forward
        else "compatible"
    )
    return Change(topic, pointer, classification, reason, tuple(examples), against)


def compare_documents(
    old: Mapping[str, Any], new: Mapping[str, Any], *, against: str = "old"
) -> list[Change]:
    """Every change from ``old`` to ``new`` (both AsyncAPI documents or bundles)."""
    try:
        return _compare_documents(old, new, against)
    except (KeyError, IndexError, AttributeError, TypeError, re.error) as exc:
        # documents this tool writes never get here: say that the input is not one of them
        raise ValueError(
            f"{against} or new is not a document typedpubsub wrote: {type(exc).__name__} {exc}"
        ) from None


def _compare_documents(
    old: Mapping[str, Any], new: Mapping[str, Any], against: str
) -> list[Change]:
    old_topics = _contracts(old)
    new_topics = _contracts(new)
    changes: list[Change] = []
    for name in sorted(set(old_topics) | set(new_topics)):
        if name not in new_topics:
            reason = "topic removed: NEW consumers no longer read what OLD producers publish on it"
            changes.append(
                _change(name, old_topics[name].pointer, reason, True, False, [], against)
            )
        elif name not in old_topics:
            reason = "topic added: OLD consumers do not subscribe to it"
            changes.append(
                _change(name, new_topics[name].pointer, reason, False, False, [], against)
            )
        else:
            changes += _compare_topic(name, old_topics[name], new_topics[name], against)
    return changes


def _document(value: object, parameter: str) -> Mapping[str, Any]:
    """A document as given, or the JSON Schema bundle of a topic collection."""
    from . import schema

    if isinstance(value, Mapping) and ("asyncapi" in value or "topics" in value):
        return cast(Mapping[str, Any], value)
    try:
        topics = schema.collect_topics(value)
    except TypeError:
        raise TypeError(
            f"{parameter} must be an AsyncAPI document, a JSON Schema bundle or a collection "
            f"of topics, got {value!r}"
        ) from None
    if not topics and isinstance(value, Mapping):
        raise ValueError(
            f"{parameter} must be an AsyncAPI document or a JSON Schema bundle written by "
            f"typedpubsub, got a mapping with keys {sorted(map(str, value))[:5]}"
        )
    if not topics:
        raise ValueError(f"{parameter} holds no Topic, got {value!r}")
    return schema.json_schema(topics)


def check_mode(mode: object) -> Mode:
    """``mode`` if it is a known mode, else raise."""
    if not isinstance(mode, str):
        raise TypeError(f"mode must be a str, got {describe(mode)}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    return cast(Mode, mode)


def compare(
    olds: Sequence[tuple[str, object]], new: object, *, mode: Mode = "backward"
) -> CompatibilityReport:
    """The report for ``mode`` of NEW against the labelled OLD versions (the last is the
    latest; only it counts unless the mode is transitive)."""
    mode = check_mode(mode)
    if not olds:
        raise ValueError("old must hold at least one version, got none")
    if not mode.endswith("-transitive") and len(olds) > 1:
        raise ValueError(
            f"old must be one version for mode {mode!r}, got {len(olds)}; "
            f"use {mode + '-transitive'!r} to check against each"
        )
    new_document = _document(new, "new")
    changes: list[Change] = []
    for label, old in olds:
        changes += compare_documents(_document(old, "old"), new_document, against=label)
    return CompatibilityReport(mode, tuple(changes))


def compatibility(old: object, new: object, *, mode: Mode = "backward") -> CompatibilityReport:
    """Whether NEW's topics can replace OLD's: every change, classified, with counterexamples.

    ``old`` and ``new`` are AsyncAPI documents or JSON Schema bundles written by
    :mod:`typedpubsub.schema`, or collections of topics (anything
    :func:`~typedpubsub.schema.collect_topics` takes). For the transitive modes ``old`` may be
    a list of versions, oldest first (a list of ``Topic`` objects is one version).
    """
    if isinstance(old, list) and not any(isinstance(item, Topic) for item in old):
        olds = [(f"old[{index}]", item) for index, item in enumerate(cast(list[object], old))]
    else:
        olds = [("old", old)]
    return compare(olds, new, mode=mode)
