"""Pure adaptive concurrency per pixel: AIMD on throttling, plus throttle and auth cool-downs.

A throttled pixel halves its concurrency limit and waits out a backoff before its next request;
each success adds ``1/limit`` (about +1 per round of requests), back up to the configured maximum.
An auth or permission failure holds the pixel for a cool-down: its batches are dead-lettered
without hammering Meta, and the first batch after the cool-down probes the token again.
A refused Graph API version holds the pixel instead: its batches wait (nothing is dead-lettered,
the payloads are fine) and the first request after the hold probes the version again.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PixelLimit"]


@dataclass(slots=True)
class PixelLimit:
    maximum: int
    limit: float = 0.0
    throttled_until: float = 0.0
    auth_failed_until: float = 0.0
    throttles: int = 0
    version_held_until: float = 0.0

    def __post_init__(self) -> None:
        if self.limit <= 0:
            self.limit = float(self.maximum)

    @property
    def allowed(self) -> int:
        """Requests this pixel may have in flight now."""
        return max(1, int(self.limit))

    def on_success(self) -> None:
        self.limit = min(float(self.maximum), self.limit + 1.0 / self.limit)
        self.throttles = 0

    def on_throttle(self, now: float, backoff_s: float) -> None:
        self.limit = max(1.0, self.limit / 2.0)
        self.throttles += 1
        self.throttled_until = max(self.throttled_until, now + backoff_s)

    def on_auth_failure(self, now: float, cooldown_s: float) -> None:
        self.auth_failed_until = now + cooldown_s

    def in_auth_cooldown(self, now: float) -> bool:
        return now < self.auth_failed_until

    def on_version_refused(self, now: float, hold_s: float) -> bool:
        """Hold the pixel for ``hold_s``; True when this starts a hold (it was not held)."""
        starts = not self.version_held(now)
        self.version_held_until = max(self.version_held_until, now + hold_s)
        return starts

    def version_held(self, now: float) -> bool:
        return now < self.version_held_until

    def version_hold_s(self, now: float) -> float:
        """How long batches of this pixel must still wait for the version hold to end."""
        return max(0.0, self.version_held_until - now)

    def wait_s(self, now: float) -> float:
        """How long a new request must wait for the throttle backoff to pass."""
        return max(0.0, self.throttled_until - now)
