"""How a command's failures become one stderr line and an exit status (``cli_errors``)."""

from __future__ import annotations

import argparse
import errno

import pytest
import structlog

from consumer.cli_errors import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    OneLineParser,
    guarded,
    one_line,
    positive_int,
)
from consumer.errors import ConfigError

SECRET = "jane.doe@mail.example"


def _raise(exc: BaseException) -> int:
    raise exc


class TestGuarded:
    @pytest.mark.parametrize(
        ("exc", "status", "line"),
        [
            (ConfigError("a.b: bad\nsecond line"), EXIT_USAGE, "prog: error: a.b: bad second line"),
            (
                FileNotFoundError(errno.ENOENT, "No such file or directory", "/x.json"),
                EXIT_FAILURE,
                "prog: error: /x.json: No such file or directory",
            ),
            (
                UnicodeDecodeError("utf-8", b"ab\xff", 2, 3, "invalid start byte"),
                EXIT_FAILURE,
                "prog: error: input is not UTF-8 text (byte 2 is 0xff)",
            ),
        ],
        ids=["ours", "os", "unicode"],
    )
    def test_known_failures_are_one_line(
        self,
        capsys: pytest.CaptureFixture[str],
        exc: Exception,
        status: int,
        line: str,
    ) -> None:
        """Our errors, OS errors and undecodable input: one line naming the problem."""
        code = guarded(lambda: _raise(exc), prog="prog", config_exit=EXIT_USAGE)

        assert (status, line + "\n") == (code, capsys.readouterr().err)

    def test_unexpected_error_names_its_type_not_its_text(
        self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A bug's message may quote a record value: the line names the type and place only."""
        monkeypatch.delenv("CAPI_TRACEBACK", raising=False)

        code = guarded(lambda: _raise(ValueError(f"{SECRET!r} is not in list")), prog="prog")

        err = capsys.readouterr().err
        assert (EXIT_FAILURE, 1, False) == (code, len(err.splitlines()), SECRET in err)
        assert "unexpected ValueError at test_cli_errors.py:" in err
        assert err.rstrip().endswith(
            "_raise; this is a bug, please report it (rerun with CAPI_TRACEBACK=1 for the traceback)"
        )

    def test_a_crash_of_run_is_logged_with_its_frames(
        self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """``run`` logs one ``consumer.crashed`` event: type and frames, never the message."""
        monkeypatch.delenv("CAPI_TRACEBACK", raising=False)

        with structlog.testing.capture_logs() as events:
            guarded(lambda: _raise(KeyError(SECRET)), prog="p", log_crash=True)

        [event] = events
        assert ("consumer.crashed", "KeyError", False) == (
            event["event"],
            event["error_type"],
            SECRET in str(event),
        )
        assert event["frames"][-1].endswith(" _raise")

    def test_ctrl_c(self) -> None:
        """Ctrl-C exits 130, as a shell reports it."""
        assert EXIT_INTERRUPTED == guarded(lambda: _raise(KeyboardInterrupt()), prog="p")


class TestParser:
    def test_usage_error_is_one_line(self, capsys: pytest.CaptureFixture[str]) -> None:
        """argparse's usage block is left out; the line points at -h."""
        parser = OneLineParser(prog="prog")
        parser.add_argument("--limit", type=positive_int)

        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args(["--limit", "-3"])

        assert (EXIT_USAGE, "prog: error: argument --limit: -3 is below 1 (see prog -h)\n") == (
            exit_info.value.code,
            capsys.readouterr().err,
        )

    def test_positive_int_refuses_text(self) -> None:
        """A limit must be a whole number."""
        with pytest.raises(argparse.ArgumentTypeError, match="'ten' is not a whole number"):
            positive_int("ten")


def test_one_line_is_bounded() -> None:
    """Whitespace runs collapse to one space; a huge message is cut."""
    assert "a b c" == one_line("a\n  b\tc\n")
    assert 600 == len(one_line("x" * 10_000))
