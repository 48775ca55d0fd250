"""The benchmarks keep working: each module loads, and the quick ones run on small inputs.

Benchmarks print figures and assert no threshold, so nothing else would notice one that broke
(``bench metrics`` fed the metrics a stand-in pipeline that lacked a gauge's attribute for a
whole session). The long ones (``e2e``, ``dedup``, ``dlq``) are only loaded here.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

import bench
from bench import bench_core, bench_instructions, bench_metrics
from bench.__main__ import main
from consumer.metrics import PipelineView

NAMES = sorted(
    info.name
    for info in pkgutil.iter_modules([str(Path(bench.__file__).parent)])
    if info.name.startswith("bench_")
)


@pytest.mark.parametrize("name", NAMES)
def test_every_benchmark_loads_and_has_run(name: str) -> None:
    module = importlib.import_module(f"bench.{name}")

    assert callable(module.run)


def test_an_unknown_benchmark_name_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A typo (or --help) gets a line naming the known benchmarks, not a traceback."""
    assert 2 == main(["nope"])
    assert 0 == main(["--help"])

    out, err = capsys.readouterr()
    assert "bench: unknown benchmark 'nope' (known: core, decode," in err
    assert 1 == len(err.splitlines())
    assert out.startswith("usage: python -m bench [name ...]")


def test_the_metrics_stand_in_has_every_attribute_the_metrics_read() -> None:
    wanted = {name for name in vars(PipelineView) if not name.startswith("_")}

    assert set() == {name for name in wanted if not hasattr(bench_metrics._View(), name)}


def test_metrics_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    bench_metrics.run()

    assert "/metrics render: 1557 series" in capsys.readouterr().out


def test_core_benchmark_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(bench_core, "RECORDS", 1000)
    monkeypatch.setattr(bench_core, "REPEATS", 1)

    bench_core.run()

    assert "process_batch (decode+map+validate)" in capsys.readouterr().out


def test_instructions_benchmark_child_runs_the_core() -> None:
    """What callgrind counts: the child's passes over the bulk orders (they all map)."""
    bench_instructions._child(1)


def test_instructions_benchmark_without_valgrind_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(bench_instructions.shutil, "which", lambda _name: None)

    bench_instructions.run()

    assert "valgrind is not installed" in capsys.readouterr().out
