"""Parsing, filtering and counting DLQ records (pure views behind ``dlq stats|show|replay``)."""

from __future__ import annotations

import datetime as dt

import pytest

from consumer.core.models import SourceRecord
from consumer.dlq_view import DlqEntry, DlqFilter, DlqStats, parse_when, render_stats
from consumer.errors import ConfigError
from tests.fixtures.factories import NOW

HOUR = dt.timedelta(hours=1)


def entry(
    reason: str = "auth",
    pixel: str = "1",
    event: str = "Purchase",
    failed_at: dt.datetime | None = NOW - HOUR,
    source: str = "orders",
    timestamp_ms: int | None = None,
    offset: int = 0,
) -> DlqEntry:
    meta = {"reason": reason, "pixel_id": pixel, "event_name": event, "source_topic": source}
    if failed_at is not None:
        meta["failed_at"] = failed_at.isoformat()
    headers = (("producer", b"p"), *((f"capi.dlq.{k}", v.encode()) for k, v in meta.items()))
    record = SourceRecord("orders.dlq", 0, offset, b"k", b"v", headers, timestamp_ms)
    return DlqEntry.of(record)


class TestEntry:
    def test_headers_are_decoded(self) -> None:
        """Our headers are read without their prefix; the producer's are left out of ``meta``."""
        parsed = entry()

        assert ("auth", "1", "Purchase", "orders", 0) == (
            parsed.reason,
            parsed.pixel_id,
            parsed.event_name,
            parsed.source_topic,
            parsed.replay_count,
        )
        assert "producer" not in parsed.meta

    def test_failed_at_falls_back_to_kafka_timestamp(self) -> None:
        """Without a failed-at header the DLQ record's Kafka timestamp is used."""
        parsed = entry(failed_at=None, timestamp_ms=int(NOW.timestamp() * 1000))

        assert NOW == parsed.failed_at

    def test_summary_names_producer_headers_without_values(self) -> None:
        """``dlq show`` lists the producer's header names only (their values may hold PII)."""
        summary = entry().summary()

        assert (["producer"], "orders.dlq/0/0") == (summary["producer_headers"], summary["dlq"])


class TestFilter:
    @pytest.mark.parametrize(
        ("wanted", "reason", "expected"),
        [
            ("auth", "auth", True),
            ("auth", "rejected", False),
            ("invalid", "invalid.event_too_old", True),
            ("invalid.*", "invalid.no_user_data", True),
            ("invalid.event_too_old", "invalid.no_user_data", False),
            ("decode", "decoder", False),
        ],
    )
    def test_reason_matches_exactly_or_by_family(
        self, wanted: str, reason: str, expected: bool
    ) -> None:
        """A reason filter matches the code itself or, given a family, every code in it."""
        assert expected == DlqFilter(reasons=(wanted,)).matches(entry(reason=reason))

    def test_all_fields_must_match(self) -> None:
        """Pixel, event name and source topic filters combine with AND."""
        chosen = DlqFilter(pixels=("1",), event_names=("Lead",), source_topics=("orders",))

        assert (False, True) == (
            chosen.matches(entry()),
            chosen.matches(entry(event="Lead")),
        )

    def test_time_range_uses_failed_at(self) -> None:
        """since/until bound the failed-at time; a record without one never matches a range."""
        window = DlqFilter(since=NOW - 2 * HOUR, until=NOW - 30 * dt.timedelta(minutes=1))

        assert (True, False, False) == (
            window.matches(entry(failed_at=NOW - HOUR)),
            window.matches(entry(failed_at=NOW - 3 * HOUR)),
            window.matches(entry(failed_at=None)),
        )

    def test_describe_is_canonical(self) -> None:
        """The same filter in another order describes the same (it keys the replay group)."""
        assert DlqFilter(reasons=("b", "a")).describe() == DlqFilter(reasons=("a", "b")).describe()


class TestParseWhen:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("90m", NOW - 90 * dt.timedelta(minutes=1)),
            ("2h", NOW - 2 * HOUR),
            ("7d", NOW - dt.timedelta(days=7)),
            ("2026-11-26T08:00:00+00:00", NOW.replace(hour=8)),
            ("2026-11-26T08:00:00", NOW.replace(hour=8)),
        ],
    )
    def test_ages_and_iso_times(self, text: str, expected: dt.datetime) -> None:
        """Ages count back from now; naive ISO times are UTC."""
        assert expected == parse_when(text, NOW)

    def test_bad_time_is_a_config_error(self) -> None:
        """An unreadable time filter is a one-line ConfigError naming the value."""
        with pytest.raises(ConfigError, match="yesterday"):
            parse_when("yesterday", NOW)


class TestStats:
    def test_counts_by_dimension_and_age(self) -> None:
        """Stats count by reason, pixel, event name and age bucket, with oldest and newest."""
        entries = [
            entry(failed_at=NOW - 10 * dt.timedelta(minutes=1)),
            entry(reason="rejected", pixel="2", failed_at=NOW - 5 * HOUR),
            entry(reason="rejected", event="Lead", failed_at=NOW - dt.timedelta(days=9)),
            entry(failed_at=None),
        ]

        stats = DlqStats(NOW).add_all(entries).to_json()

        assert {
            "total": 4,
            "oldest_failed_at": (NOW - dt.timedelta(days=9)).isoformat(),
            "newest_failed_at": (NOW - 10 * dt.timedelta(minutes=1)).isoformat(),
            "by_reason": {"rejected": 2, "auth": 2},
            "by_pixel": {"1": 3, "2": 1},
            "by_event_name": {"Purchase": 3, "Lead": 1},
            "by_age": {"<1h": 1, "1h-24h": 1, ">7d": 1, "unknown": 1},
        } == stats

    def test_table_shows_actions_for_reasons(self) -> None:
        """The readable table names each reason with what to do about it."""
        text = render_stats(DlqStats(NOW).add_all([entry()]))

        assert "DLQ records: 1" in text
        assert "Fix the pixel's access token" in text
