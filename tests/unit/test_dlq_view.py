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
    source_offset: int | None = None,
    replay_count: int = 0,
) -> DlqEntry:
    meta = {"reason": reason, "pixel_id": pixel, "event_name": event, "source_topic": source}
    if source_offset is not None:
        meta |= {"source_partition": "0", "source_offset": str(source_offset)}
    if replay_count:
        meta["replay_count"] = str(replay_count)
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

    def test_summary_masks_the_key_unless_revealed(self) -> None:
        """The Kafka key is masked like the payload (producers key by customer email)."""
        assert ("***", "k") == (entry().summary()["key"], entry().summary(reveal=True)["key"])

    def test_attempt_is_the_source_position_and_replay_count(self) -> None:
        """Two letters of one source record share a position; without source headers a letter is
        its own position."""
        assert ("orders/0/7", 1) == entry(source_offset=7, replay_count=1).attempt()
        assert ("dlq:orders.dlq/0/3", 0) == entry(offset=3).attempt()


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

    @pytest.mark.parametrize(
        ("dlq_filter", "message"),
        [
            (DlqFilter(reasons=("nosuch",)), "unknown reason 'nosuch'"),
            (DlqFilter(reasons=("decoder.*",)), "unknown reason 'decoder.*'"),
            (DlqFilter(since=NOW, until=NOW - HOUR), "empty time range"),
        ],
    )
    def test_check_rejects_filters_that_match_nothing(
        self, dlq_filter: DlqFilter, message: str
    ) -> None:
        """An unknown reason or an inverted time range is a ConfigError, not an empty result."""
        with pytest.raises(ConfigError, match=message):
            dlq_filter.check()

    def test_check_accepts_reasons_and_families(self) -> None:
        """Every runbook reason, a family and a family pattern pass the check."""
        wanted = DlqFilter(reasons=("auth", "invalid", "decode.*", "invalid.event_too_old"))

        assert wanted == wanted.check()

    def test_huge_age_is_a_config_error(self) -> None:
        """An age beyond the calendar is a ConfigError, not an OverflowError."""
        with pytest.raises(ConfigError, match="beyond year 1"):
            parse_when("999999999999d", NOW)

    def test_bad_time_is_a_config_error(self) -> None:
        """An unreadable time filter is a one-line ConfigError naming the value."""
        with pytest.raises(ConfigError, match="yesterday"):
            parse_when("yesterday", NOW)


class TestStats:
    def test_counts_by_dimension_and_age(self) -> None:
        """Stats count by reason, pixel, event name and age bucket, with oldest and newest."""
        entries = [
            entry(failed_at=NOW - 10 * dt.timedelta(minutes=1), offset=0),
            entry(reason="rejected", pixel="2", failed_at=NOW - 5 * HOUR, offset=1),
            entry(reason="rejected", event="Lead", failed_at=NOW - dt.timedelta(days=9), offset=2),
            entry(failed_at=None, offset=3),
        ]

        stats = DlqStats(NOW).add_all(entries).to_json()

        assert {
            "total": 4,
            "dlq_records": 4,
            "repeats": 0,
            "repeats_restart": 0,
            "repeats_replay": 0,
            "oldest_failed_at": (NOW - dt.timedelta(days=9)).isoformat(),
            "newest_failed_at": (NOW - 10 * dt.timedelta(minutes=1)).isoformat(),
            "by_reason": {"rejected": 2, "auth": 2},
            "by_pixel": {"1": 3, "2": 1},
            "by_event_name": {"Purchase": 3, "Lead": 1},
            "by_age": {"<1h": 1, "1h-24h": 1, ">7d": 1, "unknown": 1},
        } == stats

    def test_a_source_position_counts_once(self) -> None:
        """Letters written again after a restart, or by a replay that failed again, are repeats:
        each source position counts once, by its first letter."""
        entries = [
            entry(source_offset=5, offset=0),
            entry(source_offset=6, offset=1, reason="rejected"),
            entry(source_offset=5, offset=2),  # the consumer crashed before committing 5 and 6
            entry(source_offset=6, offset=3, reason="rejected"),
            entry(source_offset=5, offset=4, replay_count=1),  # replayed, failed again
        ]

        stats = DlqStats(NOW).add_all(entries).to_json()

        assert (2, 5, 3, 2, 1, {"auth": 1, "rejected": 1}) == (
            stats["total"],
            stats["dlq_records"],
            stats["repeats"],
            stats["repeats_restart"],
            stats["repeats_replay"],
            stats["by_reason"],
        )

    def test_table_shows_actions_for_reasons(self) -> None:
        """The readable table names each reason with what to do about it."""
        text = render_stats(DlqStats(NOW).add_all([entry()]))

        assert "dead letters: 1 source record(s)" in text
        assert "DLQ records: 1 (0 repeat(s)" in text
        assert "Fix the pixel's access token" in text
