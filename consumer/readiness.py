"""Watches readiness on its own clock: logs each change, and heals a stale empty assignment.

``/readyz`` is evaluated when the kubelet asks; an operator reading logs needs the same facts
as lines, when they happen. Every second this watch:

1. heals a stale assignment (``core.stale_assignment``): zero partitions for
   ``no_partitions_after_s`` while the subscribed topics have some makes the replica unready
   (``no_partitions``), logs ``partitions.resubscribing`` and re-subscribes;
2. evaluates readiness and logs ``readiness.failing`` (warning, with the reason and the
   sentence ``/readyz`` shows) when a reason starts to hold and ``readiness.restored`` when it
   ends. Until the first assignment arrives (the first join, librdkafka's first statistics) the
   problems are expected, so they are reported only if that takes longer than
   ``stuck_after_s``.

Kafka calls (a metadata request, the re-subscribe) go through the bridge onto the consumer
thread, between two polls: ``source.py`` stays the only module touching the consumer.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Protocol

import structlog

from consumer.bridge import Bridge
from consumer.core.stale_assignment import StaleAssignment
from consumer.fault_log import faults
from consumer.health import Check, Problem
from consumer.kafka_stats import KafkaStatus
from consumer.settings import ObservabilitySettings

__all__ = ["ReadinessWatch", "Resubscriber", "stop_watch"]

log = structlog.get_logger("consumer.readiness")
_TICK_S = 1.0  # how often readiness is evaluated and logged
_METADATA_TIMEOUT_S = 2.0  # for the partition count of the subscribed topics


class Resubscriber(Protocol):
    """What the watch needs from the Kafka source (called on the consumer thread)."""

    def subscribed_partitions(self, timeout: float) -> int: ...
    def resubscribe(self) -> None: ...


class ReadinessWatch:
    """Runs beside the pipeline; ``problems`` feeds ``/readyz`` with the stale-assignment one."""

    def __init__(
        self,
        settings: ObservabilitySettings,
        kafka: KafkaStatus,
        source: Resubscriber,
        bridge: Bridge,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._kafka = kafka
        self._source = source
        self._bridge = bridge
        self._clock = clock
        self._stale = StaleAssignment(settings.no_partitions_after_s)
        self._reported: set[str] = set()
        self._started = clock()

    def problems(self) -> tuple[Problem, ...]:
        """The stale-assignment problem while a heal is under way."""
        age = self._stale.unready_for(self._clock())
        if age is None:
            return ()
        text = (
            f"no partitions assigned for {age:.0f}s while the subscribed topics have "
            f"{self._stale.partitions}; re-subscribed for a fresh assignment"
        )
        return (Problem("no_partitions", text),)

    async def run(self, readiness: Callable[[], Check]) -> None:
        """Tick until cancelled."""
        while True:
            await self.tick(readiness)
            await asyncio.sleep(_TICK_S)

    async def tick(self, readiness: Callable[[], Check]) -> None:
        await self._heal_stale_assignment()
        self._log_changes(readiness())

    async def _heal_stale_assignment(self) -> None:
        now = self._clock()
        assigned, generation = self._kafka.assignment
        self._stale.observe(now, assigned, generation)
        if not self._stale.due(now):
            return
        if self._kafka.silence_s() >= self._settings.broker_silent_after_s:
            return  # nobody answers: that is the broker problem, a re-subscribe cannot help
        partitions = await self._bridge.on_consumer_thread(
            self._source.subscribed_partitions, _METADATA_TIMEOUT_S
        )
        if not partitions:
            self._stale.no_partitions_to_have(now)
            return
        unassigned_for = now - (self._stale.empty_since or now)
        self._stale.healed(generation, partitions)
        log.warning(
            "partitions.resubscribing",
            partitions_available=partitions,
            unassigned_for_s=round(unassigned_for, 1),
        )
        await self._bridge.on_consumer_thread(self._source.resubscribe)

    def _log_changes(self, check: Check) -> None:
        now = self._clock()
        starting = (
            not self._kafka.assignment[1] and now - self._started < self._settings.stuck_after_s
        )
        current = {} if starting else {problem.reason: problem for problem in check.problems}
        for reason, problem in current.items():
            if reason not in self._reported:
                self._reported.add(reason)
                faults.warn("readiness.failing", reason, reason=reason, detail=problem.text)
        for reason in sorted(self._reported - current.keys()):
            self._reported.discard(reason)
            faults.info("readiness.restored", reason, reason=reason)


async def stop_watch(task: asyncio.Task[None] | None) -> None:
    """Cancel the watch's task and wait for it (before the consumer closes)."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
