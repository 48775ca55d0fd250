"""Settlement through the real pipeline when a dependency fails or the group rebalances mid-way.

The pipeline runs with the real Processor, Deliverer and batching; the Kafka source, the CAPI
poster, the dedup store and the DLQ producer are in-memory fakes that fail on cue.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from consumer.bridge import Bridge
from consumer.core.batching import Batch
from consumer.core.dedup import Claim, MemoryDedupStore, Verdict
from consumer.core.graph_errors import GraphVerdict, Kind
from consumer.core.models import SourceRecord, TopicPartition
from consumer.delivery import Poster
from consumer.errors import InfrastructureError
from consumer.pipeline import Pipeline
from tests.component.test_dlq_reasons import (
    CapturingWriter,
    FakeSource,
    FixedPoster,
    build_pipeline,
    order,
)
from tests.fixtures.factories import NOW, make_settings

REJECTED = GraphVerdict(Kind.INVALID, 400, 100, 2804019, "Invalid parameter")
RUN_TIMEOUT_S = 10.0  # a hang guard: a stuck run fails its test instead of blocking the suite


def records(count: int) -> list[SourceRecord]:
    """``count`` distinct paid orders on orders/0, offsets 0.."""
    return [
        SourceRecord("orders", 0, n, None, order(order_id=f"ORD-{n}"), (), 1_700_000_000_000)
        for n in range(count)
    ]


def build(
    source: FakeSource, dedup: MemoryDedupStore, poster: Poster, **settings: Any
) -> tuple[Pipeline, Bridge]:
    """A pipeline over fakes; the caller shuts the bridge down."""
    config = make_settings(batch={"linger_s": 0}, **settings)
    return build_pipeline(config, source, poster, CapturingWriter(), dedup)


async def run(
    source: FakeSource,
    dedup: MemoryDedupStore,
    poster: Poster,
    until: Callable[[Pipeline], bool],
    **settings: Any,
) -> Pipeline:
    """Run the pipeline until ``until`` (or the hang guard) and return it."""
    pipeline, bridge = build(source, dedup, poster, **settings)
    try:
        await asyncio.wait_for(pipeline.run(asyncio.Event(), until), RUN_TIMEOUT_S)
    finally:
        bridge.shutdown()
    return pipeline


class Store(MemoryDedupStore):
    """The memory store on the test clock, counting calls."""

    def __init__(self) -> None:
        super().__init__(3600, 900, NOW.timestamp)
        self.calls: dict[str, int] = {"claim": 0, "release": 0}


class ReleaseDown(Store):
    """Every release fails as if the store were unreachable."""

    async def release(self, claims: Sequence[Claim]) -> None:
        self.calls["release"] += 1
        raise InfrastructureError("dedup store (redis): ConnectionError")


class TestDeadLetterSettlement:
    async def test_not_committed_before_the_claim_is_released(self) -> None:
        """A rejected record's offset is not stored while its dedup claim is still pending."""
        source, dedup = FakeSource(records(1)), ReleaseDown()

        await run(
            source,
            dedup,
            FixedPoster(REJECTED),
            lambda _p: dedup.calls["release"] >= 1,
            delivery={"drain_timeout_s": 0.1},
            kafka={"commit_interval_s": 0.01},
        )

        assert {} == source.stored


class ClaimDown(Store):
    """Every claim fails as if the store were unreachable; ``on_claim`` runs at each attempt."""

    def __init__(self, on_claim: Callable[[], object]) -> None:
        super().__init__()
        self._on_claim = on_claim

    async def claim(self, claims: Sequence[Claim]) -> list[Verdict]:
        self._on_claim()
        raise InfrastructureError("dedup store (redis): ConnectionError")


class ClosingSource(FakeSource):
    """Remembers whether the consumer left the group."""

    closed = False

    def close(self) -> None:
        self.closed = True


class TestShutdown:
    async def test_stops_while_the_dedup_store_is_down(self) -> None:
        """A stop during a dedup outage leaves the group without committing the waiting records."""
        stop = asyncio.Event()  # set as a SIGTERM would be, while the claim is retried
        source = ClosingSource(records(1))
        pipeline, bridge = build(source, ClaimDown(stop.set), FixedPoster(REJECTED))
        try:
            await asyncio.wait_for(pipeline.run(stop), RUN_TIMEOUT_S)
        finally:
            bridge.shutdown()

        assert (True, {}) == (source.closed, source.stored)


class RebalancingSource(FakeSource):
    """Honours pause; ``rebalance()`` makes the next poll revoke and re-assign every partition
    (an eager rebalance), after which the records are re-read from the stored positions."""

    def __init__(self, records: list[SourceRecord]) -> None:
        super().__init__(records)
        self.on_revoke: Callable[[list[TopicPartition]], Mapping[TopicPartition, int]]
        self._all, self._paused, self._rebalance = list(records), False, False

    def rebalance(self) -> None:
        self._rebalance = True

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        self._paused = False

    def poll(self, max_records: int, timeout: float) -> list[SourceRecord]:
        if self._rebalance:
            self._rebalance = False
            tps = sorted({record.tp for record in self._all})
            self.stored.update(self.on_revoke(tps))
            self.on_assign(tps)
            self.records = [r for r in self._all if r.offset >= self.stored.get(r.tp, 0)]
        if self._paused:
            time.sleep(min(timeout, 0.01))
            return []
        return super().poll(max_records, timeout)


class ClaimFailsOnce(Store):
    """The first claim fails (the store is unreachable) and triggers ``on_failure``."""

    def __init__(self, on_failure: Callable[[], object]) -> None:
        super().__init__()
        self._on_failure: Callable[[], object] | None = on_failure

    async def claim(self, claims: Sequence[Claim]) -> list[Verdict]:
        if self._on_failure is not None:
            self._on_failure, on_failure = None, self._on_failure
            on_failure()
            raise InfrastructureError("dedup store (redis): ConnectionError")
        return await super().claim(claims)


class HeldPoster:
    """Accepts every batch, but only once ``gate`` is set; records the event ids it received."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.event_ids: list[str] = []

    async def post(self, batch: Batch[Any]) -> GraphVerdict:
        await self.gate.wait()
        self.event_ids += [event.event_id for event in batch.events]
        return GraphVerdict(Kind.OK, 200, events_received=len(batch))


class TestRebalance:
    async def test_reassigned_during_a_claim_outage_sends_once(self) -> None:
        """Records revoked and re-assigned while their claim waited are sent once, not twice."""
        source, poster = RebalancingSource(records(3)), HeldPoster()
        pipeline, bridge = build(source, ClaimFailsOnce(source.rebalance), poster)
        source.on_revoke = pipeline.on_revoke

        def reread(pipeline: Pipeline) -> bool:
            if pipeline.stats.consumed >= 6:  # the first reading, then the re-read after it
                poster.gate.set()
                return True
            return False

        try:
            await asyncio.wait_for(pipeline.run(asyncio.Event(), reread), RUN_TIMEOUT_S)
        finally:
            bridge.shutdown()

        assert ["order_ORD-0", "order_ORD-1", "order_ORD-2"] == sorted(poster.event_ids)
