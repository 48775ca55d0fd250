"""Plain counters for one run: the demo summary and the metrics collector read the same numbers."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from consumer.core.emq import Tally, tally
from consumer.core.models import CapiEvent, Outcome

__all__ = ["EmqSummary", "RunStats"]


@dataclass(slots=True)
class EmqSummary:
    """EMQ estimates of one (pixel, event_name): a count, a sum (mean = total / count), weak ones."""

    count: int = 0
    total: float = 0.0
    weak: int = 0  # events below Meta's 6.0 target

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0


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
    emq: dict[tuple[str, str], EmqSummary] = field(default_factory=dict)  # (pixel, event_name)
    user_data_dropped: Counter[tuple[str, str]] = field(default_factory=Counter)  # (field, reason)
    version_holds: Counter[str] = field(default_factory=Counter)  # pixel: holds started
    pixel_limits: dict[str, int] = field(default_factory=dict)  # requests in flight allowed now

    @property
    def settled(self) -> int:
        return sum(self.outcomes.values())

    def outcome(self, outcome: Outcome, count: int = 1) -> None:
        self.outcomes[outcome.value] += count

    def observe_mapped(self, event: CapiEvent) -> None:
        """Count a mapped, valid event: its EMQ estimate and the user_data values it dropped."""
        self.observe_tally(tally([(None, event)]))

    def observe_tally(self, counted: Tally) -> None:
        """Add a batch's EMQ estimates and dropped values (``Processed.tally``)."""
        for key, (count, total, weak) in counted.sums.items():
            summary = self.emq.get(key)
            if summary is None:
                summary = self.emq[key] = EmqSummary()
            summary.count += count
            summary.total += total
            summary.weak += weak
        if counted.dropped:
            self.user_data_dropped.update(counted.dropped)

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
            "emq": {
                f"{pixel}/{name}": {
                    "events": emq.count,
                    "mean": round(emq.mean, 1),
                    "weak": emq.weak,
                }
                for (pixel, name), emq in sorted(self.emq.items())
            },
            "user_data_dropped": {
                f"{field}.{reason}": count
                for (field, reason), count in sorted(self.user_data_dropped.items())
            },
        }
