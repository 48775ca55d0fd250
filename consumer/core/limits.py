"""Pure adaptive concurrency per pixel: a gradient limiter, throttle backoff and auth cool-downs.

Each pixel starts at ``initial`` requests in flight and moves between 1 and ``maximum`` (the
configured caps):

- **Latency-aware growth** (a gradient limiter, as in Netflix concurrency-limits' Gradient2 and
  Envoy's adaptive concurrency): every acknowledged request feeds its round-trip time into a fast
  and a slow average. While the fast one stays within ``_TOLERANCE`` of the slow one, Meta is
  slow but not saturating, so more requests in flight buy throughput (Little's law: events/s =
  in flight x events per request / latency) and the limit grows by about ``sqrt(limit)`` per
  step. When latency rises with load, the gradient (slow / fast) falls below 1 and the limit
  shrinks with it. The limit grows only while the pixel uses at least half of it, so an idle
  pixel does not build up a limit it never tested.
- **Throttling** (Graph codes 4, 17, 32, 613, 80000-80014 ...): the limit halves, the pixel
  waits out a backoff before its next request (multiplicative decrease), and the halved limit
  becomes a threshold (TCP's ssthresh): above it the limit grows by only ``1/limit`` per success
  (about one request per round), since Meta said where its patience ends.
- **Auth or permission failure**: the pixel is held for a cool-down; its batches are
  dead-lettered without hammering Meta, and the first batch after the cool-down probes again.
- **Refused Graph API version**: the pixel is held instead: its batches wait (nothing is
  dead-lettered, the payloads are fine) and the first request after the hold probes the version.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["PixelLimit"]

_TOLERANCE = 1.5  # latency may rise 50% over its long-run average before the limit backs off
_MIN_GRADIENT = 0.5  # one slow answer takes at most half the limit away (before smoothing)
_SMOOTHING = 0.2  # each sample moves the limit 20% of the way to where the gradient points
_FAST = 0.3  # weight of a new RTT sample in the fast average (a few requests)
_SLOW = 0.02  # ... in the slow average (about the last 50 requests)


@dataclass(slots=True)
class PixelLimit:
    maximum: int
    initial: int = 0  # 0: start at ``maximum``
    limit: float = 0.0
    throttled_until: float = 0.0
    auth_failed_until: float = 0.0
    throttles: int = 0
    version_held_until: float = 0.0
    rtt_fast: float = 0.0
    rtt_slow: float = 0.0
    threshold: float = math.inf  # set by throttling: slower growth above it

    def __post_init__(self) -> None:
        if self.limit <= 0:
            start = self.initial if 0 < self.initial <= self.maximum else self.maximum
            self.limit = float(start)

    @property
    def allowed(self) -> int:
        """Requests this pixel may have in flight now."""
        return max(1, int(self.limit))

    def on_success(self, rtt_s: float | None = None, in_flight: int | None = None) -> None:
        """An acknowledged request: grow (or shrink) with the latency gradient.

        Without an RTT, one more request per round of requests (additive increase).
        """
        self.throttles = 0
        if rtt_s is None or rtt_s <= 0:
            self._move_to(self.limit + 1.0 / self.limit, smoothing=1.0)
            return
        self._observe(rtt_s)
        gradient = max(_MIN_GRADIENT, min(1.0, _TOLERANCE * self.rtt_slow / self.rtt_fast))
        if gradient >= 1.0 and in_flight is not None and in_flight * 2 < self.limit:
            return  # not using its limit: nothing learned about a higher one
        if gradient >= 1.0:
            # Slow start below the throttle threshold (+1 per acknowledged request: the limit
            # doubles each round of requests, as TCP's congestion window does); above it, +1 per
            # round. A pixel whose backlog waits on Meta's latency reaches its cap in a few
            # rounds instead of the tens of seconds a smoothed gradient step takes.
            step = 1.0 if self.limit < self.threshold else 1.0 / self.limit
            self._move_to(self.limit + step, smoothing=1.0)
            return
        self._move_to(self.limit * gradient + math.sqrt(self.limit), smoothing=_SMOOTHING)

    def on_throttle(self, now: float, backoff_s: float) -> None:
        self.limit = max(1.0, self.limit / 2.0)
        self.threshold = self.limit
        self.throttles += 1
        self.throttled_until = max(self.throttled_until, now + backoff_s)

    def on_auth_failure(self, now: float, cooldown_s: float) -> None:
        self.auth_failed_until = now + cooldown_s

    def in_auth_cooldown(self, now: float) -> bool:
        return now < self.auth_failed_until

    def end_auth_cooldown(self) -> None:
        """The token was rotated: send again at once."""
        self.auth_failed_until = 0.0

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

    def _observe(self, rtt_s: float) -> None:
        if self.rtt_slow == 0.0:
            self.rtt_fast = self.rtt_slow = rtt_s
            return
        self.rtt_fast += _FAST * (rtt_s - self.rtt_fast)
        self.rtt_slow += _SLOW * (rtt_s - self.rtt_slow)

    def _move_to(self, target: float, smoothing: float) -> None:
        moved = self.limit + smoothing * (target - self.limit)
        self.limit = max(1.0, min(float(self.maximum), moved))
