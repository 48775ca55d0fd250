"""Polled Kafka messages as ``SourceRecord`` values, in one compiled loop per poll.

A message is read through its accessors only (topic, partition, offset, key, value, headers,
timestamp, error): no I/O. The Kafka shell (``consumer.source``) decides what an error means.
"""

from __future__ import annotations

from typing import Any

from consumer.core.models import SourceRecord

__all__ = ["record_of", "split_polled"]


def split_polled(messages: list[Any]) -> tuple[list[SourceRecord], list[Any]]:
    """(the records, the errors of the messages that carry one), each in poll order."""
    records: list[SourceRecord] = []
    errors: list[Any] = []
    for message in messages:
        error = message.error()
        if error is not None:
            errors.append(error)
        else:
            records.append(record_of(message))
    return records, errors


def record_of(message: Any) -> SourceRecord:
    """One message as a SourceRecord, bytes untouched (each accessor called once)."""
    timestamp_type, timestamp = message.timestamp()
    key, value = message.key(), message.value()
    return SourceRecord(
        message.topic() or "",
        message.partition() or 0,
        message.offset() or 0,
        key if isinstance(key, bytes) else None,
        value if isinstance(value, bytes) else None,
        _headers(message.headers()),
        timestamp if timestamp_type else None,
    )


def _headers(raw: Any) -> tuple[tuple[str, bytes | None], ...]:
    if not raw:
        return ()
    pairs = raw.items() if isinstance(raw, dict) else raw
    return tuple((key, value.encode() if isinstance(value, str) else value) for key, value in pairs)
