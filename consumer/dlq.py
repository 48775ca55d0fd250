"""The dead-letter writer: the only module that produces to the DLQ topics.

A DLQ record keeps the source record's key, value bytes and headers untouched and adds
``capi.dlq.*`` headers saying why, where and when. No PII goes into the added headers: they
carry ids, codes and reasons only. ``write`` returns only after the broker acknowledged every
record (idempotent producer, acks=all); the caller settles the source offsets after that.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from consumer import __version__
from consumer.errors import DeadLetterError
from consumer.models import Failure, SourceRecord

__all__ = ["HEADER_PREFIX", "DeadLetter", "DeadLetterWriter", "dlq_headers", "replay_count"]

HEADER_PREFIX = "capi.dlq."
_FLUSH_TIMEOUT_S = 30.0  # beyond this the broker is treated as unavailable for the DLQ


@dataclass(frozen=True, slots=True)
class DeadLetter:
    record: SourceRecord
    failure: Failure


def replay_count(record: SourceRecord) -> int:
    raw = record.header(HEADER_PREFIX + "replay_count")
    try:
        return int(raw) if raw is not None else 0
    except ValueError:
        return 0


def dlq_headers(letter: DeadLetter, now: dt.datetime) -> list[tuple[str, bytes]]:
    """The source headers (minus our own from an earlier trip) plus this failure's headers."""
    record, failure = letter.record, letter.failure
    added: dict[str, Any] = {
        "reason": failure.reason,
        "stage": failure.stage,
        "error": failure.message[:500],
        "source_topic": record.topic,
        "source_partition": record.partition,
        "source_offset": record.offset,
        "source_timestamp": record.timestamp_ms,
        "failed_at": now.isoformat(timespec="milliseconds"),
        "replay_count": replay_count(record),
        "consumer_version": __version__,
        **failure.details,
    }
    kept = [
        (key, value or b"") for key, value in record.headers if not key.startswith(HEADER_PREFIX)
    ]
    ours = [
        (HEADER_PREFIX + key, str(value).encode())
        for key, value in added.items()
        if value is not None
    ]
    return kept + ours


class DeadLetterWriter:
    """Produces dead letters and waits for the broker's acknowledgement of each."""

    def __init__(
        self,
        conf: Mapping[str, Any],
        topic_for: Callable[[str], str],
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        producer_conf = {**conf, "enable.idempotence": True, "acks": "all", "linger.ms": 5}
        self._producer = Producer(producer_conf)
        self._topic_for = topic_for
        self._clock = clock

    def write(self, letters: Sequence[DeadLetter]) -> None:
        """Blocking: produce every letter and flush; raise DeadLetterError unless all were acked."""
        errors: list[KafkaError] = []

        def delivered(error: KafkaError | None, _message: Message) -> None:
            if error is not None:
                errors.append(error)

        now = self._clock()
        for letter in letters:
            self._produce(letter, now, delivered)
        remaining = self._producer.flush(_FLUSH_TIMEOUT_S)
        if remaining or errors:
            detail = errors[0].str() if errors else f"{remaining} records not acknowledged"
            raise DeadLetterError(f"DLQ write failed: {detail}")

    def _produce(
        self,
        letter: DeadLetter,
        now: dt.datetime,
        callback: Callable[[KafkaError | None, Message], None],
    ) -> None:
        kwargs: dict[str, Any] = {
            "value": letter.record.value,
            "key": letter.record.key,
            "headers": dlq_headers(letter, now),
            "on_delivery": callback,
        }
        topic = self._topic_for(letter.record.topic)
        try:
            try:
                self._producer.produce(topic, **kwargs)
            except BufferError:  # local queue full: wait for acks, then try once more
                self._producer.flush(_FLUSH_TIMEOUT_S)
                self._producer.produce(topic, **kwargs)
        except (BufferError, KafkaException) as exc:
            raise DeadLetterError(f"DLQ produce failed: {type(exc).__name__}") from exc

    def close(self) -> None:
        self._producer.flush(_FLUSH_TIMEOUT_S)
