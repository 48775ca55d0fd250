"""The emulator's child-process handle: the shared EmbeddedService lifecycle, pixels file, imports."""

# Asserts read ``expected == actual`` (STYLE.md), which is exactly what SIM300 forbids.

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from consumer.devstack.emulator import EmbeddedEmulator
from consumer.devstack.procs import port_open
from consumer.errors import DevStackError
from tests.fixtures.emulator import EMULATOR_PIXELS, PIXEL_PLAIN

pytestmark = pytest.mark.integration

TOKEN = str(EMULATOR_PIXELS[PIXEL_PLAIN]["access_token"])
_BATCH = {"data": [{"event_name": "Lead", "event_time": 1, "action_source": "website"}]}


class TestLifecycle:
    def test_restart_keeps_port_and_pixels(self) -> None:
        """restart() brings the emulator back on the same port and URL with the same pixels."""
        with EmbeddedEmulator(EMULATOR_PIXELS, light=True) as emulator:
            url, pid = emulator.url, emulator.pid

            assert url == emulator.restart()

            status, _ = emulator.client.post_events(PIXEL_PLAIN, _BATCH, access_token=TOKEN)
            assert (True, True, 200) == (emulator.running, emulator.pid != pid, status)

    def test_kill_ends_the_child_at_once(self) -> None:
        """kill() SIGKILLs the child: the port closes, the handle forgets it, start() works again."""
        emulator = EmbeddedEmulator(EMULATOR_PIXELS)
        emulator.start()
        try:
            emulator.kill()

            assert (None, False) == (emulator.pid, port_open(emulator.host, emulator.port))
            emulator.start()
            assert emulator.client.healthy()
        finally:
            emulator.stop()

    def test_start_twice_keeps_one_child(self) -> None:
        """A second start() on a running emulator returns its URL and starts nothing."""
        with EmbeddedEmulator(EMULATOR_PIXELS) as emulator:
            pid = emulator.pid

            assert (emulator.url, pid) == (emulator.start(), emulator.pid)


class TestPixelsFile:
    def test_removed_when_the_child_fails(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A child that exits at start (invalid pixels) still leaves no pixels file behind."""
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
        emulator = EmbeddedEmulator({PIXEL_PLAIN: {"access_token": ""}})

        with pytest.raises(DevStackError, match="exited with"):
            emulator.start()

        emulator.stop()
        assert [] == sorted(p.name for p in tmp_path.glob("capi-emulator-pixels-*"))

    def test_removed_when_start_times_out(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A start that gives up before the child is ready stops it and removes the file."""
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
        emulator = EmbeddedEmulator(EMULATOR_PIXELS)

        with pytest.raises(DevStackError, match="not ready"):
            emulator.start(timeout=0.001)

        assert (False, []) == (
            emulator.running,
            sorted(p.name for p in tmp_path.glob("capi-emulator-pixels-*")),
        )


def test_emulator_imports_no_consumer_logic() -> None:
    """The emulator server loads only consumer.errors, the CLI's error rules and the dev stack,
    never mapping/validation."""
    probe = (
        "import json, sys, consumer.devstack.emulator;"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('consumer'))))"
    )
    output = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, check=True, text=True
    ).stdout
    loaded = json.loads(output)

    # cli_errors: one-line usage errors for every subcommand (imports consumer.errors only)
    allowed = {"consumer", "consumer.errors", "consumer.cli_errors", "consumer.devstack"}
    assert [] == [m for m in loaded if m not in allowed and not m.startswith("consumer.devstack.")]
    assert "consumer.devstack.emulator" in loaded
