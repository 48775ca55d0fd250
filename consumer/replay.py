"""``dlq replay``: copy chosen dead letters back to the retry topic the consumer reads.

Replayed records take the same path as live ones (decode, map, validate, dedup, send). Progress
is committed under the replay's own consumer group after each acknowledged chunk, so an
interrupted replay resumes where it stopped and a finished one finds nothing new.

A source position is replayed once per run: a crash before the consumer committed can leave two
letters for one attempt (``DlqEntry.attempt``); the first matching one is decided, later ones are
skipped as ``repeat``. A resumed run first reads the letters the earlier runs handled (before the
group's committed positions) and the retry topic's records its group wrote (each replay names
its group in ``capi.dlq.replay_group``; a kill between produce and commit leaves some past the
committed position), so a repeat is recognised across an interruption or a kill too.
Order of one chunk:

1. read DLQ records; skip repeats; decide each other matching one (``replay_plan.decide``);
2. produce the ones to replay to the retry topic (idempotent producer, acks=all);
3. flush: every produced record acknowledged, else InfrastructureError and nothing committed;
4. commit the DLQ positions handled so far (matching or not, replayed or skipped).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from consumer.core.models import SourceRecord, TopicPartition
from consumer.dlq_payload import PayloadInspector
from consumer.dlq_reader import DlqReader
from consumer.dlq_view import DlqEntry, DlqFilter
from consumer.errors import InfrastructureError
from consumer.kafka_logs import with_structlog
from consumer.replay_plan import REPEAT, Decision, decide, replay_headers, replayed_attempt

__all__ = ["ReplayJob", "ReplaySummary", "RetryWriter"]

CHUNK = 200  # records per acknowledged-and-committed step: bounds the re-replay after a crash
_FLUSH_TIMEOUT_S = 30.0


class RetryWriter:
    """Produces replayed records to the retry topic and waits for the broker's acknowledgements."""

    def __init__(self, conf: Mapping[str, Any], topic: str, group: str) -> None:
        self._producer = Producer(
            with_structlog({**conf, "enable.idempotence": True, "acks": "all"})
        )
        self._topic = topic
        self._group = group  # the progress group, named in each replay's headers
        self._errors: list[KafkaError] = []

    def send(self, entry: DlqEntry) -> None:
        """Produce one replay (same key and value bytes); acknowledged by the next ``flush``."""
        record = entry.record
        kwargs: dict[str, Any] = {
            "key": record.key,
            "value": record.value,
            "headers": replay_headers(entry, self._group),
            "on_delivery": self._delivered,
        }
        try:
            self._producer.produce(self._topic, **kwargs)
        except BufferError:  # local queue full: wait for acknowledgements, then once more
            self.flush()
            self._producer.produce(self._topic, **kwargs)

    def _delivered(self, error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            self._errors.append(error)

    def flush(self) -> None:
        """Block until every record is acknowledged; InfrastructureError otherwise."""
        remaining = self._producer.flush(_FLUSH_TIMEOUT_S)
        if remaining or self._errors:
            detail = self._errors[0].str() if self._errors else f"{remaining} not acknowledged"
            raise InfrastructureError(f"writing to retry topic {self._topic} failed: {detail}")

    def close(self) -> None:
        self._producer.flush(_FLUSH_TIMEOUT_S)


@dataclass(slots=True)
class ReplaySummary:
    """What one replay run did."""

    group: str
    dry_run: bool
    read: int = 0
    matched: int = 0
    replayed: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # why -> count
    limit_reached: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "dry_run": self.dry_run,
            "read": self.read,
            "matched": self.matched,
            "replayed": self.replayed,
            "skipped": dict(self.skipped),
            "limit_reached": self.limit_reached,
        }


@dataclass(slots=True)
class ReplayJob:
    """One replay run over the DLQ records the reader yields. ``writer`` is None on a dry run."""

    reader: DlqReader
    writer: RetryWriter | None
    inspector: PayloadInspector
    dlq_filter: DlqFilter
    max_replays: int
    now: dt.datetime
    summary: ReplaySummary
    limit: int | None = None
    on_item: Callable[[DlqEntry, Decision], None] = lambda _entry, _decision: None
    on_progress: Callable[[ReplaySummary], None] = lambda _summary: None
    # The retry topic's records, to find this group's replays a kill left uncommitted.
    retried: Iterable[SourceRecord] = ()
    _positions: dict[TopicPartition, int] = field(default_factory=dict, init=False)
    _attempts: set[tuple[str, int]] = field(default_factory=set, init=False)
    _unsaved: int = field(default=0, init=False)

    def run(self) -> ReplaySummary:
        """Replay every matching, replayable record up to ``limit``; commit as it goes.

        On Ctrl-C (or a closed output pipe) what was handled so far is acknowledged and
        committed before it propagates, so the next run starts exactly after it.
        """
        for record in self.reader.handled():  # what earlier runs of this group decided
            entry = DlqEntry.of(record)
            if self.dlq_filter.matches(entry):
                self._attempts.add(entry.attempt())
        for record in self.retried:  # ... and replayed, even if a kill left it uncommitted
            attempt = replayed_attempt(record, self.summary.group)
            if attempt is not None:
                self._attempts.add(attempt)
        try:
            self._run()
        except (KeyboardInterrupt, BrokenPipeError):
            self._checkpoint()
            raise
        return self.summary

    def _run(self) -> None:
        for record in self.reader.records():
            self.summary.read += 1
            self._handle(DlqEntry.of(record))
            self._positions[(record.topic, record.partition)] = record.offset + 1
            self._unsaved += 1
            if self._unsaved >= CHUNK:
                self._checkpoint()
            if self.limit is not None and self.summary.replayed >= self.limit:
                self.summary.limit_reached = True
                break
        self._checkpoint()

    def _handle(self, entry: DlqEntry) -> None:
        if not self.dlq_filter.matches(entry):
            return
        self.summary.matched += 1
        attempt = entry.attempt()
        if attempt in self._attempts:
            decision = Decision(False, REPEAT)
        else:
            self._attempts.add(attempt)
            clock = self.inspector.event_clock(entry)
            decision = decide(entry, clock, self.now, self.max_replays)
        self.on_item(entry, decision)
        if not decision.replay:
            self.summary.skipped[decision.why] += 1
            return
        if self.writer is not None:
            self.writer.send(entry)
        self.summary.replayed += 1

    def _checkpoint(self) -> None:
        """Acknowledged, then committed (a dry run commits nothing); then report progress."""
        if self.writer is not None and self._unsaved:
            self.writer.flush()
            self.reader.commit(self._positions)
        self._unsaved = 0
        self.on_progress(self.summary)
