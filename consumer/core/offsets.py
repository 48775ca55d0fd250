"""Pure offset tracking: per partition, the offset below which every record is settled.

Records are added in the order they were polled (increasing offsets per partition) and settle in
any order. The committable position is one past the highest offset whose record and every
earlier record are settled; Kafka's committed offset means "next record to read".
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterable

from consumer.core.models import SourceRecord, TopicPartition

__all__ = ["OffsetTracker", "PartitionOffsets"]


class PartitionOffsets:
    """Unsettled offsets of one partition, in poll order; amortized O(1) per record."""

    __slots__ = ("_bytes", "_done", "_order", "_position", "_sizes")

    def __init__(self) -> None:
        self._order: deque[int] = deque()
        self._done: set[int] = set()
        self._sizes: dict[int, int] = {}
        self._bytes = 0
        self._position: int | None = None

    def add(self, offset: int, size: int = 0) -> None:
        if self._order and offset <= self._order[-1]:
            raise ValueError(f"offset {offset} added out of order after {self._order[-1]}")
        self._order.append(offset)
        self._sizes[offset] = size
        self._bytes += size

    def settle(self, offset: int) -> None:
        self._bytes -= self._sizes.pop(offset, 0)
        self._done.add(offset)
        while self._order and self._order[0] in self._done:
            head = self._order.popleft()
            self._done.discard(head)
            self._position = head + 1

    def pending(self, offset: int) -> bool:
        """True while ``offset`` is added and not yet settled."""
        return offset in self._sizes

    @property
    def position(self) -> int | None:
        """The offset to commit (next to read), or None when nothing has settled yet."""
        return self._position

    @property
    def unsettled(self) -> int:
        """Records polled and not settled yet (what waits in memory)."""
        return len(self._sizes)

    @property
    def uncommitted(self) -> int:
        """Records from the oldest unsettled one on, settled or not: what the committed position
        lags by, and what a restart would read again. One slow request holds the position while
        the records after it settle, so this can be far above ``unsettled``."""
        return len(self._order)

    @property
    def unsettled_bytes(self) -> int:
        return self._bytes


class OffsetTracker:
    """``PartitionOffsets`` for every assigned partition, plus what was last stored."""

    def __init__(self) -> None:
        self._partitions: dict[TopicPartition, PartitionOffsets] = {}
        self._stored: dict[TopicPartition, int] = {}

    def add(self, tp: TopicPartition, offset: int, size: int = 0) -> None:
        partition = self._partitions.get(tp)
        if partition is None:
            partition = self._partitions[tp] = PartitionOffsets()
        partition.add(offset, size)

    def settle(self, tp: TopicPartition, offset: int) -> None:
        partition = self._partitions.get(tp)
        if partition is not None:  # a revoked partition's late result is ignored
            partition.settle(offset)

    def add_polled(
        self, records: list[SourceRecord], assigned: Collection[TopicPartition]
    ) -> list[SourceRecord]:
        """``add`` every record of a poll whose partition is in ``assigned``; those records."""
        kept: list[SourceRecord] = []
        for record in records:
            tp = (record.topic, record.partition)
            if tp in assigned:
                value, key = record.value, record.key
                size = (len(value) if value is not None else 0) + (len(key) if key else 0)
                self.add(tp, record.offset, size)
                kept.append(record)
        return kept

    def settle_records(self, records: Iterable[SourceRecord]) -> None:
        """``settle`` each record (one call per batch of results)."""
        partitions = self._partitions
        for record in records:
            partition = partitions.get((record.topic, record.partition))
            if partition is not None:
                partition.settle(record.offset)

    def pending(self, tp: TopicPartition, offset: int) -> bool:
        """True while the record is tracked and unsettled; false once its partition was revoked,
        even if the partition has been assigned again since (its new reading is another one)."""
        partition = self._partitions.get(tp)
        return partition is not None and partition.pending(offset)

    def to_store(self) -> dict[TopicPartition, int]:
        """Positions that advanced since the last call; the caller stores them in Kafka."""
        changed = {}
        for tp, partition in self._partitions.items():
            position = partition.position
            if position is not None and self._stored.get(tp) != position:
                changed[tp] = self._stored[tp] = position
        return changed

    def positions(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        """Current positions of ``tps`` (revocation: store them whether or not they changed)."""
        found = {}
        for tp in tps:
            partition = self._partitions.get(tp)
            if partition is not None and partition.position is not None:
                found[tp] = partition.position
        return found

    def forget(self, tps: list[TopicPartition]) -> None:
        """Drop revoked partitions: their unsettled records will be re-delivered elsewhere."""
        for tp in tps:
            self._partitions.pop(tp, None)
            self._stored.pop(tp, None)

    def unsettled_bytes(self) -> int:
        """Bytes of records polled but not yet settled (the backpressure budget's second half)."""
        return sum(partition.unsettled_bytes for partition in self._partitions.values())

    def unsettled(self, tps: list[TopicPartition] | None = None) -> int:
        """Records polled and not settled yet (the backpressure budget's first half)."""
        chosen = (
            self._partitions
            if tps is None
            else {tp: self._partitions[tp] for tp in tps if tp in self._partitions}
        )
        return sum(partition.unsettled for partition in chosen.values())

    def uncommitted(self) -> int:
        """Records past the committable positions, settled or not (bounded apart: its memory is
        a few ints a record, but a restart reads it all again)."""
        return sum(partition.uncommitted for partition in self._partitions.values())
