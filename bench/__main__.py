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
    known = sorted(
        info.name.removeprefix("bench_")
        for info in pkgutil.iter_modules([str(Path(__file__).parent)])
        if info.name.startswith("bench_")
    )
    if argv and argv[0] in ("-h", "--help"):
        print(f"usage: python -m bench [name ...]   names: {' '.join(known)} (default: all)")
        return 0
    unknown = [name for name in argv if name.removeprefix("bench_") not in known]
    if unknown:
        print(
            f"bench: unknown benchmark {unknown[0]!r} (known: {', '.join(known)})", file=sys.stderr
        )
        return 2
    names = argv or known
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
