"""Check every pixel's Graph API version against Meta's schedule, for ``check-config`` and ``run``.

A pixel on an expired (or unlisted older) version is a configuration error: one line naming the
pixel, the version and the fix. A version that ends within 90 days is a warning; a version newer
than our table is an info note. The day comes from an injected clock (UTC).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

import structlog

from consumer.core.graph_versions import RECOMMENDED_VERSION, Standing, VersionCheck, check_version
from consumer.errors import ConfigError
from consumer.settings import PixelSettings

__all__ = ["VersionNote", "check_pixel_versions", "log_version_notes", "today_utc"]

log = structlog.get_logger("consumer.versions")
_RUNBOOK = 'docs/operations.md "Graph API versions"'


@dataclass(frozen=True, slots=True)
class VersionNote:
    """A warning or info line about one pixel's version (expired ones raise instead)."""

    level: str  # "warning" | "info"
    pixel_id: str
    check: VersionCheck
    text: str


def today_utc(wall_clock: Callable[[], float] = time.time) -> date:
    """The UTC calendar day of ``wall_clock`` (Unix seconds)."""
    return datetime.fromtimestamp(wall_clock(), UTC).date()


def check_pixel_versions(pixels: Mapping[str, PixelSettings], today: date) -> list[VersionNote]:
    """Notes for expiring and unlisted versions; ConfigError for the first expired one."""
    notes = []
    for pixel_id, pixel in sorted(pixels.items()):
        check = check_version(pixel.api_version, today)
        if check.refused:
            raise ConfigError(_expired_text(pixel_id, check))
        if check.standing is Standing.EXPIRING:
            text = (
                f"pixel {pixel_id}: Graph API {check.version} ends on {check.available_until} "
                f"({check.days_left} days); set pixels.{pixel_id}.api_version to "
                f"{RECOMMENDED_VERSION} or newer before then (see {_RUNBOOK})"
            )
            notes.append(VersionNote("warning", pixel_id, check, text))
        elif check.standing is Standing.UNLISTED_NEWER:
            text = (
                f"pixel {pixel_id}: Graph API {check.version} is newer than the versions this "
                "release knows; its end date is not checked"
            )
            notes.append(VersionNote("info", pixel_id, check, text))
    return notes


def log_version_notes(notes: list[VersionNote]) -> None:
    """One structured log line per note (``run``)."""
    for note in notes:
        fields = {"pixel_id": note.pixel_id, "api_version": note.check.version}
        if note.level == "warning":
            log.warning(
                "graph_version.expiring",
                **fields,
                available_until=str(note.check.available_until),
                days_left=note.check.days_left,
                upgrade_to=RECOMMENDED_VERSION,
            )
        else:
            log.info("graph_version.unlisted", **fields)


def _expired_text(pixel_id: str, check: VersionCheck) -> str:
    when = (
        f"ended on {check.available_until}"
        if check.available_until is not None
        else "is not a version Meta still serves"
    )
    return (
        f"pixels.{pixel_id}.api_version: Graph API {check.version} {when}; Meta refuses it. "
        f"Set it to {RECOMMENDED_VERSION} or newer (see {_RUNBOOK})"
    )
