"""Offset tracking: commit only below the lowest unsettled record, whatever the settle order."""

from __future__ import annotations

import pytest

from consumer.core.models import SourceRecord
from consumer.core.offsets import OffsetTracker, PartitionOffsets

TP = ("orders", 0)


class TestPartitionOffsets:
    def test_out_of_order_settlement(self) -> None:
        """The position advances only when every earlier offset is settled."""
        offsets = PartitionOffsets()
        for offset in (10, 11, 12, 13):
            offsets.add(offset)

        offsets.settle(12)
        offsets.settle(11)
        assert None is offsets.position

        offsets.settle(10)
        assert 13 == offsets.position

        offsets.settle(13)
        assert 14 == offsets.position
        assert 0 == offsets.unsettled

    def test_gaps_in_offsets(self) -> None:
        """Compacted or transactional gaps do not block the position."""
        offsets = PartitionOffsets()
        offsets.add(5)
        offsets.add(9)

        offsets.settle(9)
        offsets.settle(5)

        assert 10 == offsets.position

    def test_out_of_order_add_rejected(self) -> None:
        """Adding an offset at or below the last one is a bug and raises."""
        offsets = PartitionOffsets()
        offsets.add(3)

        with pytest.raises(ValueError, match="out of order"):
            offsets.add(3)


class TestOffsetTracker:
    def test_to_store_reports_changes_once(self) -> None:
        """Positions are handed out once per change."""
        tracker = OffsetTracker()
        tracker.add(TP, 0)
        tracker.settle(TP, 0)

        assert {TP: 1} == tracker.to_store()
        assert {} == tracker.to_store()

    def test_forget_drops_revoked_partition(self) -> None:
        """A revoked partition's late settlements are ignored."""
        tracker = OffsetTracker()
        tracker.add(TP, 0)
        tracker.forget([TP])

        tracker.settle(TP, 0)

        assert {} == tracker.to_store()
        assert 0 == tracker.unsettled()

    def test_positions_for_revocation(self) -> None:
        """Revocation reads current positions, changed or not."""
        tracker = OffsetTracker()
        tracker.add(TP, 4)
        tracker.settle(TP, 4)
        tracker.to_store()

        assert {TP: 5} == tracker.positions([TP, ("orders", 1)])


def test_unsettled_bytes_follow_settlement() -> None:
    """Bytes in flight drop as records settle and vanish with a revoked partition."""
    tracker = OffsetTracker()
    tracker.add(TP, 0, 100)
    tracker.add(TP, 1, 50)
    tracker.add(("leads", 0), 0, 7)

    tracker.settle(TP, 1)
    assert 107 == tracker.unsettled_bytes()

    tracker.forget([("leads", 0)])
    assert 100 == tracker.unsettled_bytes()


def test_pending_ends_with_revocation_even_when_assigned_again() -> None:
    """A record read before its partition was revoked is not pending in the next assignment."""
    tracker = OffsetTracker()
    tracker.add(TP, 0)
    tracker.add(TP, 1)
    tracker.settle(TP, 1)
    before = (tracker.pending(TP, 0), tracker.pending(TP, 1))

    tracker.forget([TP])
    tracker.add(TP, 5)

    assert ((True, False), False) == (before, tracker.pending(TP, 0))


class TestBatchCalls:
    def test_add_polled_keeps_assigned_records_with_their_sizes(self) -> None:
        """A poll batch is tracked in one call: other partitions' records are left out, and
        the bytes in flight count key and value."""
        tracker = OffsetTracker()
        records = [
            SourceRecord("orders", 0, 5, b"k", b"value"),
            SourceRecord("orders", 1, 7, None, b"xx"),  # not assigned
            SourceRecord("orders", 0, 6, None, None),
        ]

        kept = tracker.add_polled(records, {TP})

        assert [records[0], records[2]] == kept
        assert (2, 6) == (tracker.unsettled(), tracker.unsettled_bytes())

    def test_settle_records_settles_each_and_ignores_revoked_partitions(self) -> None:
        """Settling a batch of records equals settling each; a revoked partition's are ignored."""
        tracker = OffsetTracker()
        records = [SourceRecord("orders", 0, offset, None, b"v") for offset in (3, 4, 5)]
        tracker.add_polled(records, {TP})

        tracker.settle_records([*records[:2], SourceRecord("orders", 9, 1, None, None)])

        assert {TP: 5} == tracker.to_store()
        assert 1 == tracker.unsettled()


def test_a_slow_record_holds_the_position_not_the_unsettled_count() -> None:
    """Records settled behind a slow one no longer count as in flight, but the committed
    position (and what a restart reads again) still waits for the slow one."""
    tracker = OffsetTracker()
    for offset in range(5):
        tracker.add(TP, offset, 10)
    tracker.settle_records([SourceRecord("orders", 0, offset, None, None) for offset in (1, 2, 3)])

    assert (2, 20, 5) == (tracker.unsettled(), tracker.unsettled_bytes(), tracker.uncommitted())
    assert {} == tracker.to_store()

    tracker.settle(TP, 0)
    assert (1, 1) == (tracker.unsettled(), tracker.uncommitted())
    assert {TP: 4} == tracker.to_store()
