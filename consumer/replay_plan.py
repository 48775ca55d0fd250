"""Pure replay decisions: replay a dead letter or skip it, and why; the headers it is replayed with.

Order of checks (DESIGN.md §6):

0. A dead letter written without its value (too large for the DLQ topic) cannot be replayed from
   the DLQ; it is skipped (``value_omitted``): re-publish it from its source position instead.
1. Loop guard: a record already replayed ``max_replays`` times is skipped (``loop_guard``).
2. Meta's age limit: an event older than 7 days (62 for ``physical_store``) can never be accepted,
   so it is skipped as unreplayable (``too_old``).
3. Everything else is replayed. A value that cannot be decoded and mapped has no event time to
   check; it is replayed anyway (``unchecked``): the consumer dead-letters it again with the same
   reason if nothing was fixed, and the loop guard bounds how often that can happen.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from consumer.core.models import SourceRecord
from consumer.dlq import HEADER_PREFIX, VALUE_OMITTED
from consumer.dlq_payload import EventClock
from consumer.dlq_view import DlqEntry

__all__ = ["REPEAT", "REPLAY_GROUP", "Decision", "decide", "replay_headers", "replayed_attempt"]

_REPLAY_COUNT = HEADER_PREFIX + "replay_count"
REPLAY_GROUP = HEADER_PREFIX + "replay_group"  # the progress group that wrote a replay
REPEAT = "repeat"  # a second letter for an attempt already decided (``replay.ReplayJob``)


@dataclass(frozen=True, slots=True)
class Decision:
    """``replay`` or not, with a short machine-readable ``why``."""

    replay: bool
    why: str  # replay | unchecked | value_omitted | loop_guard | too_old | repeat


def decide(
    entry: DlqEntry, clock: EventClock | None, now: dt.datetime, max_replays: int
) -> Decision:
    """What ``dlq replay`` does with one matching entry (see the module docstring)."""
    if entry.record.header(VALUE_OMITTED) is not None:
        return Decision(False, "value_omitted")
    if entry.replay_count >= max_replays:
        return Decision(False, "loop_guard")
    if clock is None:
        return Decision(True, "unchecked")
    if clock.too_old(now):
        return Decision(False, "too_old")
    return Decision(True, "replay")


def replay_headers(entry: DlqEntry, group: str) -> list[tuple[str, bytes]]:
    """The DLQ record's headers (the producer's and ours) with the replay count incremented and
    the progress ``group`` that replays it.

    ``capi.dlq.source_topic`` stays, so the consumer picks the original topic's schema.
    """
    ours = (_REPLAY_COUNT, REPLAY_GROUP)
    kept = [(key, value or b"") for key, value in entry.record.headers if key not in ours]
    return [
        *kept,
        (_REPLAY_COUNT, str(entry.replay_count + 1).encode()),
        (REPLAY_GROUP, group.encode()),
    ]


def replayed_attempt(record: SourceRecord, group: str) -> tuple[str, int] | None:
    """The attempt (``DlqEntry.attempt``) a retry-topic record replays, if ``group`` wrote it.

    A replay killed between producing and committing leaves such records past its committed
    position; the resumed run skips their attempts as repeats.
    """
    if record.header(REPLAY_GROUP) != group.encode():
        return None
    position, replays = DlqEntry.of(record).attempt()
    return position, replays - 1
