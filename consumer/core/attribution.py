"""Pure construction of AppendAttribution events: ``original_event_data`` and ``attribution_data``.

AppendAttribution (2024; Meta's "AppendAttribution event parameters",
https://developers.facebook.com/documentation/ads-commerce/conversions-api/guides/append-attribution/reference)
appends the advertiser's own attribution credit to an original conversion Meta already received:
``event_name`` is the standardized ``AppendAttribution``, ``event_time`` the time the passback
was generated, ``original_event_data`` names the original event (``event_name``, ``event_time``,
``order_id``, ``event_id``: https://developers.facebook.com/documentation/ads-commerce/conversions-api/parameters/original-event)
and the passback "must be received less than 48 hours from the original event".
``attribution_data`` follows the SDK's ``AttributionData`` (26.0.3; extended in 2026 with
``touchpoint_id``, ``attribution_setting``, ``total_credit``): capi.md §2.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from consumer.core.custom_data import money
from consumer.core.fields import copy_texts, text_of

__all__ = [
    "APPEND_ATTRIBUTION",
    "ATTRIBUTION_MODELS",
    "ORIGINAL_EVENT_MAX_AGE_S",
    "attribution_data",
    "original_event_data",
]

APPEND_ATTRIBUTION = "AppendAttribution"  # "This name is standardized. Do not change it."
ORIGINAL_EVENT_MAX_AGE_S = 48 * 3600  # received less than 48 hours from the original event
# SDK attribution_model.py (26.0.3).
ATTRIBUTION_MODELS = frozenset(
    {"customized_multi_touch", "first_touch", "last_click", "last_touch", "linear"}
    | {"position_based", "time_decay", "unknown"}
)
_TEXTS = (
    "scope",
    "ad_id",
    "adset_id",
    "campaign_id",
    "attribution_model",
    "attribution_source",
    "touchpoint_type",
    "touchpoint_id",
)
_TIMES = ("visit_time", "touchpoint_ts")
_NUMBERS = ("attribution_share", "attr_window", "total_credit")
_WINDOWS = ("inactivity_window_hours", "reattribution_window_hours")


def original_event_data(
    passback: Mapping[str, Any], default_name: str, default_event_id: str, order_id: object
) -> dict[str, Any]:
    """The original event: its name and id default to what the record's original was sent as."""
    data: dict[str, Any] = {
        "event_name": text_of(passback.get("original_event_name")) or default_name,
        "event_id": text_of(passback.get("original_event_id")) or default_event_id,
    }
    seconds = _seconds(passback.get("original_event_time"))
    if seconds is not None:
        data["event_time"] = seconds
    order = text_of(passback.get("original_order_id")) or text_of(order_id)
    if order:
        data["order_id"] = order
    return data


def attribution_data(passback: Mapping[str, Any]) -> dict[str, Any]:
    """``attribution_data`` from the passback's credit fields (absent ones are left out)."""
    data: dict[str, Any] = {}
    copy_texts(passback, _TEXTS, data)
    for key in _TIMES:
        seconds = _seconds(passback.get(key))
        if seconds is not None:
            data[key] = seconds
    for key in _NUMBERS:
        value = passback.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            data[key] = value
    value = passback.get("attribution_value")
    if isinstance(value, Decimal):
        data["attribution_value"] = money(value)
    setting = {key: passback[key] for key in _WINDOWS if isinstance(passback.get(key), int)}
    if setting:
        data["attribution_setting"] = setting
    return data


def _seconds(value: object) -> int | None:
    """Unix seconds of an Avro timestamp-millis (UTC), or None."""
    if not isinstance(value, dt.datetime):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return int(value.timestamp())
