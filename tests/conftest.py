"""Shared fixtures. Dev-stack processes come from tests/fixtures (started by the tests themselves)."""

from __future__ import annotations

import pytest

pytest_plugins = [
    "tests.fixtures.devstack",
    "tests.fixtures.emulator",
    "tests.fixtures.faults",
    "tests.fixtures.factories",
    "tests.fixtures.pipeline",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Hypothesis tests are marked ``property``: ``make test`` runs them on the pure build too."""
    for item in items:
        if getattr(getattr(item, "obj", None), "is_hypothesis_test", False):
            item.add_marker(pytest.mark.property)
