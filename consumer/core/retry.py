"""Pure retry policy: capped exponential backoff with full jitter, inside a total deadline."""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """``delay(n)`` is uniform in [0, min(cap, base * 2**n)] (AWS "full jitter")."""

    base_s: float
    cap_s: float
    deadline_s: float

    def delay(self, attempt: int, rng: random.Random) -> float:
        ceiling = min(self.cap_s, self.base_s * (2 ** min(attempt, 32)))
        return rng.uniform(0.0, ceiling)

    def allows(self, started_at: float, now: float, next_delay: float) -> bool:
        """True when sleeping ``next_delay`` still leaves the batch inside its deadline."""
        return now + next_delay - started_at < self.deadline_s
