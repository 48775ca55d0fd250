"""The runbook (docs/operations.md) explains every warning the consumer logs and every
readiness reason /readyz can give."""

from __future__ import annotations

import re
from pathlib import Path

from consumer.health import READINESS_REASONS

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = (ROOT / "docs" / "operations.md").read_text()
# A warning or error call with a literal event name, possibly on the next line.
_WARNING_CALL = re.compile(r'(?:faults\.warn|log\.warning|log\.error)\(\s*"([a-z_.]+)"')
_DYNAMIC = ("offsets.not_stored", "offsets.not_committed")  # chosen at run time in source.py


def warning_events() -> set[str]:
    """Every warning event name the consumer's own modules log (the dev stack excluded)."""
    found = set(_DYNAMIC)
    for path in (ROOT / "consumer").rglob("*.py"):
        if "devstack" not in path.parts:
            found |= set(_WARNING_CALL.findall(path.read_text()))
    return found


def runbook_rows() -> set[str]:
    """Every backticked name in the first cell of a runbook table row."""
    cells = re.findall(r"^\| ([^|]+)\|", RUNBOOK, re.M)
    return {name for cell in cells for name in re.findall(r"`([a-z_.]+)`", cell)}


def test_every_warning_has_a_runbook_row() -> None:
    """A new warning needs a row saying what it means and what to do."""
    assert set() == warning_events() - runbook_rows()


def test_the_scan_finds_the_warnings() -> None:
    """The scan sees the fault lines (so the test above cannot pass on an empty set)."""
    assert {"capi.retrying", "capi.throttled", "consumption.paused", "readiness.failing"} <= (
        warning_events()
    )


def test_every_readiness_reason_has_a_runbook_row() -> None:
    """Each /readyz reason is explained."""
    assert set() == set(READINESS_REASONS) - runbook_rows()
