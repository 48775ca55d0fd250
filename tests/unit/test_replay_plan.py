"""Replay decisions (loop guard, Meta's age limit) and the headers a replay carries."""

from __future__ import annotations

import datetime as dt

import pytest

from consumer.core.models import Failure, SourceRecord
from consumer.dlq import DeadLetter, dlq_headers, origin_of, replay_count
from consumer.dlq_payload import EventClock, mask_pii
from consumer.dlq_view import DlqEntry
from consumer.replay_plan import Decision, decide, replay_headers, replayed_attempt
from tests.fixtures.factories import NOW, make_order

DAY = 86_400


def dlq_entry(replays: int = 0) -> DlqEntry:
    headers = (
        ("trace", b"t"),
        ("capi.dlq.reason", b"auth"),
        ("capi.dlq.source_topic", b"orders"),
        ("capi.dlq.source_partition", b"2"),
        ("capi.dlq.source_offset", b"40"),
        ("capi.dlq.replay_count", str(replays).encode()),
    )
    return DlqEntry.of(SourceRecord("orders.dlq", 0, 5, b"k", b"v", headers))


class TestDecide:
    @pytest.mark.parametrize(
        ("replays", "clock", "expected"),
        [
            (0, EventClock(int(NOW.timestamp()) - DAY, "website"), Decision(True, "replay")),
            (3, EventClock(int(NOW.timestamp()) - DAY, "website"), Decision(False, "loop_guard")),
            (0, EventClock(int(NOW.timestamp()) - 8 * DAY, "website"), Decision(False, "too_old")),
            (
                0,
                EventClock(int(NOW.timestamp()) - 30 * DAY, "physical_store"),
                Decision(True, "replay"),
            ),
            (
                0,
                EventClock(int(NOW.timestamp()) - 63 * DAY, "physical_store"),
                Decision(False, "too_old"),
            ),
            (0, None, Decision(True, "unchecked")),
            (3, None, Decision(False, "loop_guard")),
        ],
        ids=[
            "fresh",
            "loop-guard",
            "too-old",
            "store-30d",
            "store-63d",
            "unchecked",
            "guard-first",
        ],
    )
    def test_decisions(self, replays: int, clock: EventClock | None, expected: Decision) -> None:
        """Loop guard first, then Meta's 7-day (62 for physical_store) limit, else replay."""
        assert expected == decide(dlq_entry(replays), clock, NOW, max_replays=3)


class TestReplayHeaders:
    def test_replay_count_incremented_and_source_kept(self) -> None:
        """The retry record keeps every header (source topic included) with the count plus one,
        and names the progress group that replayed it."""
        headers = replay_headers(dlq_entry(replays=1), "g-1")

        assert [
            ("trace", b"t"),
            ("capi.dlq.reason", b"auth"),
            ("capi.dlq.source_topic", b"orders"),
            ("capi.dlq.source_partition", b"2"),
            ("capi.dlq.source_offset", b"40"),
            ("capi.dlq.replay_count", b"2"),
            ("capi.dlq.replay_group", b"g-1"),
        ] == headers

    def test_replayed_attempt_of_the_groups_own_replays(self) -> None:
        """A retry record names the attempt it replays, for the group that wrote it only."""
        entry = dlq_entry(replays=1)
        retried = SourceRecord("capi.retry", 0, 9, b"k", b"v", tuple(replay_headers(entry, "g-1")))

        assert (entry.attempt(), None) == (
            replayed_attempt(retried, "g-1"),
            replayed_attempt(retried, "g-2"),
        )

    def test_failing_again_keeps_origin_and_count(self) -> None:
        """A replayed record that fails again names its original source, the retry hop and its count."""
        retried = SourceRecord(
            "capi.retry", 0, 9, b"k", b"v", tuple(replay_headers(dlq_entry(), "g"))
        )

        added = dict(dlq_headers(DeadLetter(retried, Failure("auth", "send", "no")), NOW))

        assert (b"orders", b"2", b"40", b"capi.retry/0/9", b"1") == (
            added["capi.dlq.source_topic"],
            added["capi.dlq.source_partition"],
            added["capi.dlq.source_offset"],
            added["capi.dlq.via"],
            added["capi.dlq.replay_count"],
        )
        assert (1, "orders") == (replay_count(retried), origin_of(retried).topic)

    def test_live_record_is_its_own_origin(self) -> None:
        """A record read from a source topic is its own origin, with no retry hop."""
        live = SourceRecord("orders", 3, 11, None, b"v", (), 123)

        assert ("orders", 3, 11, 123, None) == (
            origin_of(live).topic,
            origin_of(live).partition,
            origin_of(live).offset,
            origin_of(live).timestamp_ms,
            origin_of(live).via,
        )


class TestMask:
    def test_customer_and_browser_values_are_masked(self) -> None:
        """Customer and browser values become *** ; ids and amounts stay readable."""
        masked = mask_pii(make_order())

        assert ("***", "***", "ORD-1", "142.52") == (
            masked["customer"]["email"],
            masked["browser"]["client_ip"],
            masked["order_id"],
            masked["total"],
        )

    def test_reveal_keeps_values(self) -> None:
        """With reveal the values are kept (made JSON-ready)."""
        revealed = mask_pii(make_order(), reveal=True)

        assert ("John_Smith@gmail.com", dt.datetime) == (
            revealed["customer"]["email"],
            type(make_order()["occurred_at"]),
        )
