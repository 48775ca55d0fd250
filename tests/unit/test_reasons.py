"""The dead-letter reason table: closed, complete, and the runbook (docs/operations.md) lists all of it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from consumer.reasons import FAMILIES, REASONS, describe, runbook_rows

ROOT = Path(__file__).resolve().parents[2]
# A reason literal: "decode.x", "mapping.x", "invalid.x" as the first argument of a record error.
_LITERAL = re.compile(r'"((?:decode|mapping|invalid)\.[a-z_]+)"')
_SEND_REASONS = {"rejected", "request_rejected", "auth", "retries_exhausted"}


def _reasons_in_code() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "consumer").rglob("*.py"):  # the core and the shells
        if path.name != "reasons.py" and "devstack" not in path.parts:
            found.update(_LITERAL.findall(path.read_text()))
    return found


class TestReasonTable:
    def test_every_reason_in_code_is_documented(self) -> None:
        """Every reason code the consumer can produce has its own entry in REASONS."""
        undocumented = (_reasons_in_code() | _SEND_REASONS) - REASONS.keys()

        assert set() == undocumented

    @pytest.mark.parametrize("reason", ["invalid.some_new_rule", "decode.future_framing"])
    def test_unknown_member_falls_back_to_family(self, reason: str) -> None:
        """A reason not in the table is explained by its family's entry."""
        assert FAMILIES[reason.split(".")[0]] == describe(reason)

    def test_foreign_reason_is_explained_generically(self) -> None:
        """A reason from no known family still gets a meaning and an action."""
        info = describe("martian")

        assert (False, True) == (info.replay_helps, "consumer_version" in info.action)

    def test_readme_runbook_lists_every_reason(self) -> None:
        """The runbook table (docs/operations.md) has a row for every family and every reason."""
        readme = (ROOT / "docs" / "operations.md").read_text()

        missing = [reason for reason, _, _ in runbook_rows() if f"`{reason}`" not in readme]

        assert [] == missing
