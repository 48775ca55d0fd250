"""One warning line for every fault, rate-limited, canonical and free of PII.

Fault sites call one helper here (one line each), so the event names, their fields and the rate
limit live in one place and docs/operations.md can list them all. A storm (10,000 retries of one
pixel) is a few lines a minute per distinct fault: ``LogLimiter`` lets ``per_window`` lines of a
key through per window and the next line that goes out carries ``suppressed``, the number held
back meanwhile. Fields are ids, causes, counts and durations only: never payloads, never tokens.

The limiter is process-wide, like the structlog configuration: ``configure`` (from
``app.run_consumer``) sets the rate and the stall bound, ``reset`` starts a fresh run.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import threading
import time
from collections.abc import Callable, Collection, Hashable, Iterator
from typing import Any

import structlog

from consumer.core.graph_errors import GraphVerdict, Kind
from consumer.core.log_limit import LogLimiter

__all__ = [
    "FaultLog",
    "auth_hold",
    "configure",
    "faults",
    "pause_changed",
    "request_watch",
    "retry_cause",
    "retrying",
]

log = structlog.get_logger("consumer.faults")
_HTTP_SERVER_ERROR = 500
_DEFAULT_PER_MINUTE = 3  # lines per fault key per minute: enough to see a storm start and go on
_DEFAULT_STALL_S = 15.0  # a CAPI request outstanding this long is a stall worth a line


class FaultLog:
    """Warnings through a ``LogLimiter``: ``warn(event, key, **fields)`` logs or counts."""

    def __init__(
        self,
        per_window: int = _DEFAULT_PER_MINUTE,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limiter = LogLimiter(per_window, window_s)
        self.stall_after_s = _DEFAULT_STALL_S
        self._clock = clock
        self._lock = threading.Lock()  # librdkafka's callbacks warn from the consumer thread

    def warn(self, event: str, key: Hashable = (), **fields: Any) -> bool:
        """Log ``event`` at warning level unless its key is over the rate; True when logged."""
        return self._emit(log.warning, event, key, fields)

    def info(self, event: str, key: Hashable = (), **fields: Any) -> bool:
        """The same at info level (the end of a fault: recovered, resumed)."""
        return self._emit(log.info, event, key, fields)

    def at_level(self, level: int, event: str, key: Hashable = (), **fields: Any) -> bool:
        """The same at a ``logging`` level (librdkafka's lines keep the level it gave them)."""
        return self._emit(functools.partial(log.log, level), event, key, fields)

    def flush(self) -> None:
        """Log one summary of what is still held back (at shutdown), then forget it."""
        with self._lock:
            pending = self.limiter.pending()
        if pending:
            events: dict[str, int] = {}
            for key, count in pending.items():
                name = key[0] if isinstance(key, tuple) and key else str(key)
                events[str(name)] = events.get(str(name), 0) + count
            log.warning("warnings.suppressed", events=events)
        self.limiter.reset()

    def _emit(
        self, method: Callable[..., Any], event: str, key: Hashable, fields: dict[str, Any]
    ) -> bool:
        with self._lock:
            suppressed = self.limiter.admit((event, key), self._clock())
        if suppressed is None:
            return False
        if suppressed:
            fields["suppressed"] = suppressed
        method(event, **fields)
        return True


faults = FaultLog()
_outstanding: collections.Counter[str] = collections.Counter()  # watched requests per pixel


def configure(per_minute: int, stall_after_s: float) -> None:
    """Set the process-wide rate (lines per fault per minute) and the stall bound; start fresh."""
    faults.limiter = LogLimiter(per_minute, 60.0)
    faults.stall_after_s = stall_after_s


# ------------------------------------------------------------------ delivery faults


def retry_cause(verdict: GraphVerdict) -> str:
    """Why a request is retried, in a closed vocabulary: throttle, 5xx, timeout, connection,
    transient (a Graph code Meta calls transient, e.g. 1 or 2 on a 4xx)."""
    if verdict.kind is Kind.THROTTLE:
        return "throttle"
    if verdict.status is not None and verdict.status >= _HTTP_SERVER_ERROR:
        return "5xx"
    if verdict.status is None and verdict.code is None:
        return "timeout" if verdict.message == "timeout" else "connection"
    return "transient"


def retrying(
    pixel_id: str, verdict: GraphVerdict, attempt: int, delay_s: float, limit: int
) -> None:
    """A batch is retried: ``capi.throttled`` (with the pixel's new concurrency) or
    ``capi.retrying`` (with the cause)."""
    cause = retry_cause(verdict)
    common = {
        "pixel_id": pixel_id,
        "code": verdict.reason_code,
        "attempt": attempt,
        "retry_in_s": round(delay_s, 2),
        "fbtrace_id": verdict.fbtrace_id,
    }
    if cause == "throttle":
        faults.warn("capi.throttled", pixel_id, concurrency=limit, **common)
    else:
        faults.warn("capi.retrying", (pixel_id, cause), cause=cause, **common)


def auth_hold(pixel_id: str, events: int, remaining_s: float) -> None:
    """A batch of a pixel in auth cool-down is dead-lettered without a request."""
    faults.warn(
        "pixel.held_for_auth",
        pixel_id,
        pixel_id=pixel_id,
        events=events,
        remaining_s=round(remaining_s, 1),
    )


@contextlib.contextmanager
def request_watch(pixel_id: str, events: int) -> Iterator[None]:
    """Around one CAPI request: ``capi.request_stalled`` once it is outstanding longer than the
    stall bound, and ``capi.request_unstalled`` (with its duration) when it finally ends."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    fired: list[bool] = []

    def stalled() -> None:
        fired.append(True)
        faults.warn(
            "capi.request_stalled",
            pixel_id,
            pixel_id=pixel_id,
            events=events,
            outstanding_s=round(loop.time() - started, 1),
            requests_in_flight=_outstanding[pixel_id],
        )

    timer = loop.call_later(faults.stall_after_s, stalled)
    _outstanding[pixel_id] += 1
    try:
        yield
    finally:
        timer.cancel()
        _outstanding[pixel_id] -= 1
        if fired:
            faults.info(
                "capi.request_unstalled",
                pixel_id,
                pixel_id=pixel_id,
                duration_s=round(loop.time() - started, 1),
            )


# ------------------------------------------------------------------ pipeline faults


def pause_changed(before: Collection[str], after: Collection[str]) -> None:
    """Consumption paused, its reasons changed, or it resumed (reasons: backpressure = the
    in-flight budget, registry, dedup, dlq)."""
    if after:
        faults.warn(
            "consumption.paused",
            tuple(sorted(after)),
            reasons=sorted(after),
            added=sorted(set(after) - set(before)),
            removed=sorted(set(before) - set(after)),
        )
    else:
        faults.info("consumption.resumed", tuple(sorted(before)), after=sorted(before))
