"""The benchmark suite runs at a tiny size, delivers correctly and reports its targets (no timing is asserted)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks import run
from typedpubsub import Key

from .conftest import ROOT


def recorded_like() -> list[tuple[list[str], list[str], bool]]:
    """Triples in the recorded file's form (published, subscribed, matches), a few hundred."""
    published = [
        ["venue", str(v), kind, str(i)] for v in range(3) for kind in "ab" for i in range(20)
    ]
    subscribed = [["venue", "*"], ["venue", "1", "a", "*"], ["*", "0", "*", "3"], ["other"]]
    subscribed += [p for p in published[::7]]
    return [(p, s, Key(*p).is_subset_of(Key(*s))) for p in published for s in subscribed]


@pytest.fixture(scope="module")
def smoke() -> run.Results:
    """One smoke run of every workload and implementation, shared by the tests below.

    The real recorded workload runs on a few hundred triples of the same form: loading the 2M
    recorded ones would take most of the test's time.
    """
    run.REAL = run.real_workload(recorded_like())
    lines: list[str] = []
    return run.run_all(run.SMOKE, run.SMOKE_SLOW, 1, lines.append)


def test_benchmark_smoke(smoke: run.Results) -> None:
    """Every workload runs for each of its implementations, and each checks its delivery count."""
    benches = run.benches(run.SMOKE)
    assert [b.name for b in benches] == list(smoke.rates)
    assert len(benches) == 10
    for bench in benches:
        assert set(smoke.rates[bench.name]) == set(bench.implementations)
        assert bench.floor in bench.implementations
        assert all(rate > 0 for rate in smoke.rates[bench.name].values())
    assert set(smoke.rates["1 -> 1 async listener"]) >= set(run.TYPED)
    assert set(smoke.memory) == {"scan floor", "typedpubsub", "aiopubsub"}
    floor = smoke.memory["scan floor"]
    assert floor.per_entry < 1  # the scan floor keeps nothing per key: the measurement sees that
    assert floor.key_alone > 0


def test_every_target_is_reported(smoke: run.Results) -> None:
    """The report has one row per target, each saying met or missed, and states the floors."""
    report = run.report(smoke, 1, "python benchmarks/run.py --smoke", ["a loaded machine"])
    checked = run.evaluate(smoke)
    expected = len(run.TARGETS) + len(smoke.delivery)
    assert len(checked) == expected
    rows = [line for line in report.splitlines() if line.endswith(("| yes |", "| **no** |"))]
    assert len(rows) == expected
    for target, _, _, _ in checked:
        assert f"| {target.title(smoke)} |" in report
    assert "- **floor**:" in report
    assert "- **scan floor**" in report
    assert "- a loaded machine" in report


def test_a_target_is_met_at_its_bound_and_missed_below(smoke: run.Results) -> None:
    """Whether a target is met is computed from the measured ratio, not typed into the code."""
    churn = run.TARGETS[0]
    name = run.churn_name(smoke.sizes)
    rates = {workload: dict(by_impl) for workload, by_impl in smoke.rates.items()}
    rates[name] = {"floor": 1000.0, "typedpubsub": 500.0, "aiopubsub": 1.0}
    at = dataclasses.replace(smoke, rates=rates)
    assert churn.check(at)[0] == pytest.approx(0.5)
    assert churn.check(at)[2]
    rates[name] = {"floor": 1000.0, "typedpubsub": 499.0, "aiopubsub": 1.0}
    assert not churn.check(dataclasses.replace(smoke, rates=rates))[2]


def test_the_delivery_bound_follows_the_build(smoke: run.Results) -> None:
    """Untyped delivery workloads must reach 0.75x the floor in pure Python and 1.0x compiled."""
    pure = run.delivery_targets(dataclasses.replace(smoke, compiled=False))
    compiled = run.delivery_targets(dataclasses.replace(smoke, compiled=True))
    assert {t.bound for t in pure} == {0.75}
    assert {t.bound for t in compiled} == {1.0}
    assert len(pure) == len(smoke.delivery) >= 4


async def test_a_wrong_delivery_fails_the_run() -> None:
    """A benchmark whose listener misses messages fails instead of reporting a rate."""
    counter = run.Counter(2)
    counter.hit()
    counter.done.set()  # pretend it finished early
    with pytest.raises(run.WrongDelivery, match=r"^broken: 1 delivered, expected 2$"):
        await counter.wait("broken")


parts = st.sampled_from(["a", "b", "c"])


@given(
    pattern=st.lists(st.sampled_from(["a", "b", "*"]), min_size=1, max_size=4),
    key=st.lists(parts, min_size=1, max_size=5),
)
def test_the_floors_match_as_typedpubsub_does(pattern: list[str], key: list[str]) -> None:
    """The floors' wildcard matching agrees with Key.is_subset_of on every pattern and key."""
    assert run.matcher(tuple(pattern))(tuple(key)) == Key(*key).is_subset_of(Key(*pattern))


def test_writing_results_keeps_the_nats_section(tmp_path: Path) -> None:
    """Regenerating RESULTS.md keeps the section that nats_bench.py appended, and only that."""
    path = tmp_path / "RESULTS.md"
    path.write_text("# old\n\nold table\n\n## Across processes through NATS (core)\n\nnats table\n")
    run.write(path, "# new\n")
    assert path.read_text() == "# new\n\n## Across processes through NATS (core)\n\nnats table\n"
    fresh = tmp_path / "fresh.md"
    run.write(fresh, "# new\n")
    assert fresh.read_text() == "# new\n"


def test_nats_benchmark_smoke() -> None:
    """The cross-process NATS benchmark runs against a real server and reports both paths."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "nats_bench.py"), "--smoke", "-o", "-"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "| raw nats-py (no validation) |" in result.stdout
    assert "| typedpubsub bridge (Topic[dataclass], validated) |" in result.stdout
    assert "Target: bridge >= 0.7x raw throughput" in result.stdout
