"""Read dead-letter topics to their end (Kafka consumer shell for the ``dlq`` commands).

``stats`` and ``show`` read from the beginning and commit nothing. ``replay`` reads from its own
group's committed position and commits what it has handled, so an interrupted replay resumes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from consumer.core.models import SourceRecord
from consumer.core.models import TopicPartition as TP
from consumer.errors import InfrastructureError
from consumer.kafka_logs import with_structlog
from consumer.source import record_of

__all__ = ["DlqReader"]

_IDLE_S = 5.0  # no record and no end-of-partition for this long: treat the rest as read
_POLL_S = 0.5


class DlqReader:
    """Reads the given topics' partitions from a group's committed offsets (or the start) to the end."""

    def __init__(
        self,
        conf: Mapping[str, Any],
        partitions: Mapping[str, int],
        group_id: str,
        *,
        resume: bool,
        idle_s: float = _IDLE_S,
    ) -> None:
        self._consumer = Consumer(
            with_structlog(
                {
                    **conf,
                    "group.id": group_id,
                    "enable.auto.commit": False,
                    "enable.auto.offset.store": False,
                    "enable.partition.eof": True,
                    "auto.offset.reset": "earliest",
                }
            )
        )
        self._partitions = [
            TopicPartition(topic, p) for topic, count in partitions.items() for p in range(count)
        ]
        self._resume = resume
        self._idle_s = idle_s

    def records(self) -> Iterator[SourceRecord]:
        """Every record from the start position to the end of each partition, then stop."""
        yield from self._read(self._start_positions(), {})

    def handled(self) -> Iterator[SourceRecord]:
        """Resuming: the records before the group's committed positions (earlier runs' work)."""
        if not self._resume:
            return
        ends = {(tp.topic, tp.partition): tp.offset for tp in self._committed() if tp.offset > 0}
        starts = [TopicPartition(t, p, OFFSET_BEGINNING) for t, p in ends]
        if starts:
            yield from self._read(starts, ends)

    def _read(self, starts: list[TopicPartition], ends: Mapping[TP, int]) -> Iterator[SourceRecord]:
        """Records from ``starts`` to each partition's end, or up to (before) its ``ends`` offset."""
        self._consumer.assign(starts)
        pending = {(tp.topic, tp.partition) for tp in starts}
        last_seen = time.monotonic()
        while pending and time.monotonic() - last_seen < self._idle_s:
            message = self._consumer.poll(_POLL_S)
            if message is None:
                continue
            last_seen = time.monotonic()
            error = message.error()
            where = (message.topic() or "", message.partition() or 0)
            if error is None:
                end, offset = ends.get(where), message.offset() or 0
                if end is None or offset < end:
                    yield record_of(message)
                if end is not None and offset + 1 >= end:
                    pending.discard(where)
            elif error.code() == KafkaError._PARTITION_EOF:
                pending.discard(where)
            elif error.fatal():
                raise InfrastructureError(f"reading the DLQ failed: {error.str()}")

    def _start_positions(self) -> list[TopicPartition]:
        if not self._resume:
            return [
                TopicPartition(tp.topic, tp.partition, OFFSET_BEGINNING) for tp in self._partitions
            ]
        return [
            TopicPartition(
                tp.topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
            )
            for tp in self._committed()
        ]

    def _committed(self) -> list[TopicPartition]:
        try:
            committed: list[TopicPartition] = self._consumer.committed(
                self._partitions, timeout=10.0
            )
        except KafkaException as exc:
            raise InfrastructureError(f"cannot read replay progress: {exc.args[0].str()}") from exc
        return committed

    def commit(self, positions: Mapping[TP, int]) -> None:
        """Commit ``positions`` (the next offset to read per partition) synchronously."""
        if not positions:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in positions.items()]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            raise InfrastructureError(
                f"cannot commit replay progress: {exc.args[0].str()}"
            ) from exc

    def close(self) -> None:
        self._consumer.close()
