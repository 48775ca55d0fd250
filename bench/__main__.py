"""Run the benchmarks: ``python -m bench [name ...]`` (default: all ``bench_*`` modules, sorted).

Each module exposes ``run() -> None`` that prints its own figures. Benchmarks print numbers;
they never fail on a threshold (targets are read by people, not asserted by flaky timers).
"""

from __future__ import annotations

import importlib
import pkgutil
import platform
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    names = argv or sorted(
        info.name
        for info in pkgutil.iter_modules([str(Path(__file__).parent)])
        if info.name.startswith("bench_")
    )
    print(
        f"capi-consumer benchmarks on {platform.python_implementation()} {platform.python_version()}, "
        f"{platform.machine()}, {len(__import__('os').sched_getaffinity(0))} cores"
    )
    for name in names:
        module = importlib.import_module(
            f"bench.{name if name.startswith('bench_') else 'bench_' + name}"
        )
        print(f"\n== {module.__name__.removeprefix('bench.')} ==")
        started = time.perf_counter()
        module.run()
        print(f"   ({time.perf_counter() - started:.1f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
