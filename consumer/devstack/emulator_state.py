"""What the CAPI emulator remembers: pixels, accepted events, the request log, stats and faults."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from consumer.devstack.emulator_errors import GraphError
from consumer.devstack.emulator_faults import Fault, FaultBook, parse_fault
from consumer.devstack.emulator_rules import DEFAULT_FUTURE_TOLERANCE_S, PixelAuth
from consumer.devstack.emulator_versions import VersionGate

__all__ = ["EmulatorState", "PixelStats", "RecordedEvent", "to_pixel_auth"]


def to_pixel_auth(value: PixelAuth | Mapping[str, str | None]) -> PixelAuth:
    """A :class:`PixelAuth` from itself or from ``{"access_token", "app_secret"?}``."""
    if isinstance(value, PixelAuth):
        return value
    token = value.get("access_token")
    secret = value.get("app_secret")
    unknown = set(value) - {"access_token", "app_secret"}
    if not isinstance(token, str) or not token or unknown:
        raise ValueError("a pixel is {'access_token': str, 'app_secret': str | None}")
    if secret is not None and not isinstance(secret, str):
        raise ValueError("app_secret must be a string or null")
    return PixelAuth(access_token=token, app_secret=secret or None)


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """One event the emulator accepted, as it arrived, with where and when."""

    pixel_id: str
    test_event_code: str | None
    received_at: float
    event: Mapping[str, object]

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready view, for the control API."""
        return {
            "pixel_id": self.pixel_id,
            "test_event_code": self.test_event_code,
            "received_at": self.received_at,
            "event": self.event,
        }


@dataclass(slots=True)
class PixelStats:
    """Counters for one pixel."""

    requests: int = 0
    accepted_requests: int = 0
    accepted_events: int = 0
    rejected: dict[int, int] = field(default_factory=dict)
    dropped: int = 0

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready view; rejected requests are counted by Graph error code."""
        return {
            "requests": self.requests,
            "accepted_requests": self.accepted_requests,
            "accepted_events": self.accepted_events,
            "rejected": {str(code): n for code, n in sorted(self.rejected.items())},
            "dropped": self.dropped,
        }


@dataclass(slots=True)
class EmulatorState:
    """The emulator's memory; reach it in-process through ``app[STATE_KEY]``.

    ``light`` mode checks only auth and the 1000-event cap and counts events and requests
    without storing them (benchmarks). ``clock`` gives Unix seconds and is injectable.
    """

    pixels: dict[str, PixelAuth]
    clock: Callable[[], float] = time.time
    light: bool = False
    future_tolerance_s: float = DEFAULT_FUTURE_TOLERANCE_S
    accepted: list[RecordedEvent] = field(default_factory=list)
    requests: list[dict[str, object]] = field(default_factory=list)
    stats: dict[str, PixelStats] = field(default_factory=dict)
    faults: FaultBook = field(default_factory=FaultBook)
    stall_gate: asyncio.Event = field(default_factory=asyncio.Event)
    versions: VersionGate = field(default_factory=VersionGate)  # Graph versions served
    # Dataset Quality API tokens per pixel (default: the pixel's CAPI token is accepted).
    quality_tokens: dict[str, str] = field(default_factory=dict)

    def set_pixel(self, pixel_id: str, auth: PixelAuth | Mapping[str, str | None]) -> None:
        """Add or replace a pixel's credentials (a token fix or rotation)."""
        self.pixels[pixel_id] = to_pixel_auth(auth)

    def inject(self, kind: str, pixel_id: str = "*", **params: object) -> Fault:
        """Activate a fault in-process; same parameters as ``POST /_emulator/faults``."""
        fault = parse_fault({"kind": kind, "pixel_id": pixel_id, **params})
        self.faults.add(fault)
        return fault

    def clear_faults(self, pixel_id: str | None = None) -> None:
        """Clear faults (all, or one pixel's) and release every stalled request."""
        self.faults.clear(pixel_id)
        self.release_stalls()

    def release_stalls(self) -> None:
        """Let every request held by a ``stall`` fault go on."""
        gate, self.stall_gate = self.stall_gate, asyncio.Event()
        gate.set()

    def reset(self) -> None:
        """Forget accepted events, the request log and the stats (faults and pixels stay)."""
        self.accepted.clear()
        self.requests.clear()
        self.stats.clear()

    def record_accepted(
        self, pixel_id: str, test_event_code: str | None, events: list[object]
    ) -> None:
        """Count accepted events and, except in light mode, store them."""
        stats = self._stats(pixel_id)
        stats.accepted_requests += 1
        stats.accepted_events += len(events)
        if self.light:
            return
        now = self.clock()
        self.accepted.extend(
            RecordedEvent(pixel_id, test_event_code, now, event)
            for event in events
            if isinstance(event, Mapping)
        )

    def record_request(
        self,
        pixel_id: str,
        status: int | None,
        event_count: int,
        error: GraphError | None = None,
        fault: str | None = None,
    ) -> None:
        """Count one request and log it: pixel, HTTP status (None when dropped), events, error.

        Light mode only counts: a benchmark's millions of requests would fill memory.
        """
        stats = self._stats(pixel_id)
        stats.requests += 1
        if status is None:
            stats.dropped += 1
        if error is not None:
            stats.rejected[error.code] = stats.rejected.get(error.code, 0) + 1
        if self.light:
            return
        entry: dict[str, object] = {"pixel_id": pixel_id, "status": status}
        entry.update(events=event_count, received_at=self.clock(), fault=fault)
        entry.update(
            error_code=None if error is None else error.code,
            error_subcode=None if error is None else error.subcode,
            rule=None if error is None else error.rule,
        )
        self.requests.append(entry)

    def events_of(self, pixel_id: str | None = None) -> list[RecordedEvent]:
        """Accepted events, all or one pixel's, in arrival order."""
        return [r for r in self.accepted if pixel_id is None or r.pixel_id == pixel_id]

    def stats_view(self) -> dict[str, object]:
        """Counters per pixel, JSON-ready."""
        return {pixel_id: stats.to_dict() for pixel_id, stats in sorted(self.stats.items())}

    def _stats(self, pixel_id: str) -> PixelStats:
        """The counters of ``pixel_id``, created on first use."""
        return self.stats.setdefault(pixel_id, PixelStats())
