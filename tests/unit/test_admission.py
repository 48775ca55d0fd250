"""A poll batch's claimed events into batches: revoked records left out, duplicates returned."""

from __future__ import annotations

from consumer.core.admission import admit_claimed, claims_for
from consumer.core.batching import Batcher
from consumer.core.dedup import Claim, Verdict, dedup_key
from consumer.core.models import CapiEvent, SourceRecord


def _event(event_id: str) -> CapiEvent:
    return CapiEvent("111", None, "Purchase", event_id, 1, "website", {}, b"{}")


RECORDS = [SourceRecord("orders", 0, offset, None, b"v") for offset in range(4)]
EVENTS = [(record, _event(f"e{record.offset}")) for record in RECORDS]


def test_claims_name_the_event_key_and_the_record_position() -> None:
    """Each claim: the dedup key of (pixel, event name, event id), owned by topic/partition/offset."""
    claims = claims_for(EVENTS[:1])

    assert [Claim(dedup_key("111", "Purchase", "e0"), "orders/0/0")] == claims


def test_fresh_events_are_batched_duplicates_returned_revoked_dropped() -> None:
    """Proceeding events go into the batcher with their token; duplicates come back to be
    settled; a record whose partition was revoked meanwhile is in neither."""
    batcher: Batcher[tuple[int, Claim]] = Batcher(3, 1_000_000, 60.0, lambda: 0.0)
    claims = claims_for(EVENTS)
    verdicts = [Verdict.PROCEED, Verdict.DUPLICATE, Verdict.PROCEED, Verdict.PROCEED]

    ready, duplicates = admit_claimed(
        EVENTS,
        claims,
        verdicts,
        pending=lambda _tp, offset: offset != 2,
        batcher=batcher,
        token=lambda record, claim: (record.offset, claim),
    )

    assert [EVENTS[1]] == duplicates
    assert [] == ready  # two events, batches of three: still open
    (batch,) = batcher.drain()
    assert [(0, claims[0]), (3, claims[3])] == batch.tokens
