"""Compare one benchmark between a git ref and the working tree, in one run.

``python -m bench.compare mapping ccffdbf [--runs 5]``: the ref is exported (``git archive``) to
a temporary directory, then ``python -m bench <name>`` runs in each tree alternately, ``runs``
times; each figure printed in µs is kept at its best (the least disturbed by other load, as the
benchmarks themselves do) and shown side by side with the change.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

__all__ = ["main"]

# "label   12.6 µs/event" or "label   79,231 records/s   12.6 µs/record"
_ROW = re.compile(
    r"^\s*(?P<label>.+?)\s+(?:[0-9,]+ records/s\s+)?(?P<us>[0-9.]+) µs/(?:event|record)"
)
_ROOT = Path(__file__).resolve().parent.parent


def _figures(tree: Path, name: str) -> dict[str, float]:
    """One run of ``python -m bench name`` in ``tree``: label -> µs per event."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(  # our own interpreter and module
        [sys.executable, "-m", "bench", name],
        cwd=tree,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {m["label"]: float(m["us"]) for m in map(_ROW.match, out.splitlines()) if m}


def _export(ref: str, into: Path) -> None:
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref],
        cwd=_ROOT,
        check=True,
        capture_output=True,
    ).stdout
    with tempfile.TemporaryFile() as handle:
        handle.write(archive)
        handle.seek(0)
        with tarfile.open(fileobj=handle) as tar:
            tar.extractall(into, filter="data")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare")
    parser.add_argument("name", help="benchmark, e.g. mapping")
    parser.add_argument("ref", help="git ref to compare the working tree with")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    best: dict[str, dict[str, float]] = {args.ref: {}, "working tree": {}}
    with tempfile.TemporaryDirectory() as temp:
        base = Path(temp)
        _export(args.ref, base)
        for _ in range(args.runs):
            for side, tree in ((args.ref, base), ("working tree", _ROOT)):
                for label, value in _figures(tree, args.name).items():
                    best[side][label] = min(value, best[side].get(label, value))
    print(f"{args.name}: best of {args.runs} alternating runs, µs per event or record")
    print(f"{'':<48} {args.ref:>12} {'working tree':>13} {'change':>8}")
    for label, before in best[args.ref].items():
        after = best["working tree"].get(label)
        if after is not None:
            print(f"{label:<48} {before:12.1f} {after:13.1f} {after / before - 1:+8.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
