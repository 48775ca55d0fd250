"""Pure per-record processing: bytes -> decoded dict -> CAPI event -> validated, or a Failure.

Bad records are values, not crashes (STYLE rule 6): every record error becomes a ``Failure``
with a machine-readable reason; only infrastructure faults propagate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from consumer.decoding import WriterLookup, decode_confluent
from consumer.errors import MappingError, RecordError
from consumer.mapping import Filtered, map_record
from consumer.models import CapiEvent, Failure, SourceRecord
from consumer.settings import EventType, Settings
from consumer.validation import validate_event

__all__ = ["SOURCE_TOPIC_HEADER", "Processor", "Result"]

SOURCE_TOPIC_HEADER = "capi.dlq.source_topic"  # set on DLQ records; replays keep it

Result = CapiEvent | Filtered | Failure


@dataclass(frozen=True, slots=True)
class Processor:
    """Everything pure processing needs: settings, our reader schemas, a writer-schema lookup."""

    settings: Settings
    readers: Mapping[EventType, dict[str, Any]]
    writer_lookup: WriterLookup
    clock: Callable[[], float]

    def event_type(self, record: SourceRecord) -> EventType:
        """The topic's event type; a replayed record carries its original topic in a header."""
        topic = record.topic
        if topic == self.settings.kafka.retry_topic:
            source = record.header(SOURCE_TOPIC_HEADER)
            topic = source.decode(errors="replace") if source else topic
        topic_settings = self.settings.kafka.topics.get(topic)
        if topic_settings is None:
            raise MappingError(
                "mapping.unknown_source_topic", f"no event type configured for topic {topic}"
            )
        return topic_settings.event_type

    def process(self, record: SourceRecord) -> Result:
        mapped: CapiEvent | Filtered | None = None
        try:
            kind = self.event_type(record)
            decoded = decode_confluent(record.value, self.writer_lookup, self.readers[kind])
            mapped = map_record(kind, decoded, self.settings)
            if isinstance(mapped, CapiEvent):
                validate_event(mapped, self.clock(), self.settings.mapping.future_skew_s)
        except RecordError as exc:
            return Failure(exc.reason, exc.stage, exc.message, _event_details(mapped))
        return mapped


def _event_details(mapped: CapiEvent | Filtered | None) -> dict[str, str]:
    """Ids for the DLQ headers when the record got as far as a mapped event (no PII)."""
    if not isinstance(mapped, CapiEvent):
        return {}
    return {
        "pixel_id": mapped.pixel_id,
        "event_name": mapped.event_name,
        "event_id": mapped.event_id,
    }
