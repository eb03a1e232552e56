"""Static type checks of the compatibility gate: never executed; mypy and basedpyright check it.

Lines marked with an ignore must fail to type-check (see check_topics.py).
"""

from __future__ import annotations

from typing import Any, Literal

from typing_extensions import assert_type

from typedpubsub import Topic, schema

OLD = [Topic(("t", "*"), int, name="t")]
NEW = [Topic(("t", "*"), float, name="t")]


def check_compatibility(document: dict[str, Any]) -> None:
    report = schema.compatibility(OLD, NEW)
    assert_type(report, schema.CompatibilityReport)
    assert_type(schema.compatibility(document, NEW, mode="full"), schema.CompatibilityReport)
    assert_type(
        schema.compatibility([document, document], NEW, mode="backward-transitive"),
        schema.CompatibilityReport,
    )
    assert_type(report.compatible, bool)
    assert_type(report.mode, schema.CompatibilityMode)
    assert_type(report.breaking, tuple[schema.Change, ...])
    assert_type(report.to_json(), dict[str, Any])
    assert_type(report.text(), str)
    for change in report.changes:
        assert_type(change.pointer, str)
        assert_type(
            change.classification, Literal["compatible", "narrowing", "widening", "incompatible"]
        )
        assert_type(change.breaks("backward"), bool)
        for example in change.counterexamples:
            assert_type(example, schema.Counterexample)
            assert_type(example.direction, Literal["backward", "forward"])
            assert_type(example.key, tuple[str, ...] | None)
    schema.compatibility(OLD, NEW, mode="sideways")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    schema.compatibility(OLD, NEW, "full")  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
    change = report.changes[0]
    change.breaks("both")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
