"""Read a dead letter's original value: decode it with its schema, mask PII, find its event time.

Pure given a ``Processor`` whose writer lookup is already filled (``dlq_cli`` fetches the schema
ids from the registry first). The DLQ holds the producers' raw bytes, so anything printed from
the payload is masked unless the operator asks for ``--reveal``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from consumer.core.decoding import confluent_schema_id
from consumer.core.mapping import map_record
from consumer.core.models import CapiEvent, SourceRecord
from consumer.core.processing import Processor
from consumer.core.validation import MAX_AGE_PHYSICAL_STORE_S, MAX_AGE_S
from consumer.dlq_view import MASK, DlqEntry
from consumer.errors import DecodeError, RecordError

__all__ = ["EventClock", "PayloadInspector", "mask_pii", "schema_id_of"]

# Sub-records and fields that hold customer data (schemas/*.avsc): masked by default.
_PII_PARENTS = frozenset({"customer", "browser"})
_PII_FIELDS = frozenset({"email", "phone", "first_name", "last_name", "client_ip", "user_agent"})


@dataclass(frozen=True, slots=True)
class EventClock:
    """What the 7-day check needs: when the event happened and how Meta counts its age."""

    event_time: int
    action_source: str

    def max_age_s(self) -> int:
        return MAX_AGE_PHYSICAL_STORE_S if self.action_source == "physical_store" else MAX_AGE_S

    def too_old(self, now: dt.datetime) -> bool:
        return self.event_time < now.timestamp() - self.max_age_s()


def schema_id_of(entry: DlqEntry) -> int | None:
    """The Confluent schema id of the entry's value, or None when it has no valid framing."""
    try:
        return confluent_schema_id(entry.record.value)
    except DecodeError:
        return None


def mask_pii(node: Any, *, reveal: bool = False) -> Any:
    """A JSON-ready copy of a decoded record with customer data replaced by ``***``.

    ``reveal=True`` keeps the values (the operator asked for them with ``--reveal``).
    """
    return _walk(node, "", reveal)


def _walk(node: Any, parent: str, reveal: bool) -> Any:
    if isinstance(node, Mapping):
        return {
            key: (
                MASK
                if not reveal and _is_pii(parent, str(key), value)
                else _walk(value, str(key) if key in _PII_PARENTS else parent, reveal)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_walk(item, parent, reveal) for item in node]
    return _plain(node)


def _is_pii(parent: str, key: str, value: Any) -> bool:
    if value is None or isinstance(value, bool | Mapping | list):
        return False
    return parent in _PII_PARENTS or key in _PII_FIELDS


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


@dataclass(frozen=True, slots=True)
class PayloadInspector:
    """Decodes DLQ entries the way the consumer would, from their original source topic."""

    processor: Processor
    fetch: Callable[[Sequence[int]], None] = lambda _ids: None  # fills the writer-schema lookup

    def decode(self, entry: DlqEntry) -> dict[str, Any]:
        """The decoded record, or RecordError with the reason the consumer would give."""
        record = self._as_source(entry)
        schema_id = schema_id_of(entry)
        if schema_id is not None:
            self.fetch([schema_id])
        return self.processor.decode(record)[1]

    def event_clock(self, entry: DlqEntry) -> EventClock | None:
        """Event time and action source, or None when the value cannot be decoded and mapped."""
        record = self._as_source(entry)
        try:
            decoded = self.decode(entry)
            mapped = map_record(self.processor.event_type(record), decoded, self.processor.settings)
        except RecordError:
            return None
        if not isinstance(mapped, CapiEvent):
            return None
        return EventClock(mapped.event_time, mapped.action_source)

    @staticmethod
    def _as_source(entry: DlqEntry) -> SourceRecord:
        record = entry.record
        return SourceRecord(entry.source_topic, 0, 0, record.key, record.value, record.headers)
