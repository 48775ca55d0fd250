"""Plain values that flow through the pipeline. Frozen, slotted, no behaviour beyond accessors."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CapiEvent",
    "Failure",
    "Outcome",
    "SourceRecord",
    "TopicPartition",
]

TopicPartition = tuple[str, int]


class Outcome(enum.StrEnum):
    """How a consumed record ended. Every record gets exactly one before its offset is stored."""

    SENT = "sent"
    DUPLICATE = "duplicate"
    FILTERED = "filtered"
    DEAD_LETTERED = "dead_lettered"


# _NATIVE_INIT: ``init=False`` and an __init__ of our own on the dataclasses built per record or
# per event: mypyc compiles it, where dataclass's generated __init__ is interpreted Python (a
# frame per construction). Same parameters, defaults and order; eq, repr and replace unchanged.


@dataclass(frozen=True, slots=True, init=False)
class SourceRecord:
    """One Kafka record as consumed: bytes untouched, plus where it came from."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()
    timestamp_ms: int | None = None

    def __init__(  # _NATIVE_INIT (built per Kafka message)
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: tuple[tuple[str, bytes | None], ...] = (),
        timestamp_ms: int | None = None,
    ) -> None:
        object.__setattr__(self, "topic", topic)  # frozen: as dataclass's own __init__ sets them
        object.__setattr__(self, "partition", partition)
        object.__setattr__(self, "offset", offset)
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "headers", headers)
        object.__setattr__(self, "timestamp_ms", timestamp_ms)

    @property
    def tp(self) -> TopicPartition:
        return (self.topic, self.partition)

    @property
    def size(self) -> int:
        return len(self.value or b"") + len(self.key or b"")

    def header(self, name: str) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


# Not frozen: a frozen dataclass's __init__ costs a microsecond more per event (object.__setattr__
# per field), and the pipeline empties its payload once counted.
@dataclass(slots=True, init=False)
class CapiEvent:
    """One server event ready for Meta: ``body`` is its exact JSON, serialized once.

    ``payload`` is the event as a dict (hashed user_data already); ``body`` is
    ``orjson.dumps(payload)``, reused by every batch and every retry. The pipeline empties
    ``payload`` once the event is validated and counted (``Processor.process_batch``).
    """

    pixel_id: str
    test_event_code: str | None
    event_name: str
    event_id: str
    event_time: int
    action_source: str
    payload: dict[str, Any]
    body: bytes = b""
    # user_data values dropped because they could not be normalized: (field, reason), no values.
    dropped: tuple[tuple[str, str], ...] = ()
    # True only when ``mapping.map_record`` built user_data: its hashed keys hold SHA-256 hex
    # digests by construction (consumer.core.digest, or a value that passed the pre-hashed check),
    # so ``validate_event`` need not re-check them with a regex. Any other event is checked. Not
    # an __init__ argument, so ``dataclasses.replace`` (a changed payload) gives False again.
    hashed_by_mapper: bool = field(default=False, init=False, compare=False, repr=False)

    def __init__(  # _NATIVE_INIT (built per event)
        self,
        pixel_id: str,
        test_event_code: str | None,
        event_name: str,
        event_id: str,
        event_time: int,
        action_source: str,
        payload: dict[str, Any],
        body: bytes = b"",
        dropped: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.pixel_id = pixel_id
        self.test_event_code = test_event_code
        self.event_name = event_name
        self.event_id = event_id
        self.event_time = event_time
        self.action_source = action_source
        self.payload = payload
        self.body = body
        self.dropped = dropped
        self.hashed_by_mapper = False

    @property
    def batch_key(self) -> tuple[str, str | None]:
        return (self.pixel_id, self.test_event_code)


@dataclass(frozen=True, slots=True)
class Failure:
    """A record that cannot go on: a value, not an exception (bad records never crash the loop)."""

    reason: str
    stage: str
    message: str
    details: dict[str, str] = field(default_factory=dict)
