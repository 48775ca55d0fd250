"""Pure: a poll batch's mapped events, claimed in the dedup store, into batches in one loop.

The pipeline claims every event of a poll batch at once; this splits the verdicts in a compiled
loop (no per-event Python in the pipeline): records revoked while the claim was in flight are
left out (the next owner re-reads them), duplicates are returned to be settled, and the rest go
into the batcher with their token (the pipeline's ``Ticket``: record and claim).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from consumer.core.batching import Batch, Batcher
from consumer.core.dedup import Claim, Verdict, dedup_key, owner_of
from consumer.core.models import CapiEvent, SourceRecord, TopicPartition

__all__ = ["Ticket", "admit_claimed", "claims_for"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True, init=False)
class Ticket:
    """A record on its way to Meta, with its dedup claim (one per event)."""

    record: SourceRecord
    claim: Claim

    def __init__(self, record: SourceRecord, claim: Claim) -> None:
        # compiled, where dataclass's generated __init__ (or a NamedTuple's __new__) would be
        # interpreted Python: a frame per event
        object.__setattr__(self, "record", record)
        object.__setattr__(self, "claim", claim)


def claims_for(events: list[tuple[SourceRecord, CapiEvent]]) -> list[Claim]:
    """Each event's claim: its dedup key, owned by its record's position."""
    return [
        Claim(
            dedup_key(event.pixel_id, event.event_name, event.event_id),
            owner_of(record.topic, record.partition, record.offset),
        )
        for record, event in events
    ]


def admit_claimed(
    events: list[tuple[SourceRecord, CapiEvent]],
    claims: list[Claim],
    verdicts: list[Verdict],
    *,
    pending: Callable[[TopicPartition, int], bool],
    batcher: Batcher[T],
    token: Callable[[SourceRecord, Claim], T],
) -> tuple[list[Batch[T]], list[tuple[SourceRecord, CapiEvent]]]:
    """(batches made ready, duplicates to settle); revoked records are in neither."""
    ready: list[Batch[T]] = []
    duplicates: list[tuple[SourceRecord, CapiEvent]] = []
    for (record, event), claim, verdict in zip(events, claims, verdicts, strict=True):
        if not pending((record.topic, record.partition), record.offset):
            continue  # revoked while we waited (maybe assigned again): it is re-read
        if verdict is Verdict.DUPLICATE:
            duplicates.append((record, event))
        else:
            ready += batcher.add(event, token(record, claim))
    return ready, duplicates
