"""Pure: the request for and the answer of Meta's Dataset Quality API (Meta's own EMQ).

Request (capi.md §8; Meta's "Dataset Quality API" page,
https://developers.facebook.com/docs/marketing-api/conversions-api/dataset-quality-api, and the
``AdsPixelCAPIEMQ`` reference, .../marketing-api/reference/ads-pixel-capiemq; checked 2026-12-01)::

    GET /{version}/dataset_quality?dataset_id={pixel_id}&fields=web{event_match_quality,event_name}

Answer: ``{"web": [{"event_name": "Purchase", "event_match_quality": {"composite_score": 7.8,
"match_key_feedback": [{"identifier": "email", "coverage": {"percentage": 92.5}}, ...]}}, ...]}``.
EMQ is computed for web events only; events without a score are skipped. The token needs
``ads_read`` (plus ``ads_management`` or ``business_management``), not the CAPI token's scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["FIELDS", "EventQuality", "QualityAnswerError", "parse_answer", "request_path"]

FIELDS = "web{event_match_quality,event_name}"
# Label values come from Meta's answer, not our config: cap them so a dataset with many custom
# event names cannot blow up the metrics' cardinality.
MAX_EVENTS_PER_PIXEL = 100


class QualityAnswerError(ValueError):
    """The answer is a Graph error or not in the documented shape; ``code`` is Graph's, if any."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class EventQuality:
    """Meta's Event Match Quality for one event name of one dataset (0-10)."""

    event_name: str
    composite_score: float


def request_path(version: str) -> str:
    """The path under the Graph base URL; the query carries ``dataset_id`` and ``fields``."""
    return f"/{version}/dataset_quality"


def parse_answer(body: Any) -> list[EventQuality]:
    """The scores in a decoded JSON answer; QualityAnswerError for an error or a foreign shape."""
    if not isinstance(body, dict):
        raise QualityAnswerError("the answer is not a JSON object")
    error = body.get("error")
    if isinstance(error, dict):
        code = error.get("code") if isinstance(error.get("code"), int) else None
        raise QualityAnswerError(str(error.get("message") or "Graph error")[:200], code)
    web = body.get("web")
    if not isinstance(web, list):
        raise QualityAnswerError("the answer has no 'web' list")
    scores = [_score(item) for item in web]
    return [score for score in scores if score is not None][:MAX_EVENTS_PER_PIXEL]


def _score(item: Any) -> EventQuality | None:
    if not isinstance(item, dict) or not isinstance(item.get("event_name"), str):
        return None
    quality = item.get("event_match_quality")
    value = quality.get("composite_score") if isinstance(quality, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return EventQuality(item["event_name"], float(value))
