"""The CAPI emulator's Graph API version gate: refuses versions Meta no longer serves (pure).

The emulator's own copy of Meta's schedule (it shares nothing with the consumer): "Available
Graph API Versions" in https://developers.facebook.com/documentation/development/graph-api/changelog,
checked 2026-12-01. A version is gone on its end date. An unlisted version newer than the table is
served (Meta released it later); an unlisted older one is refused. Tests and the demo can force
versions either way through ``PUT /_emulator/versions`` (``refused`` / ``accepted`` lists).

Meta's answer for a retired version (HTTP 400): ``{"error": {"message": "(#2635) You are calling a
deprecated version of the Ads API. Please update to the latest version: v27.0.", "type":
"OAuthException", "code": 2635, ...}}`` (e.g. facebook/facebook-nodejs-business-sdk issue 178).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from consumer.devstack.emulator_errors import GraphError

__all__ = ["END_DATES", "VersionGate", "deprecated_version"]

END_DATES: dict[str, date | None] = {  # version -> first day Meta refuses it (None: TBD)
    "v27.0": None,
    "v26.0": None,
    "v25.0": date(2028, 7, 29),
    "v24.0": date(2028, 2, 18),
    "v23.0": date(2027, 10, 8),
    "v22.0": date(2027, 5, 20),
    "v21.0": date(2027, 1, 21),
    "v20.0": date(2026, 9, 24),
    "v19.0": date(2026, 5, 21),
    "v18.0": date(2026, 1, 26),
    "v17.0": date(2025, 9, 12),
    "v16.0": date(2025, 5, 14),
}
_LATEST = "v27.0"
_NUMBERS = re.compile(r"v(\d+)\.(\d+)")


def _key(version: str) -> tuple[int, int]:
    match = _NUMBERS.fullmatch(version)
    return (int(match[1]), int(match[2])) if match else (0, 0)


def deprecated_version() -> GraphError:
    """Code 2635: the version in the path is no longer served."""
    return GraphError(
        code=2635,
        message=(
            "(#2635) You are calling a deprecated version of the Ads API. Please update to the "
            f"latest version: {_LATEST}."
        ),
        rule="request.version_deprecated",
    )


@dataclass(slots=True)
class VersionGate:
    """Decides whether a version is served at a given time; overrides win over the table."""

    refused: set[str] = field(default_factory=set)
    accepted: set[str] = field(default_factory=set)

    def set_overrides(self, refused: Iterable[str], accepted: Iterable[str]) -> None:
        """Replace the forced lists (both empty: the table alone decides)."""
        self.refused, self.accepted = set(refused), set(accepted)

    def check(self, version: str, now: float) -> GraphError | None:
        """None when ``version`` is served at Unix time ``now``, else Meta's 2635 answer."""
        if version in self.refused:
            return deprecated_version()
        if version in self.accepted:
            return None
        if version not in END_DATES:
            newer = _key(version) > max(_key(known) for known in END_DATES)
            return None if newer else deprecated_version()
        end = END_DATES[version]
        if end is not None and datetime.fromtimestamp(now, UTC).date() >= end:
            return deprecated_version()
        return None

    def to_dict(self) -> dict[str, list[str]]:
        return {"refused": sorted(self.refused), "accepted": sorted(self.accepted)}
