"""The emulator's Dataset Quality API answer: an EMQ computed from what it accepted (pure).

``GET /{version}/dataset_quality?dataset_id=...&fields=web{event_match_quality,event_name}``
answers in Meta's shape (capi.md §8): ``{"web": [{"event_name", "event_match_quality":
{"composite_score", "match_key_feedback": [{"identifier", "coverage": {"percentage"}}]}}]}``.

Meta publishes no formula, so the emulator uses its own, independent of the consumer's estimate:
per event name, the coverage of each identifier among the accepted **website** events (Meta
scores web events only), weighted and summed, capped at 10. It is a test double's number, good
for checking the plumbing (polling, gauges, dashboards), not a prediction of Meta's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

__all__ = ["IDENTIFIERS", "quality_answer"]

# user_data key -> (Meta's identifier name in match_key_feedback, weight per 100% coverage);
# the weights add up to 10: every identifier on every event scores 10.
IDENTIFIERS: dict[str, tuple[str, float]] = {
    "em": ("email", 2.5),
    "ph": ("phone", 1.5),
    "fbc": ("click_id", 1.5),
    "fbp": ("browser_id", 1.0),
    "external_id": ("external_id", 1.0),
    "client_ip_address": ("ip_address", 0.75),
    "client_user_agent": ("user_agent", 0.5),
    "fn": ("first_name", 0.25),
    "ln": ("last_name", 0.25),
    "zp": ("zip", 0.25),
    "ct": ("city", 0.1),
    "st": ("state", 0.1),
    "country": ("country", 0.1),
    "db": ("date_of_birth", 0.1),
    "ge": ("gender", 0.1),
}
_MAX = 10.0


def quality_answer(events: Iterable[Mapping[str, object]]) -> dict[str, object]:
    """The answer body for one dataset's accepted events."""
    by_name: dict[str, list[Mapping[str, object]]] = defaultdict(list)
    for event in events:
        name = event.get("event_name")
        if event.get("action_source") == "website" and isinstance(name, str):
            user_data = event.get("user_data")
            by_name[name].append(user_data if isinstance(user_data, Mapping) else {})
    return {"web": [_entry(name, users) for name, users in sorted(by_name.items())]}


def _entry(name: str, users: list[Mapping[str, object]]) -> dict[str, object]:
    feedback, score = [], 0.0
    for key, (identifier, weight) in IDENTIFIERS.items():
        share = sum(1 for user in users if user.get(key)) / len(users)
        if share:
            feedback.append(
                {"identifier": identifier, "coverage": {"percentage": round(share * 100, 1)}}
            )
            score += weight * share
    return {
        "event_name": name,
        "event_match_quality": {
            "composite_score": round(min(_MAX, score), 1),
            "match_key_feedback": feedback,
        },
    }
