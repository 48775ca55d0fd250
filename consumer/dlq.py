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

import structlog
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from consumer import __version__
from consumer.core.models import Failure, SourceRecord
from consumer.errors import DeadLetterError
from consumer.kafka_logs import with_structlog

log = structlog.get_logger("consumer.dlq")

__all__ = [
    "HEADER_PREFIX",
    "VALUE_OMITTED",
    "DeadLetter",
    "DeadLetterWriter",
    "Origin",
    "dlq_headers",
    "origin_of",
    "replay_count",
]

HEADER_PREFIX = "capi.dlq."
# Set instead of the value when the DLQ topic cannot hold the record: the value's size in bytes.
VALUE_OMITTED = HEADER_PREFIX + "value_omitted"
_FLUSH_TIMEOUT_S = 30.0  # beyond this the broker is treated as unavailable for the DLQ
# librdkafka refuses records over message.max.bytes (default 1,000,000) before sending, which is
# less than a record the consumer may have read: the DLQ producer allows more unless configured.
_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
_TOO_LARGE = frozenset({KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE})


@dataclass(frozen=True, slots=True)
class DeadLetter:
    record: SourceRecord
    failure: Failure


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a record was first published. A replayed record (on the retry topic) keeps its
    original topic/partition/offset/timestamp in ``capi.dlq.source_*`` headers."""

    topic: str
    partition: int | None
    offset: int | None
    timestamp_ms: int | None
    via: str | None = None  # "retry-topic/partition/offset" when the record came from a replay


def replay_count(record: SourceRecord) -> int:
    """How many times this record has been replayed from the DLQ (0 for a live record)."""
    return _int_header(record, "replay_count") or 0


def origin_of(record: SourceRecord) -> Origin:
    """The record's original source: its own position, or the one its replay headers name."""
    topic = record.header(HEADER_PREFIX + "source_topic")
    if not topic:
        return Origin(record.topic, record.partition, record.offset, record.timestamp_ms)
    return Origin(
        topic.decode(errors="replace"),
        _int_header(record, "source_partition"),
        _int_header(record, "source_offset"),
        _int_header(record, "source_timestamp"),
        via=f"{record.topic}/{record.partition}/{record.offset}",
    )


def _int_header(record: SourceRecord, name: str) -> int | None:
    raw = record.header(HEADER_PREFIX + name)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def dlq_headers(letter: DeadLetter, now: dt.datetime) -> list[tuple[str, bytes]]:
    """The source headers (minus our own from an earlier trip) plus this failure's headers."""
    record, failure = letter.record, letter.failure
    origin = origin_of(record)
    added: dict[str, Any] = {
        "reason": failure.reason,
        "stage": failure.stage,
        "error": failure.message[:500],
        "source_topic": origin.topic,
        "source_partition": origin.partition,
        "source_offset": origin.offset,
        "source_timestamp": origin.timestamp_ms,
        "via": origin.via,
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
        self._conf = with_structlog(
            {
                "message.max.bytes": _MAX_MESSAGE_BYTES,
                **conf,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
            }
        )
        self._producer = Producer(self._conf)
        self._topic_for = topic_for
        self._clock = clock

    def write(self, letters: Sequence[DeadLetter]) -> None:
        """Blocking: produce every letter and flush; raise DeadLetterError unless all were acked.

        A letter too large for the DLQ topic (refused by librdkafka or the broker) is written
        again without its value, with a ``capi.dlq.value_omitted`` header giving its size: the
        original stays readable at its source position, and the partition is not stuck behind it.
        """
        errors: list[KafkaError] = []
        too_large: list[DeadLetter] = []

        def delivered_as(letter: DeadLetter) -> Callable[[KafkaError | None, Message], None]:
            def delivered(error: KafkaError | None, _message: Message) -> None:
                if error is not None and error.code() in _TOO_LARGE:
                    too_large.append(letter)
                elif error is not None:
                    errors.append(error)

            return delivered

        now = self._clock()
        for letter in letters:
            if not self._produce(letter, now, delivered_as(letter)):
                too_large.append(letter)  # noqa: PERF401  # produce() is the point of the loop
        remaining = self._producer.flush(_FLUSH_TIMEOUT_S)
        if too_large and not remaining:
            for letter in too_large:
                self._produce(letter, now, delivered_as(letter), omit_value=True)
            remaining = self._producer.flush(_FLUSH_TIMEOUT_S)
        if any(error.fatal() for error in errors):
            # A fatal error (e.g. an idempotence sequence gap) makes the producer unusable:
            # start a fresh one so a later retry can succeed.
            self._producer = Producer(self._conf)
        if remaining or errors:
            detail = errors[0].str() if errors else f"{remaining} records not acknowledged"
            raise DeadLetterError(f"DLQ write failed: {detail}")

    def _produce(
        self,
        letter: DeadLetter,
        now: dt.datetime,
        callback: Callable[[KafkaError | None, Message], None],
        *,
        omit_value: bool = False,
    ) -> bool:
        """Produce one letter; False when librdkafka refuses it as too large (nothing queued)."""
        headers = dlq_headers(letter, now)
        value = letter.record.value
        if omit_value:
            headers.append((VALUE_OMITTED, str(len(value or b"")).encode()))
            value = None
            log.warning(
                "dlq.value_omitted",
                topic=letter.record.topic,
                partition=letter.record.partition,
                offset=letter.record.offset,
                reason=letter.failure.reason,
                value_bytes=len(letter.record.value or b""),
            )
        kwargs: dict[str, Any] = {
            "value": value,
            "key": letter.record.key,
            "headers": headers,
            "on_delivery": callback,
        }
        topic = self._topic_for(origin_of(letter.record).topic)
        try:
            try:
                self._producer.produce(topic, **kwargs)
            except BufferError:  # local queue full: wait for acks, then try once more
                self._producer.flush(_FLUSH_TIMEOUT_S)
                self._producer.produce(topic, **kwargs)
        except BufferError as exc:
            raise DeadLetterError("DLQ produce failed: local queue full") from exc
        except KafkaException as exc:
            if exc.args[0].code() in _TOO_LARGE and not omit_value:
                return False
            raise DeadLetterError(f"DLQ produce to {topic} failed: {exc.args[0].str()}") from exc
        return True

    def close(self) -> None:
        self._producer.flush(_FLUSH_TIMEOUT_S)
