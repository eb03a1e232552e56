"""The benchmark suite runs at a tiny size and delivers correctly (no timing is asserted)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from benchmarks import run

from .conftest import ROOT, recorded_triples, shared_dir


def test_benchmark_smoke() -> None:
    """Every workload runs for every implementation, and each checks its delivery count."""
    run.REAL = run.real_workload(recorded_triples()) if shared_dir() else None
    lines: list[str] = []
    results = run.run_all(run.SMOKE, 1, lines.append)
    report = run.report(results, run.SMOKE, 1, "python benchmarks/run.py --smoke")
    workloads = set(results["rates"])
    assert len(workloads) == (8 if run.REAL is not None else 7)
    for by_impl in results["rates"].values():
        assert {"floor", "typedpubsub", "aiopubsub"} <= set(by_impl)
        assert all(rate > 0 for rate in by_impl.values())
    assert "## Targets" in report
    assert len(run.evaluate(results)) >= 10


async def test_a_wrong_delivery_fails_the_run() -> None:
    """A benchmark whose listener misses messages fails instead of reporting a rate."""
    counter = run.Counter(2)
    counter.hit()
    counter.done.set()  # pretend it finished early
    with pytest.raises(run.WrongDelivery, match=r"^broken: 1 delivered, expected 2$"):
        await counter.wait("broken")


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
