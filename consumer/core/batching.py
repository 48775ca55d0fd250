"""Pure batching: per (pixel_id, test_event_code) accumulators that flush on count, bytes or age.

Events arrive serialized (``CapiEvent.body``); a batch's request body is built by joining those
bytes, so each event is serialized exactly once however often its batch is retried or split. A
batch keeps each event without its ``payload`` dict, which nothing after batching reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import orjson
from mypy_extensions import mypyc_attr

from consumer.core.models import CapiEvent

__all__ = ["Batch", "Batcher", "request_body"]

T = TypeVar("T")
BatchKey = tuple[str, str | None]
_ENVELOPE_BYTES = 64  # '{"data":[' ... '],"test_event_code":"..."}' overhead, rounded up


@mypyc_attr(native_class=False)  # generic and slotted: mypyc cannot make it a native class
@dataclass(slots=True)
class Batch(Generic[T]):
    """Events for one (pixel, test code), each with the caller's token (its source record)."""

    key: BatchKey
    created_at: float
    events: list[CapiEvent] = field(default_factory=list)
    tokens: list[T] = field(default_factory=list)
    size_bytes: int = _ENVELOPE_BYTES

    @property
    def pixel_id(self) -> str:
        return self.key[0]

    @property
    def test_event_code(self) -> str | None:
        return self.key[1]

    def __len__(self) -> int:
        return len(self.events)

    def split(self) -> tuple[Batch[T], Batch[T]]:
        """Two halves, for bisecting a rejected batch."""
        mid = len(self.events) // 2
        return self._part(slice(None, mid)), self._part(slice(mid, None))

    def _part(self, where: slice) -> Batch[T]:
        events, tokens = self.events[where], self.tokens[where]
        size = _ENVELOPE_BYTES + sum(len(event.body) + 1 for event in events)
        return Batch(self.key, self.created_at, events, tokens, size)


def request_body(batch: Batch[T], partner_agent: str | None = None) -> bytes:
    """The JSON request body for ``batch``: the events' bytes joined, never re-serialized."""
    parts = [b'{"data":[', b",".join(event.body for event in batch.events), b"]"]
    if batch.test_event_code is not None:
        parts.append(b',"test_event_code":' + orjson.dumps(batch.test_event_code))
    if partner_agent is not None:
        parts.append(b',"partner_agent":' + orjson.dumps(partner_agent))
    parts.append(b"}")
    return b"".join(parts)


def _without_payload(event: CapiEvent) -> CapiEvent:
    """The event as a batch keeps it: its body and ids, not its dict (~2.7 KB of memory an event
    while it waits for Meta; the dict served mapping, validation and the EMQ estimate). The
    poll batch's events come emptied already (``Processor.process_batch``): no copy then."""
    if not event.payload:
        return event
    return CapiEvent(
        event.pixel_id,
        event.test_event_code,
        event.event_name,
        event.event_id,
        event.event_time,
        event.action_source,
        {},
        event.body,
    )


class Batcher(Generic[T]):
    """Accumulates events per batch key; hands out batches when full or old enough."""

    def __init__(
        self, max_events: int, max_bytes: int, linger_s: float, clock: Callable[[], float]
    ) -> None:
        self._max_events = max_events
        self._max_bytes = max_bytes
        self._linger_s = linger_s
        self._clock = clock
        self._open: dict[BatchKey, Batch[T]] = {}

    def add(self, event: CapiEvent, token: T) -> tuple[Batch[T], ...]:
        """Add one event; return the batches that this made ready (zero, one, or two).

        Once per event: the key and size are read once, and nothing is allocated for the
        usual answer (no batch ready).
        """
        key, size = event.batch_key, len(event.body) + 1
        batch = self._open.get(key)
        full: Batch[T] | None = None
        if batch is not None and batch.size_bytes + size > self._max_bytes:
            full, batch = self._open.pop(key), None
        if batch is None:
            batch = self._open[key] = Batch(key, self._clock())
        batch.events.append(_without_payload(event))
        batch.tokens.append(token)
        batch.size_bytes += size
        if len(batch.events) < self._max_events:
            return () if full is None else (full,)
        del self._open[key]
        return (batch,) if full is None else (full, batch)

    def due(self) -> list[Batch[T]]:
        """Batches older than the linger time."""
        cutoff = self._clock() - self._linger_s
        keys = [key for key, batch in self._open.items() if batch.created_at <= cutoff]
        return [self._open.pop(key) for key in keys]

    def drain(self) -> list[Batch[T]]:
        """Every open batch (shutdown, revocation)."""
        batches = list(self._open.values())
        self._open.clear()
        return batches

    def next_due_in(self) -> float | None:
        """Seconds until the oldest open batch is due, or None when nothing is open."""
        if not self._open:
            return None
        oldest = min(batch.created_at for batch in self._open.values())
        return max(0.0, oldest + self._linger_s - self._clock())

    @property
    def pending_events(self) -> int:
        return sum(len(batch) for batch in self._open.values())
