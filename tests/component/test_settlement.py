"""Settlement through the real pipeline when a dependency fails or the group rebalances mid-way.

The pipeline runs with the real Processor, Deliverer and batching; the Kafka source, the CAPI
poster, the dedup store and the DLQ producer are in-memory fakes that fail on cue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from consumer.bridge import Bridge
from consumer.dedup import Claim, MemoryDedupStore, Verdict
from consumer.delivery import Poster
from consumer.errors import InfrastructureError
from consumer.graph_errors import GraphVerdict, Kind
from consumer.models import SourceRecord
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
