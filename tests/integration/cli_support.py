"""Running the real ``capi-consumer`` command in a subprocess, and what its failures must look like."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["assert_one_line_failure", "cli", "cli_popen"]


def cli(
    *args: str, stdin: bytes | None = None, timeout: float = 60, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m consumer ARGS`` as a user runs it (in ``cwd``), given ``stdin`` bytes; output
    as text."""
    done = subprocess.run(
        [sys.executable, "-m", "consumer", *args],
        input=stdin or b"",
        capture_output=True,
        timeout=timeout,
        env=dict(os.environ),
        check=False,
        cwd=cwd,
    )
    out, err = (stream.decode(errors="replace") for stream in (done.stdout, done.stderr))
    return subprocess.CompletedProcess(done.args, done.returncode, out, err)


def cli_popen(*args: str, stdin: bytes | None = None) -> subprocess.Popen[bytes]:
    """The command started with pipes on stdout and stderr (to close its reader early); ``stdin``
    is written and closed at once."""
    process = subprocess.Popen(
        [sys.executable, "-m", "consumer", *args],
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ),
    )
    if process.stdin is not None:
        process.stdin.write(stdin or b"")
        process.stdin.close()
    return process


def assert_one_line_failure(
    result: subprocess.CompletedProcess[str], status: int, names: str, *, lines: int = 1
) -> None:
    """Exit ``status`` (non-zero), at most ``lines`` lines on stderr, the last naming the problem
    (``names``), and no traceback anywhere."""
    err = result.stderr.strip().splitlines()

    assert (status, True) == (result.returncode, 1 <= len(err) <= lines), result.stderr[-3000:]
    assert names in err[-1], result.stderr
    assert "Traceback" not in result.stderr + result.stdout
