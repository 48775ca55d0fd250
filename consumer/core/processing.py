"""Pure per-record processing: bytes -> decoded dict -> CAPI event -> validated, or a Failure.

Bad records are values, not crashes (STYLE rule 6): every record error becomes a ``Failure``
with a machine-readable reason; only infrastructure faults propagate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from consumer.core.decoding import (
    CONFLUENT_MAGIC,
    DecodeLimits,
    LocalWriters,
    confluent_schema_id,
    decode_value,
)
from consumer.core.emq import Tally
from consumer.core.mapping import Filtered, map_record
from consumer.core.models import CapiEvent, Failure, SourceRecord
from consumer.core.validation import validate_event
from consumer.errors import DecodeError, MappingError, RecordError
from consumer.settings import EventType, Settings, TopicSettings

__all__ = [
    "SOURCE_TOPIC_HEADER",
    "Processed",
    "Processor",
    "Result",
    "WriterLookup",
]

SOURCE_TOPIC_HEADER = "capi.dlq.source_topic"  # set on DLQ records; replays keep it

Result = CapiEvent | Filtered | Failure
WriterLookup = Callable[[int], dict[str, Any] | None]
# What a record of one topic is decoded and validated with, worked out once per topic (settings
# are frozen): event type, framing, limits, raw writer schema, reader schema, future skew (s).
_Route = tuple[EventType, str, DecodeLimits, dict[str, Any] | None, dict[str, Any], int]


class Processed(NamedTuple):
    """One poll batch through decode, map and validate, split by outcome (record order kept).

    Its events are counted in ``tally`` and carry only their ``body`` (see ``process_batch``).
    """

    events: list[tuple[SourceRecord, CapiEvent]]
    failures: list[tuple[SourceRecord, Failure]]
    filtered: list[tuple[SourceRecord, Filtered]]
    decoded: int  # records that got past decoding (events, filtered, later failures)
    tally: Tally  # the events' EMQ estimates and dropped user_data values


@dataclass(frozen=True, slots=True)
class Processor:
    """Everything pure processing needs: settings, reader schemas, where writer schemas are."""

    settings: Settings
    readers: Mapping[EventType, dict[str, Any]]
    writer_lookup: WriterLookup  # Confluent schema id -> cached registry schema
    clock: Callable[[], float]
    local: LocalWriters = field(default_factory=LocalWriters)
    _routes: dict[str, _Route] = field(default_factory=dict, init=False, compare=False)
    # topic -> its settings, for topics other than the retry topic (settings are frozen)
    _topics: dict[str, TopicSettings] = field(default_factory=dict, init=False, compare=False)
    # writer_lookup's schemas by id, so a record costs a dict lookup, not an interpreted call:
    # Confluent schema ids are immutable. None (not fetched yet) is never kept.
    _writers: dict[int, dict[str, Any]] = field(default_factory=dict, init=False, compare=False)

    def source_topic(self, record: SourceRecord) -> tuple[str, TopicSettings]:
        """The topic whose settings apply; a replayed record carries its original topic."""
        topic = record.topic
        known = self._topics.get(topic)  # one dict lookup per record, not three pydantic reads
        if known is not None:
            return topic, known
        replayed = topic == self.settings.kafka.retry_topic
        if replayed:
            source = record.header(SOURCE_TOPIC_HEADER)
            topic = source.decode(errors="replace") if source else topic
        topic_settings = self.settings.kafka.topics.get(topic)
        if topic_settings is None:
            raise MappingError(
                "mapping.unknown_source_topic", f"no event type configured for topic {topic}"
            )
        if not replayed:  # the retry topic's records each name their topic in a header
            self._topics[topic] = topic_settings
        return topic, topic_settings

    def event_type(self, record: SourceRecord) -> EventType:
        """The topic's event type; a replayed record carries its original topic in a header."""
        return self.source_topic(record)[1].event_type

    def by_id(self, schema_id: int) -> dict[str, Any] | None:
        """The registry schema cached for ``schema_id`` (WriterSchemas protocol)."""
        writer = self._writers.get(schema_id)
        if writer is None:
            writer = self.writer_lookup(schema_id)
            if writer is not None:
                self._writers[schema_id] = writer
        return writer

    def by_fingerprint(self, fingerprint: int) -> dict[str, Any] | None:
        """The local schema with this CRC-64-AVRO fingerprint (WriterSchemas protocol)."""
        return self.local.fingerprints.get(fingerprint)

    def decode(self, record: SourceRecord) -> tuple[EventType, dict[str, Any]]:
        """The record's event type and its value decoded by its topic's framing and limits."""
        route = self._route(record)
        return route[0], self._decode(record, route)

    def _route(self, record: SourceRecord) -> _Route:
        topic, topic_settings = self.source_topic(record)
        route = self._routes.get(topic)
        if route is None:  # one per topic, not one per record
            limits = DecodeLimits(
                topic_settings.max_message_bytes,
                topic_settings.max_items,
                topic_settings.max_string_bytes,
            )
            route = self._routes[topic] = (
                topic_settings.event_type,
                topic_settings.framing,
                limits,
                self.local.raw.get(topic),
                self.readers[topic_settings.event_type],
                self.settings.mapping.future_skew_s,
            )
        return route

    def _decode(self, record: SourceRecord, route: _Route) -> dict[str, Any]:
        _kind, framing, limits, raw_writer, reader, _skew = route
        return decode_value(
            record.value,
            framing=framing,
            writers=self,
            raw_writer=raw_writer,
            reader=reader,
            limits=limits,
        )

    def process(self, record: SourceRecord) -> Result:
        mapped: CapiEvent | Filtered | None = None
        try:
            route = self._route(record)
            decoded = self._decode(record, route)
            mapped = map_record(route[0], decoded, self.settings)
            if isinstance(mapped, CapiEvent):
                validate_event(mapped, self.clock(), route[5])
        except RecordError as exc:
            return Failure(exc.reason, exc.stage, exc.message, _event_details(mapped))
        return mapped

    def uncached_schema_id(self, record: SourceRecord) -> int | None:
        """The Confluent schema id this record needs from the registry, if not cached yet."""
        try:
            _topic, settings = self.source_topic(record)
            if settings.framing == "auto" and record.value and record.value[0] != CONFLUENT_MAGIC:
                return None
            if settings.framing not in ("confluent", "auto"):
                return None
            schema_id = confluent_schema_id(record.value)
        except (DecodeError, MappingError):
            return None  # processing turns it into a dead letter with the reason
        return None if self.by_id(schema_id) is not None else schema_id

    def uncached_schema_ids(self, records: list[SourceRecord]) -> list[int | None]:
        """``uncached_schema_id`` of each record, in one compiled loop (every poll batch)."""
        return [self.uncached_schema_id(record) for record in records]

    def process_batch(self, records: list[SourceRecord]) -> Processed:
        """``process`` for every record in one compiled loop: no per-record Python around it.

        Each event is counted (EMQ estimate, dropped values) as soon as it is valid, and its
        ``payload`` emptied: from then on only its ``body`` (the JSON, serialized once) is
        batched, sent, retried and split. Its dicts are freed while their memory is still in
        the CPU's cache, and reused by the next record's; keeping a poll batch's payloads until
        the batch was counted cost ~3 µs an event more (docs/benchmarks.md, where CPU goes).
        """
        events: list[tuple[SourceRecord, CapiEvent]] = []
        failures: list[tuple[SourceRecord, Failure]] = []
        filtered: list[tuple[SourceRecord, Filtered]] = []
        counted = Tally()
        undecoded = 0
        for record in records:
            result = self.process(record)
            if isinstance(result, CapiEvent):
                counted.add(result)
                result.payload = {}
                events.append((record, result))
            elif isinstance(result, Failure):
                failures.append((record, result))
                undecoded += result.stage == "decode"
            else:
                filtered.append((record, result))
        return Processed(events, failures, filtered, len(records) - undecoded, counted)


def _event_details(mapped: CapiEvent | Filtered | None) -> dict[str, str]:
    """Ids for the DLQ headers when the record got as far as a mapped event (no PII)."""
    if not isinstance(mapped, CapiEvent):
        return {}
    return {
        "pixel_id": mapped.pixel_id,
        "event_name": mapped.event_name,
        "event_id": mapped.event_id,
    }
