"""A local Event Match Quality estimate from which identifiers an event carries (capi.md §8).

Meta computes EMQ (0-10) itself and publishes no weights. This estimate only orders identifiers the
way Meta's docs rank them, so an operator can spot a weak integration without Events Manager:
- Highest (Conversion Leads spec): ``lead_id``, click id ``fbc``, hashed email ``em``;
- High: hashed phone ``ph``; best practices also name ``client_ip_address`` and ``fn``+``ln``;
- Medium: other hashed contact information (``external_id``, ``fbp``, ``db``, address, ``ge``).
It is a heuristic of presence, not a prediction of Meta's score: the number is ours.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from consumer.core.models import CapiEvent

__all__ = [
    "MAX_SCORE",
    "WEAK_BELOW",
    "WEIGHTS",
    "EmqEstimate",
    "Tally",
    "estimate",
    "score_of",
    "tally",
]

MAX_SCORE = 10.0  # Meta's scale (capi.md §8)
WEAK_BELOW = 6.0  # Meta: "aim for 6.0 or higher where possible"
WEIGHTS: dict[str, float] = {
    "em": 3.0,  # Highest
    "fbc": 2.5,  # Highest
    "lead_id": 3.0,  # Highest (Conversion Leads)
    "ph": 2.0,  # High
    "client_ip_address": 1.0,  # named high-quality by best practices
    "external_id": 1.0,  # Medium; best practices: send on every event
    "fbp": 1.0,  # Medium
    "fn": 0.5,  # fn+ln together are "high-quality"; alone they match little
    "ln": 0.5,
    "client_user_agent": 0.5,  # "may help" with the IP
    "db": 0.4,
    "zp": 0.3,
    "ct": 0.2,
    "st": 0.2,
    "country": 0.2,
    "ge": 0.1,
}
_KEY_IDENTIFIERS = ("em", "ph", "fbc", "external_id", "client_ip_address")


@dataclass(frozen=True, slots=True)
class EmqEstimate:
    """The estimated score (0-10), the identifiers it counted, and key ones that are missing."""

    score: float
    present: tuple[str, ...]
    missing: tuple[str, ...]

    @property
    def weak(self) -> bool:
        return self.score < WEAK_BELOW


def estimate(user_data: Mapping[str, Any]) -> EmqEstimate:
    """Estimate match quality from the identifiers present in ``user_data``."""
    present = tuple(key for key in WEIGHTS if user_data.get(key))
    score = min(MAX_SCORE, sum(WEIGHTS[key] for key in present))
    missing = tuple(key for key in _KEY_IDENTIFIERS if key not in present)
    return EmqEstimate(round(score, 1), present, missing)


_BY_KEYS: dict[tuple[str, ...], tuple[float, bool]] = {}
_CACHE_SIZE = 4096  # distinct sets of identifiers; a real feed has a few dozen


def score_of(user_data: Mapping[str, Any]) -> tuple[float, bool]:
    """(score, weak) of ``estimate``, which depends only on which keys hold a value: memoized."""
    # the mapper never puts an empty value in user_data: then its keys are the present ones
    values = user_data.values()
    present = tuple(user_data) if all(values) else tuple([k for k, v in user_data.items() if v])
    found = _BY_KEYS.get(present)
    if found is None:
        if len(_BY_KEYS) >= _CACHE_SIZE:
            _BY_KEYS.clear()
        score = estimate(user_data)
        found = _BY_KEYS[present] = (score.score, score.weak)
    return found


@dataclass(slots=True)
class Tally:
    """EMQ estimates summed per (pixel, event_name), and the user_data values dropped as
    (field, reason), of the events added: one per poll batch, not one update per event."""

    sums: dict[tuple[str, str], tuple[int, float, int]] = field(default_factory=dict)
    dropped: list[tuple[str, str]] = field(default_factory=list)

    def add(self, event: CapiEvent) -> None:
        """Count ``event`` (it still has its payload: the estimate reads its user_data)."""
        score, weak = score_of(event.payload.get("user_data") or {})
        key = (event.pixel_id, event.event_name)
        count, total, weaks = self.sums.get(key, (0, 0.0, 0))
        self.sums[key] = (count + 1, total + score, weaks + weak)
        if event.dropped:
            self.dropped += event.dropped


def tally(events: Iterable[tuple[object, CapiEvent]]) -> Tally:
    """The ``Tally`` of a batch of events (``Processor.process_batch`` builds its own as it goes)."""
    counted = Tally()
    for _record, event in events:
        counted.add(event)
    return counted
