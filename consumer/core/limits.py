"""Pure adaptive concurrency per pixel: AIMD on throttling, plus throttle and auth cool-downs.

A throttled pixel halves its concurrency limit and waits out a backoff before its next request;
each success adds ``1/limit`` (about +1 per round of requests), back up to the configured maximum.
An auth or permission failure holds the pixel for a cool-down: its batches are dead-lettered
without hammering Meta, and the first batch after the cool-down probes the token again.
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

    def wait_s(self, now: float) -> float:
        """How long a new request must wait for the throttle backoff to pass."""
        return max(0.0, self.throttled_until - now)
