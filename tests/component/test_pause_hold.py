"""Backpressure holds before it pauses: librdkafka's prefetch survives a short wait for Meta.

Over the in-flight budget the loop first stops polling (the records librdkafka prefetched stay
queued, ready when there is room); only a wait longer than ``delivery.pause_hold_s`` pauses the
partitions, after which polling goes on so the group membership holds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from consumer.core.models import SourceRecord
from consumer.pipeline import Pipeline, _hold_limit
from tests.component.test_dlq_reasons import FakeSource
from tests.component.test_settlement import RUN_TIMEOUT_S, HeldPoster, Store, build, records
from tests.fixtures.factories import make_settings

BUDGET = 10


class CountingSource(FakeSource):
    """Counts polls, pauses and resumes; returns nothing while paused."""

    def __init__(self, polled: list[SourceRecord]) -> None:
        super().__init__(polled)
        self.polls = self.pauses = self.resumes = 0
        self.is_paused = False

    def poll(self, max_records: int, timeout: float) -> list[SourceRecord]:
        self.polls += 1
        if self.is_paused:
            time.sleep(min(timeout, 0.01))
            return []
        return super().poll(max_records, timeout)

    def pause(self) -> None:
        self.pauses += 1
        self.is_paused = True

    def resume(self) -> None:
        self.resumes += 1
        self.is_paused = False


async def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


async def _run(
    source: CountingSource,
    poster: HeldPoster,
    hold_s: float,
    body: Callable[[Pipeline], Awaitable[None]],
) -> Pipeline:
    pipeline, bridge = build(
        source,
        Store(),
        poster,
        delivery={"max_in_flight_events": BUDGET, "pause_hold_s": hold_s},
        kafka={"poll_timeout_s": 0.01},
    )
    stop = asyncio.Event()
    task = asyncio.create_task(pipeline.run(stop))
    try:
        await body(pipeline)
    finally:
        stop.set()
        poster.gate.set()
        await asyncio.wait_for(task, RUN_TIMEOUT_S)
        bridge.shutdown()
    return pipeline


class TestHold:
    async def test_a_short_wait_stops_polling_without_pausing(self) -> None:
        source, poster = CountingSource(records(3 * BUDGET)), HeldPoster()

        async def body(pipeline: Pipeline) -> None:
            await _until(lambda: pipeline.paused)
            polls = source.polls
            await asyncio.sleep(0.2)
            assert (polls, 0) == (source.polls, source.pauses)  # holding: no poll, no pause
            poster.gate.set()
            await _until(lambda: len(poster.event_ids) == 3 * BUDGET)
            await _until(lambda: not pipeline.paused and source.polls > polls)

        await _run(source, poster, hold_s=30.0, body=body)

        assert 0 == source.pauses
        assert sorted(poster.event_ids) == sorted(set(poster.event_ids))

    async def test_a_long_wait_pauses_the_partitions_and_polls_on(self) -> None:
        source, poster = CountingSource(records(3 * BUDGET)), HeldPoster()

        async def body(pipeline: Pipeline) -> None:
            await _until(lambda: source.pauses == 1)
            polls = source.polls
            await _until(lambda: source.polls > polls + 3)  # paused, the group is still served
            assert pipeline.paused
            poster.gate.set()
            await _until(lambda: source.resumes == 1 and len(poster.event_ids) == 3 * BUDGET)

        await _run(source, poster, hold_s=0.1, body=body)

        assert (1, 1) == (source.pauses, source.resumes)

    async def test_no_hold_pauses_at_once(self) -> None:
        source, poster = CountingSource(records(3 * BUDGET)), HeldPoster()

        async def body(pipeline: Pipeline) -> None:
            await _until(lambda: pipeline.paused)
            assert 1 == source.pauses

        await _run(source, poster, hold_s=0.0, body=body)


def test_the_hold_stays_under_a_quarter_of_max_poll_interval() -> None:
    """Not polling for max.poll.interval.ms would make librdkafka leave the group."""
    short = make_settings(
        kafka={"consumer": {"max_poll_interval_ms": 2000}}, delivery={"pause_hold_s": 2.0}
    )
    assert 0.5 == _hold_limit(short)
    assert 2.0 == _hold_limit(make_settings(delivery={"pause_hold_s": 2.0}))
