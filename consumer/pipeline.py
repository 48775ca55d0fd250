"""Orchestration: poll -> process -> dedup -> batch -> deliver -> settle -> store and commit.

Runs on the event loop. The Kafka consumer is reached only through the bridge (its own
thread); everything else here is loop-owned state. Guarantees (DESIGN.md §1):

1. Every polled record gets exactly one outcome (sent, duplicate, filtered, dead_lettered)
   before its offset can be stored.
2. An offset is stored only when it and every earlier offset of its partition are settled.
3. Sent records are confirmed in the dedup store before they settle; dead-lettered ones are
   acknowledged by the DLQ broker, then their claims are released, then they settle. Each part
   of a batch settles as soon as Meta acknowledges it, even while a rejected sibling is split.
4. Above the in-flight budget (events or bytes) the loop stops polling for up to
   ``delivery.pause_hold_s`` (librdkafka keeps its prefetch), then pauses every assigned
   partition and polls again, so the group membership holds.
5. While the schema registry is unreachable, records needing an uncached schema wait (see
   ``schema_wait``) and the rest flow; the loop keeps polling, pausing when too many wait.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Protocol, TypeVar

import structlog

from consumer.bridge import Bridge
from consumer.core.admission import Ticket, admit_claimed, claims_for
from consumer.core.batching import Batch, Batcher
from consumer.core.dedup import Claim, DedupStore
from consumer.core.mapping import Filtered
from consumer.core.models import CapiEvent, Outcome, SourceRecord, TopicPartition
from consumer.core.offsets import OffsetTracker
from consumer.core.processing import Processor
from consumer.core.retry import Backoff
from consumer.delivery import Deliverer, DeliveryReport
from consumer.dlq import DeadLetter
from consumer.errors import ConsumerError
from consumer.fault_log import faults, pause_changed
from consumer.schema_wait import SchemaWait
from consumer.settings import Settings
from consumer.stats import RunStats

__all__ = ["Pipeline", "Source", "Ticket"]

log = structlog.get_logger("consumer.pipeline")
T = TypeVar("T")
_ASSIGN_TIMEOUT_S = 60.0  # the loop only needs a moment; a long stall there is a bug to surface
_INFRA_BACKOFF = Backoff(base_s=0.2, cap_s=10.0, deadline_s=float("inf"))
_HOLD_TICK_S = 0.005  # while holding (over budget, not polling): how often room is looked for
_MAX_POLL_INTERVAL_MS = 300_000  # librdkafka's default max.poll.interval.ms


class Source(Protocol):
    """What the pipeline needs from the Kafka consumer (sync; called on the consumer thread)."""

    def subscribe(self) -> None: ...
    def poll(self, max_records: int, timeout: float) -> list[SourceRecord]: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def store(self, positions: Mapping[TopicPartition, int]) -> None: ...
    def commit(self) -> None: ...
    def close(self) -> None: ...


class SchemaFetcher(Protocol):
    def fetch(self, schema_ids: Sequence[int]) -> None: ...


class LetterWriter(Protocol):
    def write(self, letters: Sequence[DeadLetter]) -> None: ...


class _Stopping(Exception):
    """Stop was asked for while the loop waited out an outage: give up the wait, shut down."""


class Pipeline:
    """One consumer's run loop. Build it with ``app.build_pipeline``."""

    def __init__(
        self,
        *,
        settings: Settings,
        source: Source,
        processor: Processor,
        schemas: SchemaFetcher,
        dedup: DedupStore,
        deliverer: Deliverer[Ticket],
        dlq: LetterWriter,
        bridge: Bridge,
        stats: RunStats,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._source = source
        self._processor = processor
        self._schemas = schemas
        self._dedup = dedup
        self._deliverer = deliverer
        self._dlq = dlq
        self._bridge = bridge
        self.stats = stats
        self._clock = clock
        self._rng = random.Random()
        self._batcher: Batcher[Ticket] = Batcher(
            settings.batch.max_events, settings.batch.max_bytes, settings.batch.linger_s, clock
        )
        self._tracker = OffsetTracker()
        self._tasks: set[asyncio.Task[None]] = set()
        self._pause_reasons: set[str] = set()
        self._reported_pause: frozenset[str] = frozenset()
        self._paused = False  # the partitions are paused in librdkafka
        self._holding = False  # over the budget, not polling: librdkafka keeps its prefetch
        self._held_since: float | None = None
        self._hold_s = _hold_limit(settings)
        self._assigned: set[TopicPartition] = set()
        self._last_commit = clock()
        self.last_record_at = clock()
        self.heartbeat_at = clock()  # the loop's pulse, read by /livez and /readyz
        self.assignment_received = False
        self._fatal: BaseException | None = None
        self._stop = asyncio.Event()
        self._held: list[SourceRecord] = []
        self._schema_wait = SchemaWait(
            processor,
            lambda ids: bridge.blocking(schemas.fetch, ids),
            settings.schema_registry.max_awaiting_records,
            clock,
        )

    # ----------------------------------------------------------------- the loop

    async def run(
        self, stop: asyncio.Event, stop_when: Callable[[Pipeline], bool] | None = None
    ) -> None:
        """Consume until ``stop`` is set (or ``stop_when`` says so), then drain and leave the group."""
        self._stop = stop
        await self._bridge.on_consumer_thread(self._source.subscribe)
        try:
            await self._loop(stop, stop_when)
        except _Stopping:
            log.info("shutdown.outage_wait_abandoned", waiting_on=sorted(self.waiting_on))
        await self._shutdown()

    async def _loop(
        self, stop: asyncio.Event, stop_when: Callable[[Pipeline], bool] | None
    ) -> None:
        consumer = self._settings.kafka
        while not stop.is_set() and not (stop_when and stop_when(self)):
            self.heartbeat_at = self._clock()
            if self._holding:
                records = []
                await asyncio.sleep(_HOLD_TICK_S)  # deliveries settle meanwhile
            else:
                records = await self._bridge.on_consumer_thread(
                    self._source.poll, consumer.poll_batch_size, consumer.poll_timeout_s
                )
            if self._held:  # polled while waiting out an outage: they come first
                records, self._held = self._held + records, []
            if records:
                self.last_record_at = self._clock()
                await self._ingest(records)
            await self._process(await self._schema_wait.retry_if_due())
            self._flush(self._batcher.due())
            await self._apply_pause()
            await self._maybe_commit()
            if self._fatal is not None:
                raise self._fatal

    def idle_for(self) -> float:
        """Seconds since the last polled record (or since start)."""
        return self._clock() - self.last_record_at

    @property
    def in_flight(self) -> int:
        return self._tracker.unsettled()

    @property
    def assigned(self) -> frozenset[TopicPartition]:
        return frozenset(self._assigned)

    @property
    def in_flight_bytes(self) -> int:
        return self._tracker.unsettled_bytes()

    @property
    def uncommitted(self) -> int:
        """Records past the committable positions, settled or not."""
        return self._tracker.uncommitted()

    @property
    def waiting_on(self) -> frozenset[str]:
        """Dependencies the loop is retrying (registry, dedup, dlq) and pixels held because Meta
        refuses their API version; backpressure is not one. Records waiting for a schema mean
        the registry did not answer, paused or not."""
        registry = {"registry"} if self._schema_wait.waiting else set()
        held = {
            f"meta (pixel {pixel}: API version refused)" for pixel in self._deliverer.held_pixels()
        }
        return frozenset((self._pause_reasons | registry) - {"backpressure"}) | held

    # ------------------------------------------------------------ rebalancing

    def on_assign(self, tps: list[TopicPartition]) -> None:
        """Consumer thread, inside poll: remember the assignment."""
        # Waits: records of these partitions may come back from this very poll.
        self._bridge.from_thread(self._assign(tps), timeout=_ASSIGN_TIMEOUT_S)

    def on_revoke(self, tps: list[TopicPartition]) -> Mapping[TopicPartition, int]:
        """Consumer thread, inside poll: drain the partitions and return the positions to store."""
        deadline = self._settings.delivery.drain_timeout_s
        return self._bridge.from_thread(self._drain(tps, deadline), timeout=deadline + 5.0)

    async def _assign(self, tps: list[TopicPartition]) -> None:
        self._assigned.update(tps)
        self.last_record_at = self._clock()  # idle time counts from the assignment
        self.assignment_received = True
        log.info("partitions.assigned", partitions=[f"{t}/{p}" for t, p in tps])

    async def _drain(
        self, tps: list[TopicPartition], budget_s: float
    ) -> Mapping[TopicPartition, int]:
        self._flush(self._batcher.drain())
        if self._tasks:  # every open batch was just flushed, so these settle the revoked records
            await asyncio.wait(set(self._tasks), timeout=budget_s)
        positions = self._tracker.positions(tps)
        abandoned = self._tracker.unsettled(tps)
        self._tracker.forget(tps)
        self._schema_wait.forget(tps)  # unsettled: the next owner re-reads them
        self._assigned.difference_update(tps)
        log.info("partitions.revoked", partitions=[f"{t}/{p}" for t, p in tps], abandoned=abandoned)
        return positions

    # ------------------------------------------------------------- ingestion

    async def _ingest(self, records: list[SourceRecord]) -> None:
        kept = self._tracker.add_polled(records, self._assigned)
        self.stats.consumed += len(kept)
        await self._process(await self._schema_wait.admit(kept))

    async def _process(self, records: list[SourceRecord]) -> None:
        processed = self._processor.process_batch(self._still_assigned(records))
        events = processed.events
        letters = [DeadLetter(record, failure) for record, failure in processed.failures]
        self.stats.decoded += processed.decoded
        self.stats.observe_tally(processed.tally)  # its events carry only their body now
        for record, filtered in processed.filtered:
            self._settle_filtered(record, filtered)
        if letters:
            # A task, not an await: while the DLQ is down the loop keeps polling (paused), so
            # the group membership holds and nothing past these records is committed.
            self._spawn(self._dead_letter(letters))
        if events:
            await self._claim_and_batch(events)

    def _still_assigned(self, records: list[SourceRecord]) -> list[SourceRecord]:
        """Records whose partition is still ours (a wait may have let a rebalance revoke it)."""
        return [record for record in records if record.tp in self._assigned]

    async def _claim_and_batch(self, events: list[tuple[SourceRecord, CapiEvent]]) -> None:
        claims = claims_for(events)
        verdicts = await self._until_ok("dedup", self._dedup.claim, claims, keepalive=True)
        ready, duplicates = admit_claimed(
            events,
            claims,
            verdicts,
            pending=self._tracker.pending,
            batcher=self._batcher,
            token=Ticket,
        )
        for record, event in duplicates:
            self.stats.duplicates_per_event[(event.pixel_id, event.event_name)] += 1
            self._settle(record, Outcome.DUPLICATE)
        self._flush(ready)

    def _flush(self, batches: list[Batch[Ticket]]) -> None:
        for batch in batches:
            self._spawn(self._deliver(batch))

    def _spawn(self, work: Coroutine[object, object, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None and self._fatal is None:
            self._fatal = task.exception()

    async def _deliver(self, batch: Batch[Ticket]) -> None:
        await self._deliverer.deliver(batch, on_part=self._settle_part)

    async def _settle_part(self, report: DeliveryReport[Ticket]) -> None:
        """Settle one part of a batch as soon as it is: a rejected sibling does not hold it."""
        if report.sent:
            await self._until_ok(
                "dedup", self._dedup.confirm, [ticket.claim for ticket in report.sent]
            )
            self._settle_many([ticket.record for ticket in report.sent], Outcome.SENT)
        if report.failed:
            await self._dead_letter(
                [DeadLetter(t.record, failure) for t, failure in report.failed],
                [t.claim for t, _ in report.failed],
            )

    # ------------------------------------------------------------ settlement

    async def _dead_letter(self, letters: list[DeadLetter], claims: Sequence[Claim] = ()) -> None:
        """Write to the DLQ (acknowledged), release the claims, then settle; retries meanwhile.

        Released before settling: a committed offset must not leave a pending claim behind, or a
        replay from the DLQ would be dropped as a duplicate until the claim expires.
        """
        await self._until_ok("dlq", self._bridge.blocking, self._dlq.write, letters)
        if claims:
            await self._until_ok("dedup", self._dedup.release, claims)
        for letter in letters:
            record, failure = letter.record, letter.failure
            self.stats.dead_letter_reasons[failure.reason] += 1
            log.warning(
                "record.dead_lettered",
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                reason=failure.reason,
                stage=failure.stage,
                pixel_id=failure.details.get("pixel_id"),
                event_id=failure.details.get("event_id"),
                attempts=failure.details.get("attempts"),
                error=failure.message,
            )
            self._settle(record, Outcome.DEAD_LETTERED)

    def _settle_filtered(self, record: SourceRecord, filtered: Filtered) -> None:
        self.stats.filtered_reasons[filtered.reason] += 1
        self._settle(record, Outcome.FILTERED)

    def _settle(self, record: SourceRecord, outcome: Outcome) -> None:
        self.stats.outcome(outcome)
        self._tracker.settle(record.tp, record.offset)

    def _settle_many(self, records: list[SourceRecord], outcome: Outcome) -> None:
        self.stats.outcome(outcome, len(records))
        self._tracker.settle_records(records)

    async def _until_ok(
        self, what: str, fn: Callable[..., Awaitable[T]], *args: object, keepalive: bool = False
    ) -> T:
        """Retry an infrastructure call until it works; consumption is paused meanwhile.

        ``keepalive`` (main loop only): pause now and keep polling while waiting, so the group
        membership holds however long the outage lasts; a stop request ends the wait
        (``_Stopping``). Delivery tasks never touch the consumer (a rebalance callback may be
        waiting on them); the main loop pauses for them.
        """
        attempt = 0
        while True:
            try:
                result = await fn(*args)
            except ConsumerError as exc:
                if not exc.retriable:
                    raise
                attempt += 1
                self.heartbeat_at = self._clock()  # alive, waiting: not a reason to restart
                self._pause_reasons.add(what)
                faults.warn(
                    "infrastructure.unavailable",
                    what,
                    dependency=what,
                    attempt=attempt,
                    error=str(exc),
                )
                delay = _INFRA_BACKOFF.delay(attempt, self._rng)
                await (self._keepalive(delay) if keepalive else asyncio.sleep(delay))
                continue
            if attempt:
                log.info("infrastructure.recovered", dependency=what, attempts=attempt)
            self._pause_reasons.discard(what)
            return result

    async def _keepalive(self, seconds: float) -> None:
        """Pause, then poll for ``seconds``: heartbeats and rebalances are served meanwhile."""
        await self._apply_pause()
        deadline = self._clock() + seconds
        while (remaining := deadline - self._clock()) > 0:
            if self._stop.is_set():
                raise _Stopping
            timeout = min(remaining, self._settings.kafka.poll_timeout_s)
            size = self._settings.kafka.poll_batch_size
            self._held.extend(
                await self._bridge.on_consumer_thread(self._source.poll, size, timeout)
            )

    # ------------------------------------------------- backpressure and commits

    async def _apply_pause(self) -> None:
        delivery = self._settings.delivery
        events, size = self._tracker.unsettled(), self._tracker.unsettled_bytes()
        span, low = self._tracker.uncommitted(), delivery.low_water_ratio
        if self._schema_wait.full:
            self._pause_reasons.add("registry")
        else:
            self._pause_reasons.discard("registry")
        if (
            events >= delivery.max_in_flight_events
            or size >= delivery.max_in_flight_bytes
            or span >= delivery.max_uncommitted_records
        ):
            self._pause_reasons.add("backpressure")
        elif (
            events <= delivery.max_in_flight_events * low
            and size <= delivery.max_in_flight_bytes * low
            and span <= delivery.max_uncommitted_records * low
        ):
            self._pause_reasons.discard("backpressure")
        want_paused = bool(self._pause_reasons)
        if not want_paused:
            self._held_since = None
        elif self._held_since is None:
            self._held_since = self._clock()
        # Backpressure alone is first a hold (no polling, prefetch kept); an outage, or a hold
        # that lasted pause_hold_s, pauses the partitions and polls on.
        self._holding = (
            self._pause_reasons == {"backpressure"}
            and self._held_since is not None
            and self._clock() - self._held_since < self._hold_s
        )
        want_paused = want_paused and not self._holding
        if want_paused != self._paused:
            await self._bridge.on_consumer_thread(
                self._source.pause if want_paused else self._source.resume
            )
            self._paused = want_paused
        if self._reported_pause != self._pause_reasons:  # paused, resumed, or for other reasons
            pause_changed(self._reported_pause, self._pause_reasons)
            self._reported_pause = frozenset(self._pause_reasons)

    @property
    def paused(self) -> bool:
        """Consumption is paused: partitions paused, or held (over the budget, not polling)."""
        return self._paused or self._holding

    async def _maybe_commit(self, force: bool = False) -> None:
        if not force and self._clock() - self._last_commit < self._settings.kafka.commit_interval_s:
            return
        self._last_commit = self._clock()
        positions = self._tracker.to_store()
        if positions:
            await self._bridge.on_consumer_thread(self._source.store, positions)
        await self._bridge.on_consumer_thread(self._source.commit)

    async def _shutdown(self) -> None:
        """Stop polling, drain in-flight work within the deadline, commit, leave the group."""
        self._flush(self._batcher.drain())
        if self._tasks:
            _done, pending = await asyncio.wait(
                set(self._tasks), timeout=self._settings.delivery.drain_timeout_s
            )
            for task in pending:
                task.cancel()
            log.info("shutdown.drained", abandoned_batches=len(pending))
        await self._maybe_commit(force=True)
        await self._bridge.on_consumer_thread(self._source.close)


def _hold_limit(settings: Settings) -> float:
    """``delivery.pause_hold_s``, kept well under max.poll.interval.ms (not polling that long
    would make librdkafka leave the group)."""
    interval_ms = settings.kafka.to_librdkafka("consumer").get(
        "max.poll.interval.ms", _MAX_POLL_INTERVAL_MS
    )
    return min(settings.delivery.pause_hold_s, float(interval_ms) / 1000 / 4)
