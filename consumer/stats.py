"""Plain counters for one run: the demo summary and the metrics collector read the same numbers."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from consumer.models import Outcome

__all__ = ["RunStats"]


@dataclass(slots=True)
class RunStats:
    """What happened in this run, as plain counters (labels are bounded: no event ids)."""

    consumed: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    dead_letter_reasons: Counter[str] = field(default_factory=Counter)
    filtered_reasons: Counter[str] = field(default_factory=Counter)
    sent_per_pixel: Counter[str] = field(default_factory=Counter)
    batches_per_pixel: Counter[str] = field(default_factory=Counter)
    duplicates_per_event: Counter[tuple[str, str]] = field(default_factory=Counter)
    requests: Counter[str] = field(default_factory=Counter)  # by verdict reason code
    retries: int = 0
    throttles: Counter[str] = field(default_factory=Counter)  # by Graph code/subcode
    # Observability counters (exported by consumer/metrics.py; one spec line each there).
    decoded: int = 0
    retries_by_code: Counter[str] = field(default_factory=Counter)  # Graph reason code
    request_errors: Counter[tuple[str, str]] = field(default_factory=Counter)  # (kind, code)

    @property
    def settled(self) -> int:
        return sum(self.outcomes.values())

    def outcome(self, outcome: Outcome, count: int = 1) -> None:
        self.outcomes[outcome.value] += count

    def summary(self) -> dict[str, Any]:
        return {
            "consumed": self.consumed,
            "outcomes": dict(self.outcomes),
            "sent_per_pixel": dict(self.sent_per_pixel),
            "batches_per_pixel": dict(self.batches_per_pixel),
            "dead_letter_reasons": dict(self.dead_letter_reasons),
            "filtered_reasons": dict(self.filtered_reasons),
            "retries": self.retries,
            "throttles": dict(self.throttles),
        }
