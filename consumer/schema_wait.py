"""Records waiting for a writer schema while the Schema Registry is unreachable.

A registry outage is not the record's fault, so nothing is dead-lettered for it. It is also not
a reason to stop everything: records whose schema id is already cached (or that need no
registry: single-object and raw framings) keep flowing. Only records with an uncached id wait
here, in poll order; they stay unsettled, so the committed offset of their partition cannot
pass them (settlement is per offset, so later records of the same partition may settle first).
The poll loop keeps running meanwhile, so the consumer keeps its group membership; once
``max_awaiting_records`` wait, the pipeline pauses its partitions until the registry answers.
Retries follow capped exponential backoff with jitter; a revoked partition's waiting records
are dropped (the next owner re-reads them from the committed offset).
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Collection, Sequence

from consumer.core.models import SourceRecord, TopicPartition
from consumer.core.processing import Processor
from consumer.core.retry import Backoff
from consumer.errors import InfrastructureError
from consumer.fault_log import faults

__all__ = ["REGISTRY_UNREACHABLE", "SchemaWait"]

REGISTRY_UNREACHABLE = "registry.unreachable"
_BACKOFF = Backoff(base_s=0.2, cap_s=10.0, deadline_s=float("inf"))

Fetch = Callable[[Sequence[int]], Awaitable[None]]


class SchemaWait:
    """Admit records whose writer schema is at hand; hold the rest until the registry answers."""

    def __init__(
        self,
        processor: Processor,
        fetch: Fetch,
        capacity: int,
        clock: Callable[[], float],
        rng: random.Random | None = None,
    ) -> None:
        self._processor = processor
        self._fetch = fetch
        self._capacity = capacity
        self._clock = clock
        self._rng = rng or random.Random()
        self._waiting: list[SourceRecord] = []
        self._attempt = 0
        self._next_try = 0.0
        self._waiting_since = 0.0

    @property
    def waiting(self) -> int:
        """How many records wait for a schema."""
        return len(self._waiting)

    @property
    def full(self) -> bool:
        """True when consumption should pause: the waiting room is at capacity."""
        return len(self._waiting) >= self._capacity

    async def admit(self, records: list[SourceRecord]) -> list[SourceRecord]:
        """The records that can be processed now, in order; the others wait."""
        ids = self._processor.uncached_schema_ids(records)
        needed = set(ids) - {None}
        if not needed:  # the steady state: every schema is cached
            return records
        if not self._waiting and await self._try_fetch(needed):
            return records
        if not self._waiting:
            self._waiting_since = self._clock()
            faults.warn(
                "registry.wait_started", schema_ids=sorted(i for i in needed if i is not None)
            )
        self._waiting.extend(r for r, i in zip(records, ids, strict=True) if i is not None)
        return [r for r, i in zip(records, ids, strict=True) if i is None]

    async def retry_if_due(self) -> list[SourceRecord]:
        """After the backoff delay, try the registry again; on success release every waiter."""
        if not self._waiting or self._clock() < self._next_try:
            return []
        needed = {self._uncached_id(record) for record in self._waiting} - {None}
        if needed and not await self._try_fetch(needed):
            return []
        released, self._waiting = self._waiting, []
        faults.info(
            "registry.wait_ended",
            released=len(released),
            attempts=self._attempt,
            waited_s=round(self._clock() - self._waiting_since, 1),
        )
        self._attempt = 0
        return released

    def forget(self, tps: Collection[TopicPartition]) -> list[SourceRecord]:
        """Drop the waiting records of revoked partitions; returns them."""
        dropped = [record for record in self._waiting if record.tp in tps]
        self._waiting = [record for record in self._waiting if record.tp not in tps]
        return dropped

    async def _try_fetch(self, ids: set[int | None]) -> bool:
        try:
            await self._fetch(sorted(i for i in ids if i is not None))
        except InfrastructureError as exc:
            self._attempt += 1
            self._next_try = self._clock() + _BACKOFF.delay(self._attempt, self._rng)
            faults.warn(
                "infrastructure.unavailable",
                "registry",
                dependency="registry",
                reason=REGISTRY_UNREACHABLE,
                attempt=self._attempt,
                waiting=len(self._waiting),
                error=str(exc),
            )
            return False
        return True

    def _uncached_id(self, record: SourceRecord) -> int | None:
        """The Confluent schema id this record needs from the registry, if not cached yet."""
        return self._processor.uncached_schema_id(record)
