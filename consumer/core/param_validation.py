"""Pure validation of the parameters Meta added since 2024, before an event can join a batch.

Each rule raises ``ValidationError`` with a stable reason (consumer/reasons.py); they run after
the rules of :mod:`validation`, which lists them in its ``_CHECKS``. Sources are cited where the
fields are built: :mod:`messaging`, :mod:`app_data`, :mod:`attribution`; ``net_revenue`` is a
number in the event's currency (custom_data, capi.md §4).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import orjson

from consumer.core.app_data import EXTINFO_FIELDS, EXTINFO_VERSIONS
from consumer.core.attribution import (
    APPEND_ATTRIBUTION,
    ATTRIBUTION_MODELS,
    ORIGINAL_EVENT_MAX_AGE_S,
)
from consumer.core.messaging import ID_FIELDS, REQUIRED_IDS
from consumer.core.models import CapiEvent
from consumer.errors import ValidationError

__all__ = ["PARAM_CHECKS"]

_CURRENCY = re.compile(r"[A-Za-z]{3}")
_NUMBERS = (int, float, orjson.Fragment)
_OS_VERSION = EXTINFO_FIELDS.index("os_version")
# Chat and app identifiers go raw (capi.md §3): one that looks like a SHA-256 was hashed by mistake.
_LOOKS_HASHED = re.compile(r"[0-9A-Fa-f]{64}")


def _check_net_revenue(event: CapiEvent, _now: float, _skew: int) -> None:
    """custom_data.net_revenue is a number, and a money amount needs its currency."""
    custom: dict[str, Any] = event.payload.get("custom_data") or {}
    if "net_revenue" not in custom:
        return
    if not isinstance(custom["net_revenue"], _NUMBERS) or isinstance(custom["net_revenue"], bool):
        raise ValidationError("invalid.net_revenue", "custom_data.net_revenue must be a number")
    if not _CURRENCY.fullmatch(str(custom.get("currency", ""))):
        raise ValidationError(
            "invalid.net_revenue", "custom_data.net_revenue needs an ISO 4217 currency"
        )


def _check_messaging(event: CapiEvent, _now: float, _skew: int) -> None:
    """Business messaging events name their channel and carry that channel's identifiers."""
    if event.action_source != "business_messaging":
        return
    channel = event.payload.get("messaging_channel")
    if channel not in REQUIRED_IDS:
        raise ValidationError(
            "invalid.messaging_channel",
            "business_messaging events need messaging_channel whatsapp, messenger or instagram",
        )
    user_data: dict[str, Any] = event.payload.get("user_data") or {}
    missing = [key for key in REQUIRED_IDS[str(channel)] if not user_data.get(key)]
    if missing:
        raise ValidationError(
            "invalid.messaging_identifiers",
            f"{channel} events need user_data {' and '.join(missing)}",
        )
    hashed = _hashed(user_data, ID_FIELDS)
    if hashed:
        raise ValidationError("invalid.messaging_identifiers", f"user_data.{hashed} must be raw")


def _check_app(event: CapiEvent, _now: float, _skew: int) -> None:
    """App events carry app_data: advertiser_tracking_enabled and a complete extinfo."""
    if event.action_source != "app":
        return
    app: dict[str, Any] = event.payload.get("app_data") or {}
    if not isinstance(app.get("advertiser_tracking_enabled"), bool):
        raise ValidationError(
            "invalid.app_data", "app events need app_data.advertiser_tracking_enabled"
        )
    extinfo = app.get("extinfo")
    if not isinstance(extinfo, list) or len(extinfo) != len(EXTINFO_FIELDS):
        raise ValidationError("invalid.app_data", "app events need app_data.extinfo (16 entries)")
    if extinfo[0] not in EXTINFO_VERSIONS:
        raise ValidationError(
            "invalid.app_data", "extinfo version must be a2 (Android) or i2 (iOS)"
        )
    if not extinfo[_OS_VERSION]:
        raise ValidationError("invalid.app_data", "extinfo needs the OS version (entry 4)")
    hashed = _hashed(event.payload.get("user_data") or {}, ("anon_id", "madid"))
    if hashed:
        raise ValidationError("invalid.app_data", f"user_data.{hashed} must be raw")


def _hashed(user_data: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    """The first of ``keys`` whose value looks like a SHA-256 digest, or None."""
    for key in keys:
        value = user_data.get(key)
        if isinstance(value, str) and _LOOKS_HASHED.fullmatch(value):
            return key
    return None


def _check_original_event(event: CapiEvent, now: float, future_skew_s: int) -> None:
    """An AppendAttribution names its original event, at most 48 hours old, by id or order."""
    if event.event_name != APPEND_ATTRIBUTION:
        return
    original: dict[str, Any] = event.payload.get("original_event_data") or {}
    when = original.get("event_time")
    if not original.get("event_name") or type(when) is not int:
        raise ValidationError(
            "invalid.original_event_data",
            "AppendAttribution needs original_event_data.event_name and event_time",
        )
    if not (original.get("event_id") or original.get("order_id")):
        raise ValidationError(
            "invalid.original_event_data", "original_event_data needs an event_id or order_id"
        )
    if when > event.event_time + future_skew_s:
        raise ValidationError(
            "invalid.original_event_data", "the original event is later than its AppendAttribution"
        )
    if now - when >= ORIGINAL_EVENT_MAX_AGE_S:
        raise ValidationError(
            "invalid.original_event_too_old",
            "AppendAttribution must reach Meta within 48 hours of the original event",
        )


def _check_attribution_data(event: CapiEvent, _now: float, _skew: int) -> None:
    """An AppendAttribution carries Meta's share of the credit, 0 to 1, and a known model."""
    if event.event_name != APPEND_ATTRIBUTION:
        return
    data: dict[str, Any] = event.payload.get("attribution_data") or {}
    share = data.get("attribution_share")
    if not _fraction(share):
        raise ValidationError(
            "invalid.attribution_data", "attribution_data.attribution_share must be 0 to 1"
        )
    if "attribution_model" in data and data["attribution_model"] not in ATTRIBUTION_MODELS:
        raise ValidationError(
            "invalid.attribution_data", "attribution_data.attribution_model is not Meta's"
        )
    for key in ("attr_window", "total_credit", "attribution_value"):
        if key in data and not _non_negative(data[key]):
            raise ValidationError(
                "invalid.attribution_data", f"attribution_data.{key} must not be negative"
            )


def _fraction(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1


def _non_negative(value: object) -> bool:
    if isinstance(value, orjson.Fragment):  # a large exact amount: digits only, never negative
        return not orjson.dumps(value).startswith(b"-")
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def _check_params(event: CapiEvent, now: float, future_skew_s: int) -> None:
    """Only the rules that apply to this event: most events carry none of these parameters."""
    if event.action_source == "business_messaging":
        _check_messaging(event, now, future_skew_s)
    elif event.action_source == "app":
        _check_app(event, now, future_skew_s)
    if event.event_name == APPEND_ATTRIBUTION:
        _check_original_event(event, now, future_skew_s)
        _check_attribution_data(event, now, future_skew_s)
    custom = event.payload.get("custom_data")
    if custom and "net_revenue" in custom:
        _check_net_revenue(event, now, future_skew_s)


# One entry for validation's rule list: a dispatch costs one call per event, not five.
PARAM_CHECKS: tuple[Callable[[CapiEvent, float, int], None], ...] = (_check_params,)
