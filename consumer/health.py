"""``/livez``, ``/readyz`` and ``/metrics`` on one small aiohttp server (the only health I/O).

The rules (pure functions below, documented in docs/operations.md "Health endpoints"):

- **live** while the pipeline loop has beaten within ``liveness_timeout_s``. The loop beats on
  every poll and on every retry while waiting for a dependency, so a Redis or registry outage
  never restarts the pod; only a wedged loop or consumer thread does. The handler itself runs on
  the event loop, so a blocked loop fails the probe by timing out.
- **ready** when all hold: an assignment was received (possibly empty: a replica beyond the
  partition count is idle but healthy), librdkafka reports a broker up, the loop is not waiting
  on a dependency (registry, dedup store, DLQ), and the loop beat within ``stuck_after_s``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import structlog
from aiohttp import web

from consumer.kafka_stats import KafkaStatus
from consumer.metrics import Metrics
from consumer.settings import ObservabilitySettings

__all__ = ["Check", "HealthServer", "LoopState", "liveness", "readiness"]

log = structlog.get_logger("consumer.health")


class LoopState(Protocol):
    """What the rules read from the pipeline."""

    @property
    def heartbeat_at(self) -> float: ...
    @property
    def assignment_received(self) -> bool: ...
    @property
    def waiting_on(self) -> frozenset[str]: ...


@dataclass(frozen=True, slots=True)
class Check:
    """A probe result: ``ok``, or the reasons it is not."""

    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


def liveness(loop: LoopState, now: float, timeout_s: float) -> Check:
    """Live while the loop beat within ``timeout_s``."""
    age = now - loop.heartbeat_at
    return Check(() if age < timeout_s else (f"loop silent for {age:.0f}s",))


def readiness(loop: LoopState, kafka: KafkaStatus, now: float, stuck_after_s: float) -> Check:
    """Ready when assigned, a broker is reachable, no dependency is awaited and the loop moves."""
    problems = []
    if not loop.assignment_received:
        problems.append("no assignment received yet")
    if not kafka.broker_reachable:
        problems.append("no Kafka broker reachable")
    problems.extend(f"waiting on {what}" for what in sorted(loop.waiting_on))
    age = now - loop.heartbeat_at
    if age >= stuck_after_s:
        problems.append(f"loop silent for {age:.0f}s")
    return Check(tuple(problems))


class HealthServer:
    """Serves the probes and the metrics; ``start`` returns the bound port."""

    def __init__(
        self,
        settings: ObservabilitySettings,
        metrics: Metrics,
        probes: Callable[[], tuple[Check, Check]],
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._probes = probes
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        app = web.Application()
        app.router.add_get("/livez", self._livez)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics_page)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._settings.host, self._settings.port)
        await site.start()
        port: int = self._runner.addresses[0][1]
        log.info("health.listening", host=self._settings.host, port=port)
        return port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _livez(self, _request: web.Request) -> web.Response:
        return _answer(self._probes()[0])

    async def _readyz(self, _request: web.Request) -> web.Response:
        return _answer(self._probes()[1])

    async def _metrics_page(self, _request: web.Request) -> web.Response:
        body, content_type = self._metrics.exposition()
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response


def _answer(check: Check) -> web.Response:
    if check.ok:
        return web.Response(text="ok\n")
    return web.Response(status=503, text="".join(f"{problem}\n" for problem in check.problems))


def probes_for(
    loop: LoopState,
    kafka: KafkaStatus,
    settings: ObservabilitySettings,
    clock: Callable[[], float] = time.monotonic,
) -> Callable[[], tuple[Check, Check]]:
    """Bind the rules to one pipeline: a callable giving (liveness, readiness) now."""

    def probes() -> tuple[Check, Check]:
        now = clock()
        return (
            liveness(loop, now, settings.liveness_timeout_s),
            readiness(loop, kafka, now, settings.stuck_after_s),
        )

    return probes
