"""Pure: the Graph API versions Meta has published and when each stops being served.

Source: Meta's Graph API changelog, "Available Graph API Versions"
(https://developers.facebook.com/documentation/development/graph-api/changelog, page updated
2026-10-29; the same dates are on https://developers.facebook.com/docs/graph-api/changelog/versions/),
checked on 2026-12-01. The Conversions API follows the Graph API schedule (capi.md §1.1). "TBD" in
the changelog is ``None`` here: Meta has not announced an end, so nothing warns.

Policy for versions missing from the table (documented in docs/operations.md "Graph API versions"):

- **newer** than the newest listed version: accepted, with an info note (Meta released it after
  this table was written; its end date is not known here);
- **older** than the newest listed version: refused like an expired one. Meta lists every version
  it still serves, so a missing older version was retired long ago or never existed.

Update the table (and ``CHECKED_ON``) when Meta publishes a version or an end date.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import date

__all__ = [
    "CHECKED_ON",
    "KNOWN_VERSIONS",
    "RECOMMENDED_VERSION",
    "SOURCE_URL",
    "WARN_WITHIN_DAYS",
    "GraphVersion",
    "Standing",
    "VersionCheck",
    "check_version",
    "version_key",
]

SOURCE_URL = "https://developers.facebook.com/documentation/development/graph-api/changelog"
CHECKED_ON = date(2026, 12, 1)
# Warn this long before the end: a quarter leaves time to test an upgrade and roll it out.
WARN_WITHIN_DAYS = 90
# The default: the newest version with a published end date at least 18 months away
# (v25.0 until 2028-07-29: 20 months from CHECKED_ON).
RECOMMENDED_VERSION = "v25.0"
_VERSION = re.compile(r"v(\d+)\.(\d+)")


@dataclass(frozen=True, slots=True)
class GraphVersion:
    """One published version: when Meta introduced it and the last day it is available."""

    name: str
    introduced: date
    available_until: date | None  # None: "TBD" in the changelog


KNOWN_VERSIONS: tuple[GraphVersion, ...] = (
    GraphVersion("v27.0", date(2026, 11, 4), None),
    GraphVersion("v26.0", date(2026, 7, 29), None),
    GraphVersion("v25.0", date(2026, 2, 18), date(2028, 7, 29)),
    GraphVersion("v24.0", date(2025, 10, 8), date(2028, 2, 18)),
    GraphVersion("v23.0", date(2025, 5, 29), date(2027, 10, 8)),
    GraphVersion("v22.0", date(2025, 1, 21), date(2027, 5, 20)),
    GraphVersion("v21.0", date(2024, 10, 2), date(2027, 1, 21)),
    GraphVersion("v20.0", date(2024, 5, 21), date(2026, 9, 24)),
    GraphVersion("v19.0", date(2024, 1, 23), date(2026, 5, 21)),
    GraphVersion("v18.0", date(2023, 9, 12), date(2026, 1, 26)),
    GraphVersion("v17.0", date(2023, 5, 23), date(2025, 9, 12)),
    GraphVersion("v16.0", date(2023, 2, 2), date(2025, 5, 14)),
)
_BY_NAME = {version.name: version for version in KNOWN_VERSIONS}


class Standing(enum.Enum):
    SUPPORTED = "supported"  # listed, and its end is more than WARN_WITHIN_DAYS away (or TBD)
    EXPIRING = "expiring"  # listed, ends within WARN_WITHIN_DAYS: warn
    EXPIRED = "expired"  # past its end, or an unlisted older version: refuse
    UNLISTED_NEWER = "unlisted_newer"  # newer than the table: accept, note it


@dataclass(frozen=True, slots=True)
class VersionCheck:
    """Where one version stands on a given day."""

    version: str
    standing: Standing
    available_until: date | None = None
    days_left: int | None = None  # until available_until (0 or less: gone)

    @property
    def refused(self) -> bool:
        return self.standing is Standing.EXPIRED


def version_key(version: str) -> tuple[int, int]:
    """``"v25.0"`` -> ``(25, 0)``; ValueError for anything that is not ``v<major>.<minor>``."""
    match = _VERSION.fullmatch(version)
    if match is None:
        raise ValueError(f"not a Graph API version: {version!r}")
    return int(match[1]), int(match[2])


def check_version(version: str, today: date) -> VersionCheck:
    """The standing of ``version`` on ``today``.

    The end date counts as gone: Meta retires a version on the day the changelog names (the
    release day of the version two years newer), so ``days_left`` 0 is already expired.
    """
    known = _BY_NAME.get(version)
    if known is None:
        newest = max(version_key(v.name) for v in KNOWN_VERSIONS)
        if version_key(version) > newest:
            return VersionCheck(version, Standing.UNLISTED_NEWER)
        return VersionCheck(version, Standing.EXPIRED)
    until = known.available_until
    if until is None:
        return VersionCheck(version, Standing.SUPPORTED)
    days_left = (until - today).days
    if days_left <= 0:
        standing = Standing.EXPIRED
    elif days_left <= WARN_WITHIN_DAYS:
        standing = Standing.EXPIRING
    else:
        standing = Standing.SUPPORTED
    return VersionCheck(version, standing, until, days_left)
