"""One line per CLI failure: argparse usage errors, our errors, broken pipes and the unexpected.

The promise of every ``capi-consumer`` command: a failure prints one line on stderr that names
the problem and exits non-zero; no traceback for any input. :func:`guarded` applies it around a
command; :class:`OneLineParser` makes argparse keep to it. No message here repeats an exception's
own text unless it is ours (``ConsumerError`` messages carry no customer data) or an operating
system's (a path and its ``strerror``): other exception texts may quote record values.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import traceback
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import structlog

from consumer.errors import ConsumerError

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "OneLineParser",
    "finite_float",
    "guarded",
    "http_url",
    "non_negative_int",
    "one_line",
    "port_number",
    "positive_int",
    "readable_file",
]

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 128 + signal.SIGINT  # what a shell reports for a process ended by Ctrl-C
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE  # ... and for one whose reader went away (`| head`)
TRACEBACK_ENV = "CAPI_TRACEBACK"  # set to 1 to see the traceback of an unexpected error
_MAX_PORT = 65_535
_MAX_FRAMES = 30  # innermost stack frames logged for a crash (file:line function, no values)
_MAX_LINE = 600  # characters: a long YAML or validation message still fits a terminal or two


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines too) as one space, cut to a bounded length."""
    flat = " ".join(text.split())
    return flat if len(flat) <= _MAX_LINE else flat[: _MAX_LINE - 3] + "..."


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line (the usage is one ``--help`` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {one_line(message)} (see {self.prog} -h)\n")


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    return _int_at_least(text, 1)


def non_negative_int(text: str) -> int:
    """An argparse type: an integer of at least 0."""
    return _int_at_least(text, 0)


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 0 (any free port) to 65535."""
    port = _int_at_least(text, 0)
    if port > _MAX_PORT:
        raise argparse.ArgumentTypeError(f"{port} is above {_MAX_PORT}")
    return port


def finite_float(text: str) -> float:
    """An argparse type: a number that is neither infinite nor NaN."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def http_url(text: str) -> str:
    """An argparse type: an http(s) URL with a host."""
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(f"{text!r} is not an http(s) URL")
    return text


def readable_file(text: str) -> Path:
    """An argparse type: the path of an existing regular file (checked before any work starts)."""
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text}: no such file")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text}: not a file")
    return path


DEFAULT_CONFIG = "config/example.yaml"  # demo and preview, relative to the repository root


def config_file(text: str) -> Path:
    """An argparse type for a ``--config`` whose default is ``DEFAULT_CONFIG``: that default's
    absence is a usage error saying how to fix it (run outside the repository, say); a path
    given explicitly is read, and reported, by the settings loader."""
    if text == DEFAULT_CONFIG and not Path(text).exists():
        raise argparse.ArgumentTypeError(
            f"no --config given and the default {text} is not under {Path.cwd()}: "
            "run from the repository root or pass --config FILE"
        )
    return Path(text)


def readable_config_file(text: str) -> Path:
    """``config_file``, then ``readable_file``: checked before any work starts (``demo``)."""
    return readable_file(str(config_file(text)))


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"{value} is below {low}")
    return value


def guarded(
    command: Callable[[], int],
    *,
    prog: str,
    config_exit: int = EXIT_FAILURE,
    log_crash: bool = False,
) -> int:
    """Run ``command``; turn every way it can fail into one stderr line and an exit status.

    ``config_exit`` is the status for our own errors (``check-config`` uses 2, as for usage).
    ``log_crash`` (``run``, whose logs are collected) also logs an unexpected error as one
    ``consumer.crashed`` event with its stack frames, for the bug report the line asks for.
    """
    try:
        status = command()
        sys.stdout.flush()  # a reader gone shows here, not in Python's exit handler
    except ConsumerError as exc:
        return _fail(prog, str(exc), config_exit)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return _broken_pipe()
    except UnicodeDecodeError as exc:
        return _fail(
            prog, f"input is not UTF-8 text (byte {exc.start} is {exc.object[exc.start]:#04x})"
        )
    except json.JSONDecodeError as exc:
        return _fail(prog, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(prog, f"{where}{exc.strerror or type(exc).__name__}")
    except Exception as exc:  # noqa: BLE001  # the last net under "no traceback on any input"
        return _unexpected(prog, exc, log_crash=log_crash)
    return status


def _fail(prog: str, message: str, status: int = EXIT_FAILURE) -> int:
    _stderr(f"{prog}: error: {one_line(message)}\n")
    return status


def _broken_pipe() -> int:
    """Stdout's reader went away (``| head``): stop quietly, as Unix tools do.

    Python would report the failed flush of stdout again at exit; point stdout at /dev/null so
    nothing is left to flush.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_BROKEN_PIPE


def _unexpected(prog: str, exc: Exception, *, log_crash: bool) -> int:
    """A bug, not an input problem: name the exception and where it was raised, not its text."""
    if os.environ.get(TRACEBACK_ENV) == "1":
        traceback.print_exception(exc)
        return EXIT_FAILURE
    frames = [
        f"{os.path.basename(frame.filename)}:{frame.lineno} {frame.name}"
        for frame in traceback.extract_tb(exc.__traceback__)
    ][-_MAX_FRAMES:]
    if log_crash:
        structlog.get_logger("consumer.cli").error(
            "consumer.crashed", error_type=type(exc).__name__, frames=frames
        )
    where = f" at {frames[-1]}" if frames else ""
    return _fail(
        prog,
        f"unexpected {type(exc).__name__}{where}; this is a bug, please report it "
        f"(rerun with {TRACEBACK_ENV}=1 for the traceback)",
    )


def _stderr(text: str) -> None:
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except OSError:  # stderr gone too: nothing left to tell
        pass
