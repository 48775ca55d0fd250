"""``/livez``, ``/readyz`` and ``/metrics`` on one small aiohttp server (the only health I/O).

The rules (pure functions below, documented in docs/operations.md "Health endpoints"):

- **live** while the pipeline loop has beaten within ``liveness_timeout_s``. The loop beats on
  every poll and on every retry while waiting for a dependency, so a Redis or registry outage
  never restarts the pod; only a wedged loop or consumer thread does. The handler itself runs on
  the event loop, so a blocked loop fails the probe by timing out.
- **ready** when no readiness problem holds. Each problem has a reason code (the label of
  ``capi_not_ready``, the first word of its ``/readyz`` line) and a sentence:

  ``no_assignment``  no assignment received yet (an empty one counts: idle spares are ready)
  ``broker``         no broker connected, or none answered for ``broker_silent_after_s``
                     (a hung broker keeps its connection: librdkafka still says ``UP``)
  ``group``          the group session was lost (partitions taken away) until the next
                     assignment, or no group coordinator for ``broker_silent_after_s``
  ``registry``       records wait for a schema id while the schema registry does not answer
  ``dedup``, ``dlq`` the loop is retrying the dedup store or the DLQ producer
  ``no_partitions``  zero partitions for ``no_partitions_after_s`` while the subscribed topics
                     have some (a stale assignment; ``readiness.ReadinessWatch`` heals it)
  ``stuck``          the loop has not beaten for ``stuck_after_s``
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import structlog
from aiohttp import web

from consumer.kafka_stats import KafkaStatus
from consumer.metrics import Metrics
from consumer.settings import ObservabilitySettings

__all__ = [
    "READINESS_REASONS",
    "Check",
    "HealthServer",
    "LoopState",
    "Problem",
    "liveness",
    "readiness",
]

log = structlog.get_logger("consumer.health")
READINESS_REASONS = (
    "no_assignment",
    "broker",
    "group",
    "registry",
    "dedup",
    "dlq",
    "no_partitions",
    "stuck",
)
_WAITING = {
    "registry": "waiting on the schema registry: records with a schema id we have not cached "
    "are held until it answers",
    "dedup": "waiting on the dedup store: claims or confirmations fail, consumption is paused",
    "dlq": "waiting on the DLQ: dead-letter writes fail, consumption is paused",
}
_GROUP_UP = "up"


class LoopState(Protocol):
    """What the rules read from the pipeline."""

    @property
    def heartbeat_at(self) -> float: ...
    @property
    def assignment_received(self) -> bool: ...
    @property
    def waiting_on(self) -> frozenset[str]: ...


class Problem(NamedTuple):
    """Why a probe fails: a reason code from ``READINESS_REASONS`` and a sentence."""

    reason: str
    text: str

    def __str__(self) -> str:
        return f"{self.reason}: {self.text}"


@dataclass(frozen=True, slots=True)
class Check:
    """A probe result: ``ok``, or the problems that make it fail."""

    problems: tuple[Problem, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def reasons(self) -> frozenset[str]:
        return frozenset(problem.reason for problem in self.problems)


def liveness(loop: LoopState, now: float, timeout_s: float) -> Check:
    """Live while the loop beat within ``timeout_s``."""
    age = now - loop.heartbeat_at
    return Check(() if age < timeout_s else (Problem("stuck", f"loop silent for {age:.0f}s"),))


def readiness(
    loop: LoopState,
    kafka: KafkaStatus,
    now: float,
    settings: ObservabilitySettings,
    extra: Sequence[Problem] = (),
) -> Check:
    """Ready when assigned, a broker answers, the group holds, no dependency is awaited, no
    stale assignment (``extra``) and the loop moves."""
    problems = []
    if not loop.assignment_received:
        problems.append(Problem("no_assignment", "no assignment received yet"))
    problems.extend(_broker(kafka, settings.broker_silent_after_s))
    problems.extend(_group(kafka, settings.broker_silent_after_s))
    problems.extend(Problem(what, _WAITING.get(what, what)) for what in sorted(loop.waiting_on))
    problems.extend(extra)
    age = now - loop.heartbeat_at
    if age >= settings.stuck_after_s:
        problems.append(Problem("stuck", f"loop silent for {age:.0f}s"))
    return Check(tuple(problems))


def _broker(kafka: KafkaStatus, silent_after_s: float) -> list[Problem]:
    if not kafka.broker_reachable:
        return [Problem("broker", "no Kafka broker connected (librdkafka reports them down)")]
    silence = kafka.silence_s()
    if silence >= silent_after_s:
        text = f"no Kafka broker answered for {silence:.0f}s (connected but not answering: hung?)"
        return [Problem("broker", text)]
    return []


def _group(kafka: KafkaStatus, after_s: float) -> list[Problem]:
    lost = kafka.lost_for_s
    if lost is not None:
        return [Problem("group", f"group session lost {lost:.0f}s ago (partitions taken away)")]
    latest = kafka.latest
    if latest.group_state != _GROUP_UP and latest.group_state_age_s >= after_s:
        text = (
            f"no group coordinator: group state {latest.group_state} "
            f"for {latest.group_state_age_s:.0f}s"
        )
        return [Problem("group", text)]
    return []


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
    extra: Callable[[], Sequence[Problem]] = tuple,
) -> Callable[[], tuple[Check, Check]]:
    """Bind the rules to one pipeline: a callable giving (liveness, readiness) now; ``extra``
    gives the problems found elsewhere (a stale assignment)."""

    def probes() -> tuple[Check, Check]:
        now = clock()
        return (
            liveness(loop, now, settings.liveness_timeout_s),
            readiness(loop, kafka, now, settings, extra()),
        )

    return probes
