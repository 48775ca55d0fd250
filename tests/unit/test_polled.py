"""Polled messages become SourceRecords in one loop; errors are handed back, not dropped silently."""

# Asserts read ``expected == actual`` (STYLE.md), which is exactly what SIM300 forbids.

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError

from consumer.core.models import SourceRecord
from consumer.core.polled import record_of, split_polled
from consumer.errors import InfrastructureError
from consumer.source import KafkaSource


class Message:
    """The accessors of confluent_kafka.Message that polling reads."""

    def __init__(self, offset: int, *, error: KafkaError | None = None, **fields: Any) -> None:
        self._offset, self._error, self._fields = offset, error, fields

    def error(self) -> KafkaError | None:
        return self._error

    def topic(self) -> str | None:
        return self._fields.get("topic", "orders")

    def partition(self) -> int | None:
        return self._fields.get("partition", 2)

    def offset(self) -> int | None:
        return self._offset

    def key(self) -> bytes | str | None:
        return self._fields.get("key")

    def value(self) -> bytes | str | None:
        return self._fields.get("value", b"v")

    def headers(self) -> Any:
        return self._fields.get("headers")

    def timestamp(self) -> tuple[int, int]:
        return self._fields.get("timestamp", (1, 1_700_000_000_000))


EOF_ERROR = KafkaError(KafkaError._PARTITION_EOF)
TRANSIENT = KafkaError(KafkaError._TRANSPORT)
FATAL = KafkaError(KafkaError._FATAL, fatal=True)


class TestRecordOf:
    def test_fields_are_taken_as_they_are(self) -> None:
        message = Message(7, key=b"k", value=b"\x00v", headers=[("a", b"1"), ("b", "2")])

        assert SourceRecord(
            "orders", 2, 7, b"k", b"\x00v", (("a", b"1"), ("b", b"2")), 1_700_000_000_000
        ) == record_of(message)

    def test_no_timestamp_and_non_bytes_become_none(self) -> None:
        message = Message(0, key="text", value=None, timestamp=(0, -1), headers={"h": None})

        assert SourceRecord("orders", 2, 0, None, None, (("h", None),), None) == record_of(message)


class TestSplitPolled:
    def test_errors_are_set_apart_in_order(self) -> None:
        polled = [Message(0), Message(1, error=EOF_ERROR), Message(2), Message(3, error=TRANSIENT)]

        records, errors = split_polled(polled)

        assert ([0, 2], [EOF_ERROR, TRANSIENT]) == ([r.offset for r in records], errors)


class _Consumer:
    def __init__(self, messages: list[Message]) -> None:
        self.messages = messages

    def consume(self, max_records: int, timeout: float) -> list[Message]:
        return self.messages


def _source(messages: list[Message]) -> KafkaSource:
    source = KafkaSource.__new__(KafkaSource)
    source._consumer = _Consumer(messages)  # type: ignore[assignment]
    return source


class TestPollErrors:
    def test_end_of_partition_and_transient_errors_are_skipped(self) -> None:
        source = _source([Message(0, error=EOF_ERROR), Message(1), Message(2, error=TRANSIENT)])

        assert [1] == [record.offset for record in source.poll(10, 0.1)]

    def test_a_fatal_error_stops_the_consumer(self) -> None:
        source = _source([Message(0), Message(1, error=FATAL)])

        with pytest.raises(InfrastructureError, match="fatal Kafka error"):
            source.poll(10, 0.1)
