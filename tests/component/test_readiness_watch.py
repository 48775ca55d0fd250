"""The readiness watch with a fake source: heal a stale empty assignment once, spares stay."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import structlog

from consumer.bridge import Bridge
from consumer.health import Check, Problem
from consumer.kafka_stats import KafkaStatus
from consumer.readiness import ReadinessWatch
from consumer.settings import ObservabilitySettings


@dataclass
class Clock:
    """A monotonic clock the test moves."""

    now: float = 100.0

    def __call__(self) -> float:
        return self.now


class Source:
    """Counts re-subscribes; the subscribed topics have ``partitions``."""

    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self.resubscribes = 0

    def subscribed_partitions(self, timeout: float) -> int:
        return self.partitions

    def resubscribe(self) -> None:
        self.resubscribes += 1


@pytest.fixture(name="bridge")
async def fixture_bridge() -> AsyncIterator[Bridge]:
    """A real bridge (its consumer thread runs the fake source's calls)."""
    bridge = Bridge(asyncio.get_running_loop())
    yield bridge
    bridge.shutdown()


def watch_of(source: Source, bridge: Bridge, clock: Clock) -> tuple[ReadinessWatch, KafkaStatus]:
    """A watch with a 60 s bound over a status that has had one empty assignment."""
    status = KafkaStatus(clock)
    status.on_statistics('{"brokers": {"b": {"state": "UP", "rxidle": 1000}}}')
    status.on_assigned(0)
    settings = ObservabilitySettings(no_partitions_after_s=60.0, broker_silent_after_s=1e9)
    return ReadinessWatch(settings, status, source, bridge, clock), status


async def past_the_bound(watch: ReadinessWatch, clock: Clock) -> None:
    """One tick now and one 61 s later (past the 60 s bound)."""
    await watch.tick(ready)
    clock.now += 61.0
    await watch.tick(ready)


def ready() -> Check:
    """A passing readiness check."""
    return Check()


async def test_a_stale_empty_assignment_is_healed_once(bridge: Bridge) -> None:
    """After the bound: unready, one partitions.resubscribing line, one re-subscribe."""
    clock, source = Clock(), Source(partitions=3)
    watch, _status = watch_of(source, bridge, clock)
    with structlog.testing.capture_logs() as logs:
        await past_the_bound(watch, clock)
        await watch.tick(ready)

    assert 1 == source.resubscribes
    assert ["partitions.resubscribing"] == [entry["event"] for entry in logs]
    assert ("no_partitions",) == tuple(problem.reason for problem in watch.problems())


async def test_an_idle_spare_is_not_healed_again(bridge: Bridge) -> None:
    """The fresh assignment after the heal is empty too: ready, and no rebalance loop."""
    clock, source = Clock(), Source(partitions=3)
    watch, status = watch_of(source, bridge, clock)
    await past_the_bound(watch, clock)
    status.on_assigned(0)  # the group assigned again and gave this member nothing
    for _ in range(5):
        clock.now += 61.0
        await watch.tick(ready)

    assert (1, ()) == (source.resubscribes, watch.problems())


async def test_no_heal_when_the_topics_have_no_partitions(bridge: Bridge) -> None:
    """Topics missing (deleted, not re-created yet): nothing to heal, nothing reported."""
    clock, source = Clock(), Source(partitions=0)
    watch, _status = watch_of(source, bridge, clock)
    await past_the_bound(watch, clock)

    assert (0, ()) == (source.resubscribes, watch.problems())


async def test_readiness_changes_are_logged_once_each(bridge: Bridge) -> None:
    """readiness.failing when a reason starts, readiness.restored when it ends, no repeats."""
    clock, source = Clock(), Source(partitions=0)
    watch, _status = watch_of(source, bridge, clock)
    failing = Check((Problem("dlq", "waiting on the DLQ"),))
    with structlog.testing.capture_logs() as logs:
        for check in (failing, failing, ready(), ready()):
            await watch.tick(lambda check=check: check)

    assert [("readiness.failing", "dlq"), ("readiness.restored", "dlq")] == [
        (entry["event"], entry["reason"]) for entry in logs
    ]
