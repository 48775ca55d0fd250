"""Deliver one batch: adaptive concurrency, retries with backoff, isolating rejected events.

Outcomes per event: sent (Meta acknowledged it) or a Failure with a reason:
``retries_exhausted`` (transient errors past the batch deadline), ``auth`` (token or
permission), ``rejected`` (Meta rejected the event itself; isolated by splitting the batch),
``request_rejected`` (Meta rejected the request for a reason that names no event; not split).
Each part of a batch is handed to the caller as soon as it settles (``deliver(on_part=...)``).
A refused Graph API version is none of these: the pixel is held and its batches wait (see
``_hold_for_version``) until Meta accepts the version again.
"""

from __future__ import annotations

import asyncio
import enum
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

import structlog

from consumer.core.batching import Batch
from consumer.core.graph_errors import GraphVerdict, Kind, rejects_request
from consumer.core.limits import PixelLimit
from consumer.core.models import CapiEvent, Failure
from consumer.core.retry import Backoff
from consumer.fault_log import auth_hold, request_watch, retrying
from consumer.settings import DeliverySettings
from consumer.stats import RunStats

__all__ = ["Deliverer", "DeliveryReport", "Poster"]

T = TypeVar("T")
log = structlog.get_logger("consumer.delivery")
# Batches of a pixel in auth cool-down fail without a request (DESIGN.md §5: stop hammering).
_COOLDOWN = GraphVerdict(Kind.AUTH, message="pixel in auth cool-down after an auth failure")
# Answers that feed the adaptive limit: a rejection tells as much about Meta's pace as an ack.
_JUDGED = frozenset({Kind.OK, Kind.INVALID})


class Poster(Protocol):
    async def post(self, batch: Batch[T]) -> GraphVerdict: ...

    async def token_replaced(self, pixel_id: str) -> bool:
        """During an auth cool-down: True once the pixel's token was rotated since Meta refused
        it (then the cool-down ends and the batch is sent with the new token)."""
        ...


@dataclass(slots=True)
class DeliveryReport(Generic[T]):
    sent: list[T] = field(default_factory=list)
    failed: list[tuple[T, Failure]] = field(default_factory=list)
    requests: int = 0

    def merge(self, other: DeliveryReport[T]) -> None:
        self.sent.extend(other.sent)
        self.failed.extend(other.failed)
        self.requests += other.requests


class _Settled(enum.Enum):
    """How ``_attempt`` settled a part: Meta acknowledged it, or it failed for good."""

    SENT = "sent"
    FAILED = "failed"


class _Run(Generic[T]):
    """One batch's delivery: its report so far, and the caller's hook for each settled part."""

    def __init__(self, on_part: Callable[[DeliveryReport[T]], Awaitable[None]] | None) -> None:
        self.report: DeliveryReport[T] = DeliveryReport()
        self._on_part = on_part

    async def settle(self, part: DeliveryReport[T]) -> _Settled:
        self.report.sent.extend(part.sent)  # requests are counted as they are made, not here
        self.report.failed.extend(part.failed)
        if self._on_part is not None:
            await self._on_part(part)
        return _Settled.FAILED if part.failed else _Settled.SENT


class Deliverer(Generic[T]):
    """Sends batches under a global limit and an adaptive per-pixel one (``core/limits.py``)."""

    def __init__(
        self,
        poster: Poster,
        settings: DeliverySettings,
        stats: RunStats,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_batch: Callable[[str, float], None] | None = None,
        api_versions: Mapping[str, str] | None = None,
    ) -> None:
        self._poster = poster
        self._api_versions = dict(api_versions or {})  # pixel -> version, for the hold's log
        self._on_batch = on_batch  # (pixel_id, seconds): the send latency histogram
        self._stats = stats
        self._backoff = Backoff(
            settings.retry_base_s, settings.retry_cap_s, settings.retry_deadline_s
        )
        self._settings = settings
        self._global = asyncio.Semaphore(settings.max_concurrent_requests)
        self._gates: dict[str, _PixelGate] = {}
        self._version_refused: dict[str, GraphVerdict] = {}  # held pixels, until a success
        self._clock = clock
        self._rng = rng or random.Random()
        self._sleep = sleep

    async def deliver(
        self, batch: Batch[T], on_part: Callable[[DeliveryReport[T]], Awaitable[None]] | None = None
    ) -> DeliveryReport[T]:
        """Deliver ``batch``; one canonical log line per batch.

        ``on_part`` is awaited with each part of the batch as soon as that part is settled (Meta
        acknowledged it, or it failed for good), whatever happens to the rest of the batch: a
        rejected batch is split, and its acknowledged parts must not wait for the search.
        """
        started = self._clock()
        run = _Run(on_part)
        await self._deliver(batch, started, run)
        report = run.report
        elapsed = self._clock() - started
        if self._on_batch is not None:
            self._on_batch(batch.pixel_id, elapsed)
        self._stats.batches_per_pixel[batch.pixel_id] += 1
        self._stats.sent_per_pixel[batch.pixel_id] += len(report.sent)
        log.info(
            "batch.delivered",
            pixel_id=batch.pixel_id,
            test=batch.test_event_code is not None,
            events=len(batch),
            sent=len(report.sent),
            failed=len(report.failed),
            requests=report.requests,
            latency_ms=round(elapsed * 1000, 1),
        )
        return report

    def pixel_limit(self, pixel_id: str) -> PixelLimit:
        """The adaptive limit of one pixel (for metrics and tests)."""
        return self._gate(pixel_id).limit

    def held_pixels(self) -> dict[str, GraphVerdict]:
        """Pixels held because Meta refuses their Graph API version, with Meta's last answer."""
        return dict(self._version_refused)

    async def _deliver(self, batch: Batch[T], started: float, run: _Run[T]) -> None:
        """Send ``batch`` until it settles; if Meta rejects an event in it, isolate the event."""
        rejected = await self._attempt(batch, started, run)
        if isinstance(rejected, GraphVerdict):
            await self._isolate(batch, rejected, started, run)

    async def _attempt(
        self, batch: Batch[T], started: float, run: _Run[T]
    ) -> GraphVerdict | _Settled:
        """Send ``batch`` (retrying) within the deadline that began at ``started``.

        Settles it and says how (``_Settled``), or returns the verdict of a rejection that may
        be about some of its events (left unsettled, for the caller to split).
        """
        attempt = 0
        limit = self._gate(batch.pixel_id).limit
        while True:
            if limit.in_auth_cooldown(self._clock()):
                if await self._poster.token_replaced(batch.pixel_id):
                    limit.end_auth_cooldown()
                    log.info("pixel.auth_cooldown_ended", pixel_id=batch.pixel_id)
                    continue
                auth_hold(batch.pixel_id, len(batch), limit.auth_failed_until - self._clock())
                return await run.settle(_fail_all(batch, "auth", _COOLDOWN, attempt))
            if limit.version_held(self._clock()):
                await self._sleep(limit.version_hold_s(self._clock()))
                started = self._clock()  # waiting out a hold does not eat the retry deadline
                continue
            verdict = await self._post(batch)
            attempt += 1
            run.report.requests += 1
            if verdict.kind is Kind.OK and verdict.events_received == len(batch):
                self._version_accepted(batch.pixel_id)
                return await run.settle(DeliveryReport(sent=list(batch.tokens)))
            if verdict.kind is Kind.VERSION:
                self._hold_for_version(batch.pixel_id, verdict, limit)
                continue
            if verdict.kind is Kind.INVALID:
                if not rejects_request(verdict):
                    return verdict
                return await run.settle(_fail_all(batch, "request_rejected", verdict, attempt))
            if verdict.kind is Kind.AUTH:
                limit.on_auth_failure(self._clock(), self._settings.auth_cooldown_s)
                log.error(
                    "pixel.auth_failed",
                    pixel_id=batch.pixel_id,
                    code=verdict.reason_code,
                    cooldown_s=self._settings.auth_cooldown_s,
                    fbtrace_id=verdict.fbtrace_id,
                )
                return await run.settle(_fail_all(batch, "auth", verdict, attempt))
            delay = self._backoff.delay(attempt - 1, self._rng)
            if verdict.kind is Kind.THROTTLE:
                limit.on_throttle(self._clock(), delay)
                self._stats.throttles[verdict.reason_code] += 1
                self._stats.pixel_limits[batch.pixel_id] = limit.allowed
            if not self._backoff.allows(started, self._clock(), delay):
                return await run.settle(_fail_all(batch, "retries_exhausted", verdict, attempt))
            self._stats.retries += 1
            self._stats.retries_by_code[verdict.reason_code] += 1
            retrying(batch.pixel_id, verdict, attempt, delay, limit.allowed)
            await self._sleep(delay)

    def _hold_for_version(self, pixel_id: str, verdict: GraphVerdict, limit: PixelLimit) -> None:
        """Meta refuses the API version: a configuration fault, never a bad payload.

        No bisecting and no dead letters (every event would fail the same way, and could age past
        Meta's 7 days in the DLQ): the batch waits, the in-flight budget fills, consumption
        pauses. One error line per hold; the first request after it probes the version again.
        """
        hold_s = self._settings.version_hold_s
        if limit.on_version_refused(self._clock(), hold_s):
            self._stats.version_holds[pixel_id] += 1
            log.error(
                "pixel.version_refused",
                pixel_id=pixel_id,
                api_version=self._api_versions.get(pixel_id),
                code=verdict.reason_code,
                error=verdict.message,
                hold_s=hold_s,
                fbtrace_id=verdict.fbtrace_id,
                action="set pixels.<id>.api_version to a supported version and roll out",
            )
        self._version_refused[pixel_id] = verdict

    def _version_accepted(self, pixel_id: str) -> None:
        if self._version_refused.pop(pixel_id, None) is not None:
            log.info("pixel.version_accepted", pixel_id=pixel_id)

    async def _isolate(
        self, bad: Batch[T], verdict: GraphVerdict, started: float, run: _Run[T]
    ) -> None:
        """``bad`` holds at least one event Meta rejects: find each, settling the rest meanwhile.

        Binary splitting that skips inferred answers: send the first half. Acknowledged: the
        rejected event is in the second half, which is split without being sent. Rejected: the
        first half is searched while the second half, now of unknown state, is delivered
        concurrently. An event is dead-lettered when it is all that is left of a part known to
        hold a rejected event. This assumes Meta judges each event on its own (capi.md §5: one
        invalid event rejects its batch). Bound and measurements: tests/component/test_isolation.py.
        """
        while len(bad) > 1:
            first, second = bad.split()
            answer = await self._attempt(first, started, run)
            if answer is _Settled.SENT:
                bad = second
            elif isinstance(answer, GraphVerdict):
                await asyncio.gather(
                    self._isolate(first, answer, started, run),
                    self._deliver(second, started, run),
                )
                return
            else:  # failed for another reason: nothing is known about the second half
                await self._deliver(second, started, run)
                return
        await run.settle(_fail_all(bad, "rejected", verdict, 1))

    def _gate(self, pixel_id: str) -> _PixelGate:
        gate = self._gates.get(pixel_id)
        if gate is None:
            settings = self._settings
            limit = PixelLimit(
                settings.max_concurrent_per_pixel, initial=settings.initial_concurrent_per_pixel
            )
            gate = self._gates[pixel_id] = _PixelGate(limit)
        return gate

    async def _post(self, batch: Batch[T]) -> GraphVerdict:
        gate = self._gate(batch.pixel_id)
        await gate.acquire(self._clock, self._sleep)
        try:
            async with self._global:
                sent_at = self._clock()
                with request_watch(batch.pixel_id, len(batch)):
                    verdict = await self._poster.post(batch)
            if verdict.kind in _JUDGED:  # Meta answered in time and judged the payload
                gate.limit.on_success(self._clock() - sent_at, gate.in_flight)
        finally:
            gate.release()
            self._stats.pixel_limits[batch.pixel_id] = gate.limit.allowed
        self._stats.requests[verdict.kind.value] += 1
        _log_warnings(batch, verdict)
        if verdict.kind is not Kind.OK:
            self._stats.request_errors[(verdict.kind.value, verdict.reason_code)] += 1
        return verdict


class _PixelGate:
    """Admits at most ``limit.allowed`` requests of one pixel, after any throttle backoff."""

    def __init__(self, limit: PixelLimit) -> None:
        self.limit = limit
        self.in_flight = 0
        self._freed = asyncio.Event()

    async def acquire(
        self, clock: Callable[[], float], sleep: Callable[[float], Awaitable[None]]
    ) -> None:
        while True:
            wait = self.limit.wait_s(clock())
            if wait > 0:
                await sleep(wait)
            elif self.in_flight < self.limit.allowed:
                self.in_flight += 1
                return
            else:
                self._freed.clear()
                await self._freed.wait()

    def release(self) -> None:
        self.in_flight -= 1
        self._freed.set()


def _log_warnings(batch: Batch[T], verdict: GraphVerdict) -> None:
    if verdict.messages:
        messages = [message[:200] for message in verdict.messages[:5]]
        log.warning("capi.messages", pixel_id=batch.pixel_id, messages=messages)
    if verdict.kind is Kind.OK and verdict.events_received != len(batch):
        log.warning(
            "capi.events_received_mismatch",
            pixel_id=batch.pixel_id,
            sent=len(batch),
            received=verdict.events_received,
            fbtrace_id=verdict.fbtrace_id,
        )


def _fail_all(
    batch: Batch[T], reason: str, verdict: GraphVerdict, attempts: int
) -> DeliveryReport[T]:
    failed = [
        (token, _failure(event, reason, verdict, attempts))
        for event, token in zip(batch.events, batch.tokens, strict=True)
    ]
    return DeliveryReport(failed=failed, requests=attempts)


def _failure(event: CapiEvent, reason: str, verdict: GraphVerdict, attempts: int) -> Failure:
    details = {
        "pixel_id": event.pixel_id,
        "event_name": event.event_name,
        "event_id": event.event_id,
        "attempts": str(attempts),
        "graph_code": None if verdict.code is None else str(verdict.code),
        "graph_subcode": None if verdict.subcode is None else str(verdict.subcode),
        "fbtrace_id": verdict.fbtrace_id,
        "http_status": None if verdict.status is None else str(verdict.status),
    }
    message = verdict.message or verdict.reason_code
    return Failure(
        reason, "send", message, {key: value for key, value in details.items() if value is not None}
    )
