"""Shared fixtures. Dev-stack processes come from tests/fixtures (started by the tests themselves)."""

from __future__ import annotations

pytest_plugins = [
    "tests.fixtures.devstack",
    "tests.fixtures.emulator",
    "tests.fixtures.faults",
    "tests.fixtures.factories",
    "tests.fixtures.pipeline",
]
