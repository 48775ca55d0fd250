"""Every ``capi-consumer`` failure without a broker: one stderr line naming it, a non-zero exit,
no traceback, whatever the input (the real command, in a subprocess)."""

from __future__ import annotations

import datetime as dt
import io
import json
import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import fastavro
import pytest

from consumer.schemas import load_reader_schemas
from tests.fixtures.factories import make_order
from tests.integration.cli_support import assert_one_line_failure, cli, cli_popen

READER = load_reader_schemas(Path("schemas"))["order"]
EMAIL = "jane.doe@mail.example"
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for `yes | head`


def _json_line(**overrides: Any) -> str:
    occurred = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    buffer = io.StringIO()
    fastavro.json_writer(buffer, READER, [make_order(**{"occurred_at": occurred, **overrides})])
    return buffer.getvalue().strip()


def _random_bytes(size: int = 4096) -> bytes:
    return random.Random(13).randbytes(size)  # test data, not a secret


@pytest.fixture(name="random_file")
def _random_file(tmp_path: Path) -> Path:
    path = tmp_path / "random.bin"
    path.write_bytes(_random_bytes())
    return path


class TestConfigFiles:
    @pytest.mark.parametrize("command", [["check-config"], ["run", "--config"]])
    @pytest.mark.parametrize(
        ("content", "names"),
        [
            (b'kafka:\n  bootstrap_servers: "\xff\xfe"\n', "not UTF-8 text (byte 29)"),
            (
                b"kafka: [\n",
                "expected the node content, but found '<stream end>' (line 2, column 1)",
            ),
            (b"- a\n- b\n", "the top level must be a mapping"),
            (b"", "the file is empty (write {} for all defaults)"),
            (b"# only a comment\n", "the file is empty"),
            (b"kafka: {bootstrap_servers: 7, nosuch: 1}\n", "kafka.nosuch"),
        ],
        ids=["not-utf8", "bad-yaml", "not-a-mapping", "empty", "comment-only", "bad-field"],
    )
    def test_bad_file(self, tmp_path: Path, command: list[str], content: bytes, names: str) -> None:
        """A config file that is not UTF-8, not YAML, not a mapping or not valid is one line."""
        path = tmp_path / "config.yaml"
        path.write_bytes(content)

        result = cli(*command, str(path))

        assert_one_line_failure(result, 2 if command == ["check-config"] else 1, names)

    @pytest.mark.parametrize(
        "command",
        [
            ["check-config"],
            ["run", "--config"],
            ["dlq", "stats", "--config"],
            ["dlq", "show", "--config"],
            ["dlq", "replay", "--config"],
            ["preview", "--type", "order", "--config"],
        ],
    )
    @pytest.mark.parametrize("where", ["missing", "directory"])
    def test_missing_file_or_directory(
        self, tmp_path: Path, command: list[str], where: str
    ) -> None:
        """Every command that reads a config names the path and why it cannot read it."""
        path = tmp_path / "nope.yaml" if where == "missing" else tmp_path
        extra = [str(_write(tmp_path / "in.jsonl", ""))] if command[0] == "preview" else []

        result = cli(*command, str(path), *extra)

        why = "No such file or directory" if where == "missing" else "Is a directory"
        assert_one_line_failure(result, 2 if command == ["check-config"] else 1, why)


class TestUsage:
    @pytest.mark.parametrize(
        ("args", "names"),
        [
            (["nosuch"], "invalid choice: 'nosuch'"),
            (["run", "--config", "x.yaml", "--bogus"], "unrecognized arguments: --bogus"),
            (
                ["preview", "--type", "order", "--now", "soon"],
                "argument --now: 'soon' is not a number",
            ),
            (["preview", "--type", "event"], "invalid choice: 'event'"),
            (["preview", "--type", "order", "--now", "nan"], "'nan' is not a finite number"),
            (["preview", "--type", "order", "--registry", "reg:8081"], "not an http(s) URL"),
            (["demo", "--orders", "-1"], "argument --orders: -1 is below 0"),
            (["demo", "--leads", "many"], "argument --leads: 'many' is not a whole number"),
            (["demo", "--config", "/nonexistent.yaml"], "/nonexistent.yaml: no such file"),
            (["demo", "--config", "/"], "argument --config: /: not a file"),
            (["dlq", "show", "--config", "x.yaml", "--limit", "-1"], "--limit: -1 is below 1"),
            (["dlq", "show", "--config", "x.yaml", "--limit", "0"], "--limit: 0 is below 1"),
            (["dlq", "replay", "--config", "x.yaml", "--limit", "-1"], "--limit: -1 is below 1"),
            (["dlq", "stats"], "the following arguments are required: --config"),
            (["dlq"], "the following arguments are required: dlq_command"),
            (["emulator", "--port", "http"], "argument --port: 'http' is not a whole number"),
            (["emulator", "--port", "99999"], "argument --port: 99999 is above 65535"),
        ],
    )
    def test_bad_flags_are_one_line(self, args: list[str], names: str) -> None:
        """argparse's usage errors are one line (no usage block) with exit status 2."""
        assert_one_line_failure(cli(*args), 2, names)

    @pytest.mark.parametrize(
        ("program", "names"),
        [
            (["-m", "consumer.devstack.registry", "--bogus"], "unrecognized arguments: --bogus"),
            (["-m", "consumer.devstack.registry", "--port", "70000"], "70000 is above 65535"),
            (["scripts/generate_decoders.py", "--chek"], "unknown arguments '--chek'"),
            (["-m", "bench.relay", "--help"], "usage: python -m bench.relay BOOTSTRAP"),
            (["-m", "bench", "e2", "core"], "unknown benchmark 'e2'"),
        ],
    )
    def test_the_helper_programs_too(self, program: list[str], names: str) -> None:
        """The registry double, the decoder generator and the benchmarks (run from the
        repository root, as their docs say) refuse bad arguments in one line, exit 2."""
        done = subprocess.run(
            [sys.executable, *program],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=Path(__file__).resolve().parents[2],
        )

        assert_one_line_failure(done, 2, names)

    @pytest.mark.parametrize("command", [["demo"], ["preview", "--type", "order"]])
    def test_the_default_config_missing_outside_the_repository(
        self, tmp_path: Path, command: list[str]
    ) -> None:
        """demo and preview default to config/example.yaml: run elsewhere without --config, they
        say so before any work starts (demo used to start the whole stack first)."""
        result = cli(*command, cwd=tmp_path)

        assert_one_line_failure(
            result,
            2,
            f"argument --config: no --config given and the default config/example.yaml is not "
            f"under {tmp_path}: run from the repository root or pass --config FILE",
        )

    def test_emulator_takes_its_own_options(self) -> None:
        """``capi-consumer emulator --port 0 ...`` (as docker-compose runs it) serves the emulator."""
        process = cli_popen("emulator", "--host", "127.0.0.1", "--port", "0", "--light")
        assert process.stdout is not None
        try:
            first = process.stdout.readline().decode()
        finally:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=30)
        status = process.returncode

        assert (True, 0) == (first.startswith("capi emulator listening on http://"), status)

    def test_emulator_pixels_file_missing(self, tmp_path: Path) -> None:
        """The emulator's unreadable pixels file is one line too."""
        result = cli("emulator", "--pixels-file", str(tmp_path / "pixels.json"))

        assert_one_line_failure(result, 1, "pixels.json: No such file or directory")

    def test_emulator_pixels_file_not_json(self, tmp_path: Path) -> None:
        """... and so is one that is not JSON."""
        result = cli("emulator", "--pixels-file", str(_write(tmp_path / "p.json", "{oops")))

        assert_one_line_failure(result, 1, "not valid JSON")


class TestPreviewInput:
    def test_random_bytes_as_json_lines(self, random_file: Path) -> None:
        """Random bytes are not text: one line naming the line, exit 1, no UnicodeDecodeError."""
        result = cli("preview", "--type", "order", str(random_file))

        assert_one_line_failure(result, 1, "not UTF-8 text", lines=2)
        assert "UnicodeDecodeError" not in result.stderr

    def test_random_bytes_on_stdin(self) -> None:
        """The same from stdin."""
        result = cli("preview", "--type", "order", stdin=_random_bytes())

        assert_one_line_failure(result, 1, "not UTF-8 text", lines=2)

    def test_random_bytes_as_binary(self, random_file: Path) -> None:
        """Random bytes given as Confluent frames stop at the first frame, one line."""
        result = cli("preview", "--type", "order", "--binary", str(random_file))

        assert_one_line_failure(result, 1, "frame 1: byte 0: not a Confluent frame")

    def test_frame_of_another_schema(self, tmp_path: Path) -> None:
        """An order frame read as a lead is named as not valid Avro, without Python's error."""
        buffer = io.BytesIO()
        buffer.write(b"\x00\x00\x00\x00\x01")
        fastavro.schemaless_writer(buffer, READER, make_order())
        path = tmp_path / "order.bin"
        path.write_bytes(buffer.getvalue())

        result = cli("preview", "--type", "lead", "--binary", str(path))

        assert_one_line_failure(result, 1, "frame 1: byte 0: not valid Avro for its schema")
        assert "Error" not in result.stderr

    def test_a_good_line_before_bad_bytes_is_still_previewed(self, tmp_path: Path) -> None:
        """Records before the first non-UTF-8 line are reported; the bad line stops the input."""
        path = tmp_path / "mixed.jsonl"
        path.write_bytes(_json_line().encode() + b"\n\xff\xfe garbage\n" + _json_line().encode())

        result = cli("preview", "--type", "order", str(path))

        assert_one_line_failure(result, 1, "line 2: not UTF-8 text (character 1)")
        assert 1 == result.stdout.count('"outcome": "valid"')

    def test_input_is_a_directory(self, tmp_path: Path) -> None:
        """A directory as input names itself as not a file."""
        assert_one_line_failure(cli("preview", "--type", "order", str(tmp_path)), 2, "not a file")

    @pytest.mark.parametrize(
        ("change", "names"),
        [
            ({"status": EMAIL}, "does not match the schema"),
            ({"customer": {"bad": EMAIL}}, "does not match the schema"),
            ({"occurred_at": EMAIL}, "does not match the schema"),
        ],
        ids=["enum", "union", "long"],
    )
    def test_problem_texts_quote_no_value(
        self, tmp_path: Path, change: dict[str, Any], names: str
    ) -> None:
        """A record value that does not fit the schema is named as a problem, never quoted."""
        path = _write(tmp_path / "in.jsonl", json.dumps({**json.loads(_json_line()), **change}))

        result = cli("preview", "--type", "order", str(path))

        assert_one_line_failure(result, 1, names)
        assert (EMAIL not in result.stderr, "is not in list" in result.stderr) == (True, False)

    @pytest.mark.parametrize(
        ("order_id", "reason"),
        [("x" * 10_000_000, "decode.oversize"), ("x" * 70_000, "decode.string_too_long")],
        ids=["10MB", "70KB"],
    )
    def test_the_topic_limits_apply(self, tmp_path: Path, order_id: str, reason: str) -> None:
        """An order_id the consumer would dead-letter is reported dead-lettered with its reason."""
        path = _write(tmp_path / "big.jsonl", _json_line(order_id=order_id))

        result = cli("preview", "--type", "order", str(path))

        report = json.loads(result.stdout)
        assert (0, "dead_lettered", reason) == (
            result.returncode,
            report["outcome"],
            report["reason"],
        )


class TestBrokenPipe:
    def test_preview_into_a_closed_pipe_stops_quietly(self, tmp_path: Path) -> None:
        """``preview ... | head`` ends quietly when head stops reading: no BrokenPipeError."""
        path = _write(tmp_path / "many.jsonl", "\n".join([_json_line()] * 3000))
        process = cli_popen("preview", "--type", "order", str(path))
        assert process.stdout is not None and process.stderr is not None

        head = process.stdout.read(200)
        process.stdout.close()  # what `head -c 200` does
        err = process.stderr.read().decode()
        process.stderr.close()
        status = process.wait(60)

        assert (True, EXIT_BROKEN_PIPE, "") == (head.startswith(b"{"), status, err)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_file_of_garbage_text_names_its_first_problems(tmp_path: Path) -> None:
    """Text that is not JSON is reported line by line up to a bound, then counted."""
    path = _write(tmp_path / "garbage.txt", "\n".join(f"garbage {n}" for n in range(100)))

    result = cli("preview", "--type", "order", str(path))

    err = result.stderr.strip().splitlines()
    assert (1, 21) == (result.returncode, len(err))
    assert "80 more input problem(s) not shown" in err[-1]


@pytest.mark.parametrize("command", ["check-config", "preview"])
def test_reader_gone_before_the_first_write(tmp_path: Path, command: str) -> None:
    """Output buffered for a reader that has already gone ends quietly too (flushed inside the
    command, not in Python's exit handler, which would print ``Exception ignored``)."""
    config = _write(tmp_path / "config.yaml", "batch: {max_events: 10}\n")
    args = (
        ["check-config", str(config)]
        if command == "check-config"
        else ["preview", "--type", "order"]
    )
    process = cli_popen(*args, stdin=_json_line().encode())
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()

    err = process.stderr.read().decode()
    process.stderr.close()
    status = process.wait(60)

    assert (EXIT_BROKEN_PIPE, "") == (status, err)
