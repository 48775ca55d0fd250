"""Pure views of dead-letter records: parse their headers, filter them, count them, print them.

Used by the ``dlq stats|show|replay`` commands; no Kafka here (``dlq_reader`` reads the topics).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from consumer.core.models import SourceRecord
from consumer.dlq import HEADER_PREFIX
from consumer.errors import ConfigError
from consumer.reasons import FAMILIES, REASONS, describe

__all__ = [
    "AGE_BUCKETS",
    "DlqEntry",
    "DlqFilter",
    "DlqStats",
    "parse_when",
    "render_stats",
]

# Age buckets an operator thinks in: this hour, today, within Meta's 7 days, beyond them.
AGE_BUCKETS: tuple[tuple[str, float], ...] = (
    ("<1h", 3600.0),
    ("1h-24h", 86_400.0),
    ("1d-7d", 7 * 86_400.0),
    (">7d", float("inf")),
)
MASK = "***"  # as dlq_payload masks PII in the payload
_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


@dataclass(frozen=True, slots=True)
class DlqEntry:
    """One DLQ record: where it sits, its ``capi.dlq.*`` headers decoded, the original bytes."""

    record: SourceRecord
    meta: Mapping[str, str]

    @classmethod
    def of(cls, record: SourceRecord) -> DlqEntry:
        meta = {
            key.removeprefix(HEADER_PREFIX): (value or b"").decode(errors="replace")
            for key, value in record.headers
            if key.startswith(HEADER_PREFIX)
        }
        return cls(record, meta)

    @property
    def reason(self) -> str:
        return self.meta.get("reason", "unknown")

    @property
    def pixel_id(self) -> str:
        return self.meta.get("pixel_id", "-")

    @property
    def event_name(self) -> str:
        return self.meta.get("event_name", "-")

    @property
    def source_topic(self) -> str:
        return self.meta.get("source_topic", "-")

    @property
    def replay_count(self) -> int:
        raw = self.meta.get("replay_count", "0")
        return int(raw) if raw.isdigit() else 0

    @property
    def failed_at(self) -> dt.datetime | None:
        """The failed-at header, else the DLQ record's Kafka timestamp (both UTC)."""
        raw = self.meta.get("failed_at")
        if raw:
            try:
                return dt.datetime.fromisoformat(raw)
            except ValueError:
                pass
        millis = self.record.timestamp_ms
        return None if millis is None else dt.datetime.fromtimestamp(millis / 1000, dt.UTC)

    def position(self) -> str:
        return f"{self.record.topic}/{self.record.partition}/{self.record.offset}"

    def source_position(self) -> str:
        """The consumed record this letter is about (``capi.dlq.source_*``), else its own position.

        A crash between the DLQ write and the offset commit re-delivers the source record, and
        it is dead-lettered again: two letters, one source position.
        """
        meta = self.meta
        parts = (meta.get("source_topic"), meta.get("source_partition"), meta.get("source_offset"))
        if all(parts):
            return "/".join(str(part) for part in parts)
        return f"dlq:{self.position()}"

    def attempt(self) -> tuple[str, int]:
        """One delivery attempt of a source record: its position and how often it was replayed.

        Letters with the same attempt are repeats (written again after a restart); a replay that
        fails again is a new attempt (its replay count is one higher).
        """
        return self.source_position(), self.replay_count

    def summary(self, *, reveal: bool = False) -> dict[str, Any]:
        """Headers for ``dlq show``: ours decoded, the producer's by name only (values may be PII).

        The Kafka key is masked like the payload (producers key by customer email or phone)
        unless ``reveal``.
        """
        key = self.record.key
        return {
            "dlq": self.position(),
            "key": None if key is None else key.decode(errors="replace") if reveal else MASK,
            **{f"capi.dlq.{key}": value for key, value in sorted(self.meta.items())},
            "producer_headers": [
                k for k, _ in self.record.headers if not k.startswith(HEADER_PREFIX)
            ],
        }


def parse_when(text: str, now: dt.datetime) -> dt.datetime:
    """``2h`` / ``30m`` / ``7d`` (that long before ``now``) or an ISO 8601 time; ConfigError else."""
    match = _DURATION.match(text.strip())
    if match:
        try:
            return now - dt.timedelta(seconds=int(match[1]) * _UNIT_S[match[2]])
        except OverflowError:
            raise ConfigError(f"bad time filter {text!r}: an age beyond year 1") from None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"bad time filter {text!r}: use an ISO time (2026-11-26T08:00Z) or an age (30m, 2h, 7d)"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class DlqFilter:
    """Which DLQ records a command looks at. Empty fields match everything.

    A reason matches exactly, or as a family: ``invalid`` and ``invalid.*`` match every
    ``invalid.`` reason. ``since``/``until`` compare with the record's failed-at time.
    """

    reasons: tuple[str, ...] = ()
    pixels: tuple[str, ...] = ()
    event_names: tuple[str, ...] = ()
    source_topics: tuple[str, ...] = ()
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def check(self) -> DlqFilter:
        """This filter, or ConfigError when it can match nothing: an unknown reason, or a time
        range that ends before it starts."""
        for reason in self.reasons:
            if reason not in REASONS and reason.removesuffix(".*") not in FAMILIES:
                families = ", ".join(f"{family}.*" for family in FAMILIES)
                raise ConfigError(
                    f"unknown reason {reason!r}: give a reason from the runbook "
                    f"(docs/operations.md) or a family ({families})"
                )
        if self.since is not None and self.until is not None and self.since > self.until:
            raise ConfigError(
                f"empty time range: --since {self.since.isoformat()} is after "
                f"--until {self.until.isoformat()}"
            )
        return self

    def matches(self, entry: DlqEntry) -> bool:
        return (
            self._reason_ok(entry.reason)
            and (not self.pixels or entry.pixel_id in self.pixels)
            and (not self.event_names or entry.event_name in self.event_names)
            and (not self.source_topics or entry.source_topic in self.source_topics)
            and self._time_ok(entry.failed_at)
        )

    def _reason_ok(self, reason: str) -> bool:
        if not self.reasons:
            return True
        for wanted in self.reasons:
            family = wanted.removesuffix(".*")
            if reason == wanted or reason.startswith(family + "."):
                return True
        return False

    def _time_ok(self, when: dt.datetime | None) -> bool:
        if self.since is None and self.until is None:
            return True
        if when is None:
            return False
        return (self.since is None or when >= self.since) and (
            self.until is None or when <= self.until
        )

    def describe(self) -> str:
        """A canonical text of the filter (also keys the replay's progress group)."""
        parts = {
            "reason": ",".join(sorted(self.reasons)),
            "pixel": ",".join(sorted(self.pixels)),
            "event": ",".join(sorted(self.event_names)),
            "source_topic": ",".join(sorted(self.source_topics)),
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
        }
        return " ".join(f"{key}={value}" for key, value in parts.items() if value) or "all"


@dataclass(slots=True)
class DlqStats:
    """Counts of matching dead letters by reason, pixel, event name and age.

    A source record counts once, by its first matching letter: letters written again for the
    same source position are counted as repeats, not as more dead letters. ``repeats_restart``
    are copies of the same attempt (a crash before the source offset was committed);
    ``repeats_replay`` are replays of it that failed again.
    """

    now: dt.datetime
    total: int = 0  # distinct source positions
    records: int = 0  # matching DLQ records read
    repeats_restart: int = 0
    repeats_replay: int = 0
    by_reason: Counter[str] = field(default_factory=Counter)
    by_pixel: Counter[str] = field(default_factory=Counter)
    by_event_name: Counter[str] = field(default_factory=Counter)
    by_age: Counter[str] = field(default_factory=Counter)
    oldest: dt.datetime | None = None
    newest: dt.datetime | None = None
    _attempts: dict[str, set[int]] = field(default_factory=dict, repr=False)

    def add_all(self, entries: Iterable[DlqEntry]) -> DlqStats:
        for entry in entries:
            self.add(entry)
        return self

    def add(self, entry: DlqEntry) -> None:
        self.records += 1
        position, replays = entry.attempt()
        seen = self._attempts.get(position)
        if seen is not None:
            if replays in seen:
                self.repeats_restart += 1
            else:
                self.repeats_replay += 1
                seen.add(replays)
            return
        self._attempts[position] = {replays}
        self._count(entry)

    def _count(self, entry: DlqEntry) -> None:
        self.total += 1
        self.by_reason[entry.reason] += 1
        self.by_pixel[entry.pixel_id] += 1
        self.by_event_name[entry.event_name] += 1
        when = entry.failed_at
        self.by_age[_bucket(self.now, when)] += 1
        if when is not None:
            self.oldest = when if self.oldest is None else min(self.oldest, when)
            self.newest = when if self.newest is None else max(self.newest, when)

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "dlq_records": self.records,
            "repeats": self.repeats_restart + self.repeats_replay,
            "repeats_restart": self.repeats_restart,
            "repeats_replay": self.repeats_replay,
            "oldest_failed_at": self.oldest.isoformat() if self.oldest else None,
            "newest_failed_at": self.newest.isoformat() if self.newest else None,
            "by_reason": dict(self.by_reason.most_common()),
            "by_pixel": dict(self.by_pixel.most_common()),
            "by_event_name": dict(self.by_event_name.most_common()),
            "by_age": {name: self.by_age[name] for name, _ in AGE_BUCKETS if self.by_age[name]}
            | ({"unknown": self.by_age["unknown"]} if self.by_age["unknown"] else {}),
        }


def _bucket(now: dt.datetime, when: dt.datetime | None) -> str:
    if when is None:
        return "unknown"
    age = (now - when).total_seconds()
    return next(name for name, limit in AGE_BUCKETS if age < limit)


def render_stats(stats: DlqStats) -> str:
    """A readable table: totals, then one block per dimension, reasons with the operator action."""
    data = stats.to_json()
    lines = [
        f"dead letters: {stats.total} source record(s), each counted once",
        f"DLQ records: {stats.records} ({stats.repeats_restart} repeat(s) written again after a "
        f"restart, {stats.repeats_replay} failed again after a replay)",
        f"oldest failed_at: {data['oldest_failed_at'] or '-'}",
        f"newest failed_at: {data['newest_failed_at'] or '-'}",
    ]
    for title, counts in (
        ("reason", data["by_reason"]),
        ("pixel", data["by_pixel"]),
        ("event name", data["by_event_name"]),
        ("age", data["by_age"]),
    ):
        lines += ["", f"{'by ' + title:<34} {'count':>8}"]
        for name, count in counts.items():
            note = f"  {describe(name).action}" if title == "reason" else ""
            lines.append(f"  {name:<32} {count:>8}{note}")
    return "\n".join(lines)
