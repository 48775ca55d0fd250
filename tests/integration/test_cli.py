"""The command line as a user runs it: check-config and the demo, in real subprocesses."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

PIXELS = ("1000000000000001", "1000000000000002", "1000000000000003")


def _cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "consumer", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def _pids_with_env(marker: str) -> set[int]:
    """PIDs of running processes whose environment carries ``marker`` (inherited by children)."""
    needle = marker.encode()
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes():
                found.add(int(entry.name))
        except OSError:
            continue
    return found


class TestCheckConfig:
    def test_valid_config_printed_masked(self) -> None:
        """check-config prints the effective settings with every secret masked and exits 0."""
        env = {f"CAPI_PIXELS__{pixel}__ACCESS_TOKEN": f"secret-{pixel}" for pixel in PIXELS}

        result = _cli("check-config", "config/example.yaml", env=env)

        assert (0, False) == (result.returncode, "secret-" in result.stdout)
        assert "***" == json.loads(result.stdout)["pixels"][PIXELS[0]]["access_token"]

    def test_invalid_config_one_line(self, tmp_path: Path) -> None:
        """An invalid file gives one line naming the field and a non-zero exit, no traceback."""
        bad = tmp_path / "bad.yaml"
        bad.write_text("batch: {max_events: 0}\n")

        result = _cli("check-config", str(bad))

        assert 2 == result.returncode
        assert 1 == len(result.stderr.strip().splitlines())
        assert result.stderr.startswith("capi-consumer: error: batch.max_events:")

    def test_missing_file(self, tmp_path: Path) -> None:
        """A missing file is a one-line error too."""
        result = _cli("check-config", str(tmp_path / "nope.yaml"))

        assert (2, True) == (result.returncode, "cannot read config file" in result.stderr)


class TestDemo:
    def test_demo_runs_and_cleans_up(self) -> None:
        """The demo exits 0, reports the expected events, and leaves no process behind."""
        mark = uuid.uuid4().hex
        env = dict.fromkeys(("KAFKA_BOOTSTRAP", "SCHEMA_REGISTRY_URL", "REDIS_URL"), "")
        env["CAPI_TEST_MARK"] = mark

        result = _cli("demo", "--orders", "40", "--leads", "10", env=env, timeout=180)

        assert 0 == result.returncode, result.stdout + result.stderr[-2000:]
        assert "emulator received exactly the expected events: yes" in result.stdout
        assert re.search(r"Meta EMQ \(emulator\) .*\d{4}/Purchase \d+\.\d", result.stdout)
        assert re.search(r"EMQ estimate .*\d{4}/Purchase \d+\.\d", result.stdout)
        sent_per_pixel = re.findall(r"\d+: \d+ in (\d+) (batch(?:es)?)", result.stdout)
        assert sent_per_pixel
        assert all((n == "1") == (word == "batch") for n, word in sent_per_pixel), sent_per_pixel
        assert set() == _pids_with_env(f"CAPI_TEST_MARK={mark}")
