"""Instructions per event of the compiled core, counted by valgrind: a figure that does not drift.

CPU time per event on a shared VM swings by up to 2x from one minute to the next (see
docs/benchmarks.md), which hides a 5% change. The number of instructions the core executes per
event does not: ``Processor.process_batch`` (decode + map + validate) over the same bulk orders as
``bench core``, run under ``valgrind --tool=callgrind`` twice, for one and for three passes over
``RECORDS`` orders; the difference divided by the extra events is per event, free of start-up.

Caveat: valgrind's virtual CPU has no SHA extensions, so OpenSSL's SHA-256 runs its portable code
there (about 5k instructions per hash instead of a few hundred cycles): compare builds with this
figure, not machines, and read hashing's share of it as an upper bound. Needs ``valgrind``
(Debian package); without it the benchmark says so and prints nothing else. About 3 minutes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["run"]

RECORDS = 2000
_PASSES = (1, 3)
_COLLECTED = re.compile(r"Collected : (\d+)")
_ROOT = Path(__file__).resolve().parent.parent


def run() -> None:
    if shutil.which("valgrind") is None:
        print("   valgrind is not installed (apt-get install valgrind): no instruction counts")
        return
    counts = [_instructions(passes) for passes in _PASSES]
    per_event = (counts[1] - counts[0]) / ((_PASSES[1] - _PASSES[0]) * RECORDS)
    import consumer.core.processing as module

    compiled = not str(module.__file__).endswith(".py")
    print(f"   {RECORDS} bulk orders, {_PASSES[0]} vs {_PASSES[1]} passes under callgrind")
    print(f"   compiled: {compiled}")
    print(f"   {'process_batch (decode+map+validate)':<40} {per_event:9,.0f} instructions/event")


def _instructions(passes: int) -> int:
    """Instructions valgrind counted for a whole child run of ``passes`` passes."""
    with tempfile.TemporaryDirectory(prefix="bench-callgrind-") as folder:
        done = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={Path(folder) / 'out'}",
                sys.executable,
                "-m",
                "bench.bench_instructions",
                str(passes),
            ],
            cwd=_ROOT,
            env={**os.environ, "PYTHONPATH": str(_ROOT), "PYTHONHASHSEED": "0"},  # same probes
            capture_output=True,
            text=True,
            check=True,
        )
    found = _COLLECTED.search(done.stderr)
    if found is None:
        raise RuntimeError(f"callgrind printed no count: {done.stderr[-500:]}")
    return int(found.group(1))


def _child(passes: int) -> None:
    from bench.bench_core import prepared

    processor, _settings, batches = prepared(RECORDS)
    for _ in range(passes):
        for batch in batches:
            processor.process_batch(batch)


if __name__ == "__main__":
    _child(int(sys.argv[1]))
